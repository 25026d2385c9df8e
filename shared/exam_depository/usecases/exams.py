"""What examiners do with exams, each scoped to the API key that calls: another examiner's exam
does not exist for them (404, never 403). And the two ops commands on owners."""

from __future__ import annotations

from datetime import UTC, datetime

from exam_depository.adapters import db, storage
from exam_depository.api.models import Exam, ExamCounts, ExamPage
from exam_depository.config import ExportSettings, RulesSettings, StorageSettings, load
from exam_depository.domain import cursors
from exam_depository.domain.errors import InvalidInput, NotFound
from exam_depository.domain.filenames import upload_folder
from exam_depository.domain.inputs import ExamChange, ExamIn
from exam_depository.domain.rules import LimitChange, Window, expiry_of, limit_refusal, order_refusal, window_refusal
from exam_depository.observability import logger

MAX_PAGE = 100
NO_EXAM = "You have no exam with this id."


def create_exam(api_key_id: str, new: ExamIn) -> Exam:
    check_window(Window(new.opens_at, new.due_at, new.cutoff_at), earliest_file=None)
    with db.transaction() as conn:
        examiner_id = db.exams.examiner_for_key(conn, api_key_id)
        db.exams.insert_exam(conn, examiner_id, new.model_dump())
        row = db.exams.counted_exam_of(conn, api_key_id, new.exam_id)
    assert row is not None  # just inserted, in this transaction
    return exam_view(row)


def list_exams(api_key_id: str, limit: int, cursor: str | None) -> ExamPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    after_id = cursors.decode(cursor) if cursor else 0
    with db.transaction() as conn:
        rows = db.exams.exam_page(conn, api_key_id, after_id, limit + 1)
    next_cursor = cursors.encode(rows[limit - 1].exam_pk) if len(rows) > limit else None
    return ExamPage(items=[exam_view(row) for row in rows[:limit]], next_cursor=next_cursor)


def get_exam(api_key_id: str, exam_id: str) -> Exam:
    with db.transaction() as conn:
        return exam_view(counted_exam_row(conn, api_key_id, exam_id))


def update_exam(api_key_id: str, exam_id: str, change: ExamChange) -> Exam:
    """Change what is given; a new window takes effect for forms issued from now on, and files
    already handed in are kept until the new cut-off says if that is later."""
    changes = change.model_dump(exclude_unset=True)
    with db.transaction() as conn:
        row = exam_row(conn, api_key_id, exam_id, lock=True)
        times = {"opens_at": row.opens_at, "due_at": row.due_at, "cutoff_at": row.cutoff_at} | {
            name: value for name, value in changes.items() if name.endswith("_at")
        }
        window = Window(times["opens_at"], times["due_at"], times["cutoff_at"])
        disorder = order_refusal(window)
        if disorder is not None:
            raise InvalidInput(disorder[0].upper() + disorder[1:] + ".", extra=times)
        moved = window != row.window
        if moved:
            check_window(window, earliest_file=db.exams.earliest_submission(conn, row.exam_pk))
        if "max_attempts" in changes:
            refusal = limit_refusal(
                [
                    LimitChange(
                        used.nickname,
                        used.attempts_used,
                        row.max_attempts + used.extra_attempts,
                        changes["max_attempts"] + used.extra_attempts,
                    )
                    for used in db.exams.attempts_used(conn, row.exam_pk)
                ]
            )
            if refusal is not None:
                raise refusal
        if changes:
            db.exams.update_exam(conn, row.exam_pk, changes)
        if moved:
            db.exams.lock_students(conn, row.exam_pk)  # a recording in flight read the old cut-off: it commits first
            db.exams.keep_until_cutoff(conn, row.exam_pk, load(RulesSettings).retention_days)
        updated = counted_exam_row(conn, api_key_id, exam_id)
    return exam_view(updated)


def close_exam(api_key_id: str, exam_id: str) -> Exam:
    """End the window now, for every student, extensions included (after a leak): no form is
    issued any more, and forms issued earlier stop counting, since the recorder rejects what S3
    accepts after the cut-off in force. An exam already closed stays as it is."""
    with db.transaction() as conn:
        row = exam_row(conn, api_key_id, exam_id, lock=True)
        # Recordings in flight commit first, and their files were accepted before the instant
        # taken next; later ones read the new cut-off. To the microsecond: what S3 accepted a
        # moment before is in the window.
        db.exams.lock_students(conn, row.exam_pk)
        now = datetime.now(UTC)
        db.exams.close_exam(conn, row.exam_pk, now)
        closed = counted_exam_row(conn, api_key_id, exam_id)
    logger.info("Exam closed", extra={"exam_id": exam_id})
    return exam_view(closed)


