"""What an examiner does with exams, each scoped to the exams the caller is a member of: another
exam does not exist for them (404; `db.exams.exam_of`), and their role decides what they may do
with their own (403 role-forbids). Every change appends its event to the exam's audit log, last
in its transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
# `db.attempts` and `db.exam_deletion` are the exceptions: the functions that update or delete an
# exam import theirs in their app.py (loaded at their init), and the others never load them.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exam_counts
import exam_depository.adapters.db.exams  # noqa: F401
from exam_depository.adapters import db, scheduler
from exam_depository.adapters.scheduler import WakeSettings
from exam_depository.config import ExportSettings, RulesSettings, StorageSettings, load
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import AuditAction, Event, Json, SignCheckpoint, difference, member_actor
from exam_depository.domain.errors import Conflict, InvalidInput, ServiceUnavailable
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import (
    Window,
    order_refusal,
    pdf_check_refusal,
    window_length_refusal,
    window_refusal,
)
from exam_depository.domain.wakes import Moment, schedule_name, wake_plan
from exam_depository.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:  # the routes' bodies, validated by create_exam's and update_exam's app.py: the
    # exam's other functions do not load the inputs' nine models (about 2 ms of their cold start);
    # and the listing's page (loaded by list_exams' app.py)
    from exam_depository.domain import cursors
    from exam_depository.domain.exam_changes import ExamChange
    from exam_depository.domain.exam_inputs import ExamIn

MAX_PAGE = 100


def create_exam(caller: Caller, new: ExamIn) -> db.exam_counts.CountedExamRow:
    _check_window(Window(new.opens_at, new.due_at, new.cutoff_at), earliest_file=None)
    with db.transaction() as conn:
        examiner_id = db.exams.examiner_for_key(conn, caller.api_key_id)
        db.exams.insert_exam(conn, examiner_id, new.model_dump())
        created = db.exam_counts.counted_exam_of(conn, caller.api_key_id, new.exam_id, action=Action.EXAM_READ)
        event = Event(member_actor(created, caller), AuditAction.EXAM_CREATED, "exam", after=_recorded(created))
        db.audit.append(conn, created.exam_pk, [event])
    _keep_wakes(created.exam_pk, created.window)
    return created


def list_exams(caller: Caller, limit: int, cursor: str | None) -> cursors.Page[db.exam_counts.CountedExamRow]:
    from exam_depository.domain import cursors  # the listing function's alone (its app.py loads it at init)

    after_id = cursors.after(cursor, limit, MAX_PAGE)
    with db.transaction() as conn:
        rows = db.exam_counts.exam_page(conn, caller.api_key_id, after_id, limit + 1)
    return cursors.page_of(rows, limit, lambda row: row.exam_pk)


def get_exam(caller: Caller, exam_id: str) -> db.exam_counts.CountedExamRow:
    with db.transaction() as conn:
        return db.exam_counts.counted_exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_READ)


def update_exam(caller: Caller, exam_id: str, change: ExamChange) -> db.exam_counts.CountedExamRow:
    """Change what is given; a new window takes effect for forms issued from now on, and files
    already handed in are kept until the new cut-off says if that is later. A new duration moves
    every started student's clock at once, as a new window does; but whether the exam is timed
    is settled once it opens, and its opening once a student started."""
    changes = change.model_dump(exclude_unset=True)
    with db.transaction() as conn:
        row = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_UPDATE, lock=True)
        _check_timing(conn, row, changes)
        times = {"opens_at": row.opens_at, "due_at": row.due_at, "cutoff_at": row.cutoff_at} | {
            name: value for name, value in changes.items() if name.endswith("_at")
        }
        window = Window(times["opens_at"], times["due_at"], times["cutoff_at"])
        disorder = order_refusal(window)
        if disorder is not None:
            raise InvalidInput(disorder[0].upper() + disorder[1:] + ".", extra=times)
        moved = window != row.window
        if moved:
            earliest_file = db.exams.earliest_submission(conn, row.exam_pk)
            _check_window(window, earliest_file=earliest_file)
            # The extensions' cut-offs must stay within reach of the opening too.
            latest = db.exams.latest_extension_cutoff(conn, row.exam_pk)
            if latest is not None and latest > window.cutoff_at:
                too_long = window_length_refusal(
                    window.opens_at,
                    latest,
                    max_window_days=load(RulesSettings).max_window_days,
                    earliest_file=earliest_file,
                )
                if too_long is not None:
                    raise too_long
        pdfs = pdf_check_refusal(
            changes.get("accepted_types", row.accepted_types), changes.get("check_pdfs", row.check_pdfs)
        )
        if pdfs is not None:  # the change and what it keeps, together (each alone was checked by ExamChange)
            raise InvalidInput(pdfs + ".")
        if changes.get("anonymous", row.anonymous) != row.anonymous and db.exams.earliest_submission(conn, row.exam_pk):
            # Receipts already issued name the student as the exam did then, and cannot be changed.
            raise Conflict(
                "Files were handed in already: their receipts name students as the exam did then. "
                "Anonymity can only change before the first file is handed in."
            )
        if "max_attempts" in changes:
            # The update function's alone (its app.py loads them at init).
            from exam_depository.domain.attempt_limits import LimitChange, limit_refusal

            refusal = limit_refusal(
                [
                    LimitChange(
                        used.nickname,
                        used.attempts_used,
                        row.max_attempts + used.extra_attempts,
                        changes["max_attempts"] + used.extra_attempts,
                    )
                    for used in db.attempts.attempts_used(conn, row.exam_pk)
                ]
            )
            if refusal is not None:
                raise refusal
        if changes:
            db.exams.update_exam(conn, row.exam_pk, changes)
        if moved:
            db.exams.lock_students(conn, row.exam_pk)  # a recording in flight read the old cut-off: it commits first
            db.exams.keep_until_cutoff(conn, row.exam_pk, load(RulesSettings).retention_days)
        updated = db.exam_counts.counted_exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_UPDATE)
        before, after = difference(_recorded(row), _recorded(updated))
        if after is not None:  # a change to the same values changes nothing worth a record
            event = Event(member_actor(row, caller), AuditAction.EXAM_UPDATED, "exam", before=before, after=after)
            db.audit.append(conn, row.exam_pk, [event])
    # Whatever changed: a change that moved nothing puts the same wakes again, which mends a
    # wake an earlier change failed to schedule.
    _keep_wakes(updated.exam_pk, updated.window)
    return updated


def _check_timing(conn: db.Connection, row: db.exams.ExamRow, changes: dict[str, Any]) -> None:
    """Refuse what would change a timed exam under its students: making it timed or untimed once
    it opened (students handed in on the whole window, or started a clock, under the rule then),
    and moving its opening once one started (a start is never before the opening)."""
    toggles = "duration_minutes" in changes and (changes["duration_minutes"] is None) != (row.duration_minutes is None)
    if toggles and datetime.now(UTC) >= row.opens_at:
        raise Conflict(
            "The exam has opened: whether it is timed can no longer change (its duration still can).",
            extra={"opens_at": row.opens_at},
        )
    if changes.get("opens_at", row.opens_at) != row.opens_at and db.exams.any_started(conn, row.exam_pk):
        raise Conflict(
            "A student has started their attempt: the exam's opening can no longer move.",
            extra={"opens_at": row.opens_at},
        )


def close_exam(caller: Caller, exam_id: str, *, checkpoint: SignCheckpoint) -> db.exam_counts.CountedExamRow:
    """End the window now, for every student, extensions included (after a leak): no form is
    issued any more, and forms issued earlier stop counting, since the recorder rejects what S3
    accepts after the cut-off in force. An exam already closed stays as it is. Once committed, the
    audit log's head is signed (`checkpoint`, handed in by the one function that may sign); a
    failure there leaves the exam closed (the expiry job signs an exam past its cut-off that has
    no closing checkpoint)."""
    with db.transaction() as conn:
        row = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_CLOSE, lock=True)
        # Recordings in flight commit first, and their files were accepted before the instant
        # taken next; later ones read the new cut-off. To the microsecond: what S3 accepted a
        # moment before is in the window.
        db.exams.lock_students(conn, row.exam_pk)
        now = datetime.now(UTC)
        db.exams.close_exam(conn, row.exam_pk, now)
        closed = db.exam_counts.counted_exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_CLOSE)
        before, after = difference(_recorded(row), _recorded(closed))
        event = Event(member_actor(row, caller), AuditAction.EXAM_CLOSED, "exam", before=before, after=after)
        db.audit.append(conn, row.exam_pk, [event])
    logger.info("Exam closed", extra={"exam_id": exam_id})
    try:
        checkpoint(closed.exam_pk, "closed")
    except ServiceUnavailable as exc:
        logger.warning("The closed exam's audit checkpoint was not signed", extra={"cause": str(exc)})
    _keep_wakes(closed.exam_pk, closed.window)
    return closed


def delete_exam(caller: Caller, exam_id: str) -> None:
    """Remove the exam's files, its exports' ZIPs, its question papers and its rows together: if
    S3 fails, the rows stay and a retry finishes the job. Its students' row locks keep the recorder
    out meanwhile, and so does the exam's own lock when it records a paper; its exports' row locks
    a builder that is completing a ZIP (which then finds its export gone and aborts). Every version
    goes, so a link to an export handed out earlier fails (404).

    The exam's audit log goes with it but for its last event, the deletion's record (who, when, what
    it held), appended before the rows go: it outlives the exam (`AuditRetentionDays`), chained to
    the log's head so that a log downloaded earlier can be matched to it."""
    storage_settings = load(StorageSettings)
    # The deleting function's alone (its app.py loads them at init).
    from exam_depository.adapters import storage
    from exam_depository.domain.filenames import upload_folder

    with db.transaction() as conn:
        row = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXAM_DELETE, lock=True)
        keys = db.exam_deletion.lock_exam_students(conn, row.exam_pk)
        db.exam_deletion.lock_exam_exports(conn, row.exam_pk)
        exam_prefix = f"{storage_settings.prefix}{row.exam_pk}/"
        exports_prefix = f"{load(ExportSettings).prefix}{row.exam_pk}/"
        papers_prefix = f"{storage_settings.papers_prefix}{row.exam_pk}/"
        # Keys made before exams (the legacy exam's) are not under the exam's prefix: their own folders.
        folders = sorted({upload_folder(key) for key in keys if not key.startswith(exam_prefix)})
        storage.delete_everything_under([exam_prefix, exports_prefix, papers_prefix, *folders])
        held = db.exam_deletion.deletion_counts(conn, row.exam_pk)
        tombstone = Event(
            member_actor(row, caller),
            AuditAction.EXAM_DELETED,
            "exam",
            before={"title": row.title, "opens_at": rfc3339(row.opens_at), "cutoff_at": rfc3339(row.cutoff_at)},
            after={
                "students": held.students,
                "files": held.files,
                "exports": held.exports,
                "papers": held.papers,
                # Every event before this one goes with the exam.
                "events_removed": db.audit.head(conn, row.exam_pk).seq,
            },
        )
        db.audit.append(conn, row.exam_pk, [tombstone])
        db.exam_deletion.delete_exam(conn, row.exam_pk)
        db.audit.forget_deleted_exam(conn, row.exam_pk)
    _keep_wakes(row.exam_pk, None)