def delete_exam(api_key_id: str, exam_id: str) -> None:
    """Remove the exam's files, its exports' ZIPs and its rows together: if S3 fails, the rows
    stay and a retry finishes the job. Its students' row locks keep the recorder out meanwhile,
    its exports' row locks a builder that is completing a ZIP (which then finds its export gone
    and aborts). Every version goes, so a link to an export handed out earlier fails (404)."""
    prefix = load(StorageSettings).prefix
    with db.transaction() as conn:
        row = exam_row(conn, api_key_id, exam_id, lock=True)
        keys = db.exams.lock_exam_students(conn, row.exam_pk)
        db.exams.lock_exam_exports(conn, row.exam_pk)
        exam_prefix = f"{prefix}{row.exam_pk}/"
        exports_prefix = f"{load(ExportSettings).prefix}{row.exam_pk}/"
        # Keys made before exams (the legacy exam's) are not under the exam's prefix: their own folders.
        folders = sorted({upload_folder(key) for key in keys if not key.startswith(exam_prefix)})
        storage.delete_everything_under([exam_prefix, exports_prefix, *folders])
        db.exams.delete_exam(conn, row.exam_pk)


def check_window(window: Window, *, earliest_file: datetime | None) -> None:
    """Refuse a window no one could hand in to, or one longer than the storage keeps files for
    (an exam's, or a student's with an extension)."""
    refusal = window_refusal(
        window,
        now=datetime.now(UTC),
        max_window_days=load(RulesSettings).max_window_days,
        earliest_file=earliest_file,
    )
    if refusal is not None:
        raise refusal


def exam_row(conn: db.Connection, api_key_id: str, exam_id: str, *, lock: bool = False) -> db.exams.ExamRow:
    row = db.exams.exam_of(conn, api_key_id, exam_id, lock=lock)
    if row is None:
        raise NotFound(NO_EXAM)
    return row


def counted_exam_row(conn: db.Connection, api_key_id: str, exam_id: str) -> db.exams.CountedExamRow:
    row = db.exams.counted_exam_of(conn, api_key_id, exam_id)
    if row is None:
        raise NotFound(NO_EXAM)
    return row


def exam_view(row: db.exams.CountedExamRow) -> Exam:
    # Until a file is handed in, when one handed in by the cut-off would be deleted.
    first_expiry = row.first_expiry or expiry_of(row.cutoff_at, row.cutoff_at, load(RulesSettings).retention_days)
    return Exam(
        exam_id=row.exam_id,
        title=row.title,
        opens_at=row.opens_at,
        due_at=row.due_at,
        cutoff_at=row.cutoff_at,
        timezone=row.timezone,
        max_attempts=row.max_attempts,
        anonymous=row.anonymous,
        created_at=row.created_at,
        files_deleted_from=first_expiry,
        counts=ExamCounts(
            students=row.students, handed_in=row.handed_in, late=row.late, none_yet=row.students - row.handed_in
        ),
    )


# --- ops: owners ------------------------------------------------------------------------------


def assign_exam(exam_id: str, api_key_id: str) -> int:
    """Give an exam that belongs to no one (the legacy exam of an upgrade) to the examiner of an
    API key (a key never used yet becomes a new examiner); returns how many exams moved."""
    with db.transaction() as conn:
        moved = db.exams.assign_exam(conn, exam_id, db.exams.examiner_for_key(conn, api_key_id))
    if not moved:
        raise NotFound(f"No unowned exam has the id {exam_id}.")
    return moved


def link_key(new_api_key_id: str, existing_api_key_id: str) -> None:
    """A rotated key: the new key's examiner is the old key's, so their exams stay theirs."""
    with db.transaction() as conn:
        examiner_id = db.exams.known_examiner(conn, existing_api_key_id)
        if examiner_id is None:
            raise NotFound("The existing key belongs to no examiner yet: it never created an exam.")
        db.exams.link_key(conn, new_api_key_id, examiner_id)