def wake_database(exam_pk: int, moment: Moment) -> None:
    """Use the database once, so that one paused since the last request resumes before an exam's
    moment (the wake schedules of `_keep_wakes` invoke this)."""
    with db.transaction() as conn:
        db.exams.wake(conn)
    logger.info("Database woken before an exam's moment", extra={"exam_pk": exam_pk, "moment": moment})


def _recorded(exam: db.exams.ExamRow) -> dict[str, Json]:
    """What the audit log records of an exam's settings (instants as RFC 3339)."""
    return {
        "title": exam.title,
        "opens_at": rfc3339(exam.opens_at),
        "due_at": rfc3339(exam.due_at),
        "cutoff_at": rfc3339(exam.cutoff_at),
        "timezone": exam.timezone,
        "max_attempts": exam.max_attempts,
        "anonymous": exam.anonymous,
        "duration_minutes": exam.duration_minutes,
        "accepted_types": list(exam.accepted_types),
        "check_pdfs": exam.check_pdfs,
        "email_receipts": exam.email_receipts,
        "language": exam.language,
    }


def _check_window(window: Window, *, earliest_file: datetime | None) -> None:
    """Refuse a window no one could hand in to, or one longer than the storage keeps files for."""
    refusal = window_refusal(
        window, now=datetime.now(UTC), max_window_days=load(RulesSettings).max_window_days, earliest_file=earliest_file
    )
    if refusal is not None:
        raise refusal


def _keep_wakes(exam_pk: int, window: Window | None) -> None:
    """Make the exam's pending wakes what `wake_plan` says for its committed window (None: the
    exam is gone). Called after the change committed, and never failing it: the exam is saved
    whatever Scheduler answers. Wakes that could not be put are logged and counted
    (WakeScheduleFailures); the exam's next change puts them again, and without it the first
    student waits for the database to resume, as after any quiet night."""
    settings = load(WakeSettings)
    if settings.schedule_group is None:
        return  # no Scheduler here (the local stack)
    plan = list(wake_plan(window, now=datetime.now(UTC), lead=timedelta(minutes=settings.lead_minutes)).items())
    for done, (moment, at) in enumerate(plan):
        name = schedule_name(exam_pk, moment)
        try:
            if at is None:
                scheduler.delete_wake(name)
            else:
                scheduler.put_wake(name, at, {"exam_pk": exam_pk, "moment": moment})
        except scheduler.WakeRefused as exc:
            # This wake only (its time passed while the call travelled, say): the next moment's
            # wake is still worth putting.
            _wakes_not_changed([name], exc)
        except ServiceUnavailable as exc:
            # Scheduler cannot be reached or is throttling: the other wakes are not tried, so
            # that the examiner's answer waits for one failed call only.
            _wakes_not_changed([schedule_name(exam_pk, left) for left, _ in plan[done:]], exc)
            return


def _wakes_not_changed(names: list[str], cause: Exception) -> None:
    logger.warning(
        "Wake schedules were not changed; the exam's next change puts them again",
        extra={"schedules": names, "cause": str(cause)},
    )
    metrics.add_metric(name="WakeScheduleFailures", unit=MetricUnit.Count, value=len(names))
