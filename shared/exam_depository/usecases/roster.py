"""What examiners do with an exam's roster: create, import, list, search, download, look up,
delete students, give a new upload code, give extensions and accommodations (extra time). Every
function is scoped to an exam the caller is a member of, and to what their role may do and see
(`domain.access`). Every change appends its event to the exam's audit log, last in its
transaction, and so does every answer that discloses upload codes, or that pairs names with
pseudonyms in an anonymous exam; the log names students by pseudonym only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
# `db.extensions`, `db.attempts`, `db.student_pages`, `db.student_details`, `db.student_deletion`
# and `db.suppressions` are the exceptions: the functions that change extensions or extra time, list
# the roster, show a student, delete one or add students (whose addresses are checked against the
# suppressed ones) import theirs in their app.py (loaded at their init), and the roster's other
# functions never load them.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.students  # noqa: F401
from exam_depository.adapters import db
from exam_depository.config import RulesSettings, load
from exam_depository.domain import codes
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import AuditAction, Event, Json, difference, member_actor
from exam_depository.domain.disclosure import Disclosure, disclosure
from exam_depository.domain.errors import AddressSuppressed, Conflict, InvalidInput, InvalidQuery, NotFound
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import (
    Window,
    extension_cutoff,
    extension_refusal,
    window_refusal,
)
from exam_depository.observability import logger

if TYPE_CHECKING:
    from exam_depository.domain import cursors
    from exam_depository.domain.attempt_limits import LimitChange
    from exam_depository.domain.inputs import AccommodationIn, ExtensionIn, StudentIn
    from exam_depository.domain.roster import RosterRow

MAX_PAGE = 500
NO_STUDENT = "The exam has no student with this nickname."
StudentFilter = str | None  # None, "handed_in", "late" or "none"


def create_student(caller: Caller, exam_id: str, new: StudentIn) -> db.students.StudentRow:
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_ADD)
        if new.email is not None:
            from exam_depository.domain.addresses import normalized_address
            from exam_depository.domain.mail import suppressed_sentence

            suppressed = db.suppressions.suppression(conn, normalized_address(new.email))
            if suppressed is not None:
                raise AddressSuppressed(suppressed_sentence(suppressed.reason, suppressed.since, suppressed.detail))
        (row,) = _inserted(conn, exam.exam_pk, [new])
        added = Event(
            member_actor(exam, caller),
            AuditAction.STUDENT_ADDED,
            _student(row.pseudonym),
            after={"pseudonym": row.pseudonym},
            subjects=(row.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [added])
    return row


@dataclass(frozen=True)
class RosterImport:
    """What a roster's import did: the students it created, and those already in the exam."""

    created: list[db.students.StudentRow]
    existing: list[db.students.StudentRow]  # in the exam already, with the same names
    # Rows whose address another student has (allowed, and shown): {"line", "field", "message"}.
    warnings: list[dict[str, object]] = field(default_factory=list)


def import_roster(caller: Caller, exam_id: str, body: bytes) -> RosterImport:
    """Create every new student of a CSV roster in one transaction, or none. A row whose nickname
    is in the exam with the same names is reported in `existing`; one that clashes with another
    student is an error. An address another student has (in the file or in the exam) is allowed
    and reported in `warnings`, by line."""
    # Loaded here, not at import: the CSV parsers and the input models they validate with are
    # the import functions' alone, and building those models is most of the other functions' init.
    from exam_depository.domain.addresses import normalized_address
    from exam_depository.domain.roster import parse_roster, shared_address_warnings

    rows = parse_roster(body)
    addresses = {
        row.student.email: normalized_address(row.student.email) for row in rows if row.student.email is not None
    }
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_ADD)
        known = db.students.students_by_nicknames_or_emails(
            conn,
            exam.exam_pk,
            [row.student.nickname for row in rows],
            # as written and as sent: an address stored either way is found
            sorted({*addresses, *addresses.values()}),
        )
        by_nickname = {student.nickname.lower(): student for student in known}
        existing, to_create, clashes = [], [], []
        for row in rows:
            same = by_nickname.get(row.student.nickname.lower())
            if same is not None and (same.first_name, same.last_name) == (
                row.student.first_name,
                row.student.last_name,
            ):
                existing.append(same)
            elif same is not None:
                clashes.append(
                    {"line": row.line, "field": "nickname", "message": "nickname already used by another student"}
                )
            else:
                to_create.append(row.student)
        if clashes:
            raise Conflict(f"{len(clashes)} row(s) clash with students of the exam; nothing was created.", clashes)
        _refuse_suppressed(conn, rows, addresses)
        created = _inserted(conn, exam.exam_pk, to_create) if to_create else []
        imported = Event(
            member_actor(exam, caller),
            AuditAction.STUDENTS_IMPORTED,
            "students",
            after={"created": len(created), "existing": len(existing)},
            subjects=tuple(row.pseudonym for row in created),
        )
        db.audit.append(conn, exam.exam_pk, [imported])
    in_exam = {_address(student.email): student.nickname for student in known if student.email}
    return RosterImport(created, existing, shared_address_warnings(rows, in_exam))


def _refuse_suppressed(conn: db.Connection, rows: Sequence[RosterRow], addresses: dict[str, str]) -> None:
    """A roster that gives an address nothing can be sent to (it bounced hard or complained) is
    refused, every such row named by line, as the route that adds one student refuses it: the
    examiner gives another address or none, and no student waits on a dead one."""
    from exam_depository.domain.mail import suppressed_sentence

    dead = db.suppressions.suppressions(conn, addresses.values())
    refused: list[dict[str, object]] = []
    for row in rows:
        why = dead.get(addresses[row.student.email]) if row.student.email is not None else None
        if why is not None:
            refused.append(
                {"line": row.line, "field": "email", "message": suppressed_sentence(why.reason, why.since, why.detail)}
            )
    if refused:
        raise AddressSuppressed(
            f"{len(refused)} row(s) give an address that cannot be mailed; nothing was created.", refused
        )


def _address(email: str) -> str:
    """A stored address as mail goes to it; one stored before addresses were checked as they are
    now, and refused by the check, compares as written (lower-cased)."""
    from exam_depository.domain.addresses import normalized_address

    try:
        return normalized_address(email)
    except ValueError:
        return email.strip().lower()


def list_students(
    caller: Caller, exam_id: str, limit: int, cursor: str | None, *, status: StudentFilter, search: str | None
) -> cursors.Page[db.student_pages.StudentPageRow]:
    """A page of the roster, or of the students a search finds (`domain.search`), one statement
    whatever its size, each row's JSON written by the database as of now
    (`views.student_page_json` joins them). A cursor serves only the status and search it came
    from."""
    # Loaded here (and by the function's app.py at its init): the page's cursors and search are
    # the listing function's alone.
    from exam_depository.domain import cursors
    from exam_depository.domain.search import search_terms

    terms = search_terms(search) if search is not None else None
    scope = cursors.scope_of({"status": status, "search": terms})
    after_id = cursors.after(cursor, limit, MAX_PAGE, scope)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.ROSTER_READ)
        # The page's disclosure is appended by the page's own statement: its count and students
        # are the page's items (the row past them only tells whether there is a next page).
        rows = db.student_pages.student_page(
            conn,
            exam,
            after_id,
            limit + 1,
            status=status,
            terms=terms,
            now=datetime.now(UTC),
            shown=_shown(exam),
            disclosures=_disclosures(exam, caller, "students"),
            disclosed_rows=limit,
        )
        return cursors.page_of(rows, limit, lambda row: row.id, scope)


def roster_download(
    caller: Caller, exam_id: str, search: str | None = None
) -> tuple[db.exams.ExamRow, list[db.students.StudentRow]]:
    """The whole roster with upload codes, for a mail merge (`views.roster_csv` writes it): a
    search is refused, so that a download is never taken for the whole roster when it is not."""
    if search is not None:
        raise InvalidQuery("The CSV download is the whole roster: ask for it without q.")
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.ROSTER_DOWNLOAD)
        students = db.students.roster(conn, exam.exam_pk)
        _record_disclosure(conn, exam, caller, "students", [row.pseudonym for row in students])
        return exam, students


def get_student(
    caller: Caller, exam_id: str, nickname: str
) -> tuple[db.exams.ExamRow, db.student_details.StudentDetailRow]:
    """A student with every file they handed in. A member shown no names (a grader of an
    anonymous exam) names the student by pseudonym, in the path as in the answer."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.ROSTER_READ)
        if _shown(exam).names:
            row = db.student_details.student_detail(conn, exam.exam_pk, nickname)
        else:
            row = db.student_details.student_detail(conn, exam.exam_pk, _pseudonym(nickname), by_pseudonym=True)
        if row is None:
            raise NotFound(NO_STUDENT)
        _record_disclosure(conn, exam, caller, _student(row.pseudonym), [row.pseudonym])
    return exam, row


def regenerate_upload_code(caller: Caller, exam_id: str, nickname: str) -> db.students.StudentRow:
    """A new upload code for a student whose code leaked: from the commit on, the old one finds
    no one (404 on both of a student's routes). A form issued with it before still records, as
    any issued form does: its object's key names the upload, never the code, and the recorder
    finds the student by the upload."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_NEW_CODE)
        row = db.students.replace_upload_code(conn, exam.exam_pk, nickname, codes.new_code())
        if row is None:
            raise NotFound(NO_STUDENT)
        regenerated = Event(
            member_actor(exam, caller),
            AuditAction.STUDENT_CODE_REGENERATED,
            _student(row.pseudonym),
            after={"code": codes.redact(row.upload_code)},
            subjects=(row.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [regenerated])
    logger.info("Upload code regenerated", extra={"exam_id": exam_id, "upload_code": codes.redact(row.upload_code)})
    return row


def delete_student(caller: Caller, exam_id: str, nickname: str) -> None:
    """Remove the student's files and rows together: if S3 fails, the rows stay and a retry
    finishes the job. The student's row lock keeps the recorder out meanwhile."""
    # Loaded here (and by the function's app.py at its init): S3 and the files' folders are the
    # deleting function's alone among the roster's.
    from exam_depository.adapters import storage
    from exam_depository.domain.filenames import upload_folder

    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_DELETE)
        found = db.student_deletion.lock_student_for_deletion(conn, exam.exam_pk, nickname)
        if found is None:
            raise NotFound(NO_STUDENT)
        db.student_deletion.delete_student(conn, found.id)
        storage.delete_everything_under(sorted({upload_folder(key) for key in found.keys}))
        removed = Event(
            member_actor(exam, caller),
            AuditAction.STUDENT_REMOVED,
            _student(found.pseudonym),
            before={"submissions": found.submissions},
            subjects=(found.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [removed])


def set_extension(
    caller: Caller, exam_id: str, nickname: str, extension: ExtensionIn
) -> tuple[db.exams.ExamRow, db.students.StudentSummaryRow]:
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXTENSION_CHANGE, lock=True)
        due, cutoff = _checked_times(exam, extension, db.exams.earliest_submission(conn, exam.exam_pk))
        _check_limit(conn, exam, nickname, extension.extra_attempts)
        values = {"nickname": nickname, "due_at": due, "cutoff_at": cutoff, "extra_attempts": extension.extra_attempts}
        changes = db.extensions.set_extensions(conn, exam.exam_pk, [values])
        if not changes:
            raise NotFound(NO_STUDENT)
        db.exams.keep_until_cutoff(conn, exam.exam_pk, load(RulesSettings).retention_days)
        (row,) = db.students.student_summaries(conn, exam.exam_pk, [nickname])  # updated in this transaction
        (change,) = changes
        before, after = difference(_extension_was(change), _extension_is(change))
        set_event = Event(
            member_actor(exam, caller),
            AuditAction.EXTENSION_SET,
            _student(change.pseudonym),
            before=before,
            after=after,
            subjects=(change.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [set_event])
    return exam, row


def remove_extension(caller: Caller, exam_id: str, nickname: str) -> None:
    """Back to the exam's window at once: forms issued under the extension stop counting (the
    recorder rejects what S3 accepts after the exam's cut-off and after this moment; what it
    accepted before, inside the extension, is still recorded). Refused while the student used
    more attempts than the exam alone allows."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXTENSION_CHANGE, lock=True)
        _check_limit(conn, exam, nickname, 0)
        change = db.extensions.remove_extension(conn, exam.exam_pk, nickname)
        if change is None:
            raise NotFound(NO_STUDENT)
        before, after = difference(_extension_was(change), _extension_is(change))
        removed = Event(
            member_actor(exam, caller),
            AuditAction.EXTENSION_REMOVED,
            _student(change.pseudonym),
            before=before,
            after=after,
            subjects=(change.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [removed])


def import_extensions(
    caller: Caller, exam_id: str, body: bytes
) -> tuple[db.exams.ExamRow, list[db.students.StudentSummaryRow]]:
    """Extensions from a CSV, all or nothing: every unknown student and every time that would
    move earlier is reported by line."""
    from exam_depository.domain.attempt_limits import limit_refusal  # see _limit_change
    from exam_depository.domain.roster import parse_extensions  # the import function's alone (see import_roster)

    rows, errors = parse_extensions(body)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXTENSION_CHANGE, lock=True)
        known = db.students.nicknames_of(conn, exam.exam_pk, [row.nickname for row in rows])
        earliest_file = db.exams.earliest_submission(conn, exam.exam_pk)
        used = {
            row.nickname.lower(): row
            for row in db.attempts.attempts_used(conn, exam.exam_pk, [row.nickname for row in rows])
        }
        values = []
        for row in rows:
            if row.nickname.lower() not in known:
                errors.append({"line": row.line, "field": "nickname", "message": "no student of the exam has it"})
                continue
            try:
                due, cutoff = _checked_times(exam, row.extension, earliest_file)
            except InvalidInput as exc:
                errors.append({"line": row.line, "field": "due_at", "message": exc.detail})
                continue
            student_used = used.get(row.nickname.lower())
            if student_used is not None:
                refusal = limit_refusal([_limit_change(exam, student_used, row.extension.extra_attempts)])
                if refusal is not None:
                    errors.append({"line": row.line, "field": "extra_attempts", "message": refusal.detail})
                    continue
            values.append(
                {
                    "nickname": row.nickname,
                    "due_at": due,
                    "cutoff_at": cutoff,
                    "extra_attempts": row.extension.extra_attempts,
                }
            )
        _refuse_bad_rows(errors)
        changes = db.extensions.set_extensions(conn, exam.exam_pk, values)
        db.exams.keep_until_cutoff(conn, exam.exam_pk, load(RulesSettings).retention_days)
        summaries = db.students.student_summaries(conn, exam.exam_pk, [row.nickname for row in rows])
        imported = Event(
            member_actor(exam, caller),
            AuditAction.EXTENSIONS_IMPORTED,
            "students",
            before={change.pseudonym: _extension_was(change) for change in changes},
            after={change.pseudonym: _extension_is(change) for change in changes},
            subjects=tuple(change.pseudonym for change in changes),
        )
        db.audit.append(conn, exam.exam_pk, [imported])
        return exam, summaries


def set_accommodation(
    caller: Caller, exam_id: str, nickname: str, accommodation: AccommodationIn
) -> tuple[db.exams.ExamRow, db.students.StudentSummaryRow]:
    """A student's extra time, zeros for none: set on an exam that is not timed (it counts once
    it is), or after a start (their window moves at once; what S3 accepted before a reduction is
    still recorded, as the change is noted with its time)."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.ACCOMMODATION_CHANGE, lock=True)
        changes = db.extensions.set_accommodations(
            conn, exam.exam_pk, [{"nickname": nickname, **accommodation.model_dump()}]
        )
        if not changes:
            raise NotFound(NO_STUDENT)
        (row,) = db.students.student_summaries(conn, exam.exam_pk, [nickname])
        (change,) = changes
        before, after = difference(_extra_time_was(change), _extra_time_is(change))
        set_event = Event(
            member_actor(exam, caller),
            AuditAction.ACCOMMODATION_SET,
            _student(change.pseudonym),
            before=before,
            after=after,
            subjects=(change.pseudonym,),
        )
        db.audit.append(conn, exam.exam_pk, [set_event])
    return exam, row


def import_accommodations(
    caller: Caller, exam_id: str, body: bytes
) -> tuple[db.exams.ExamRow, list[db.students.StudentSummaryRow]]:
    """Accommodations from a CSV, all or nothing: every unknown student is reported by line with
    the file's own mistakes."""
    from exam_depository.domain.roster import parse_accommodations  # the import function's alone (see import_roster)

    rows, errors = parse_accommodations(body)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.ACCOMMODATION_CHANGE, lock=True)
        known = db.students.nicknames_of(conn, exam.exam_pk, [row.nickname for row in rows])
        errors += [
            {"line": row.line, "field": "nickname", "message": "no student of the exam has it"}
            for row in rows
            if row.nickname.lower() not in known
        ]
        _refuse_bad_rows(errors)
        changes = db.extensions.set_accommodations(
            conn, exam.exam_pk, [{"nickname": row.nickname, **row.accommodation.model_dump()} for row in rows]
        )
        summaries = db.students.student_summaries(conn, exam.exam_pk, [row.nickname for row in rows])
        imported = Event(
            member_actor(exam, caller),
            AuditAction.ACCOMMODATIONS_IMPORTED,
            "students",
            before={change.pseudonym: _extra_time_was(change) for change in changes},
            after={change.pseudonym: _extra_time_is(change) for change in changes},
            subjects=tuple(change.pseudonym for change in changes),
        )
        db.audit.append(conn, exam.exam_pk, [imported])
        return exam, summaries


def _student(pseudonym: str) -> str:
    """An event's target: a student, by pseudonym (the log never names one)."""
    return f"student:{pseudonym}"


def _record_disclosure(
    conn: db.Connection, exam: db.exams.ExamRow, caller: Caller, target: str, pseudonyms: list[str]
) -> None:
    """Log an answer that shows these students' upload codes (each lets its holder hand in as
    the student) or, in an anonymous exam, pairs their names with their pseudonyms; nothing when
    the caller's role is shown neither, or the answer shows no student."""
    events = _disclosures(exam, caller, target, pseudonyms)
    if events and pseudonyms:
        db.audit.append(conn, exam.exam_pk, events)


def _disclosures(exam: db.exams.ExamRow, caller: Caller, target: str, pseudonyms: Sequence[str] = ()) -> list[Event]:
    """The events an answer showing these students is logged by (`_record_disclosure`): none when
    the caller's role is shown neither codes nor, in an anonymous exam, names beside pseudonyms.
    Without `pseudonyms`, for a statement that decides the students (`db.student_pages.student_page`):
    it writes their count and pseudonyms in."""
    shown = _shown(exam)
    actor = member_actor(exam, caller)
    count: dict[str, Json] = {"count": len(pseudonyms)}
    subjects = tuple(pseudonyms)
    events = []
    if shown.upload_codes:
        events.append(Event(actor, AuditAction.STUDENT_CODE_SHOWN, target, after=count, subjects=subjects))
    if exam.anonymous and shown.names and shown.pseudonym:
        events.append(Event(actor, AuditAction.STUDENT_NAME_REVEALED, target, after=count, subjects=subjects))
    return events


def _extension_was(change: db.extensions.ExtensionChange) -> dict[str, Json]:
    return _extension(change.was_due_at, change.was_cutoff_at, change.was_extra_attempts)


def _extension_is(change: db.extensions.ExtensionChange) -> dict[str, Json]:
    return _extension(change.due_at, change.cutoff_at, change.extra_attempts)


def _extension(due_at: datetime | None, cutoff_at: datetime | None, extra_attempts: int) -> dict[str, Json]:
    return {
        "due_at": None if due_at is None else rfc3339(due_at),
        "cutoff_at": None if cutoff_at is None else rfc3339(cutoff_at),
        "extra_attempts": extra_attempts,
    }


def _extra_time_was(change: db.extensions.AccommodationChange) -> dict[str, Json]:
    return {"extra_time_percent": change.was_extra_time_percent, "extra_time_minutes": change.was_extra_time_minutes}


def _extra_time_is(change: db.extensions.AccommodationChange) -> dict[str, Json]:
    return {"extra_time_percent": change.extra_time_percent, "extra_time_minutes": change.extra_time_minutes}


def _shown(exam: db.exams.ExamRow) -> Disclosure:
    """What the caller's role is shown of the exam's students."""
    return disclosure(exam.role, anonymous=exam.anonymous)


def _pseudonym(text: str) -> str:
    """A pseudonym as stored (anon-7K3QX2), from one typed in any case."""
    prefix = codes.PSEUDONYM_PREFIX
    return prefix + text[len(prefix) :].upper() if text.lower().startswith(prefix) else text


def _refuse_bad_rows(errors: list[dict[str, object]]) -> None:
    """A CSV of changes is all or nothing: any bad row refuses the file, every one named, by line."""
    if errors:
        errors.sort(key=lambda error: int(str(error["line"])))
        bad_rows = len({error["line"] for error in errors})
        raise InvalidInput(f"{bad_rows} row(s) are invalid; nothing was changed.", errors)


def _checked_times(
    exam: db.exams.ExamRow, extension: ExtensionIn, earliest_file: datetime | None
) -> tuple[datetime, datetime]:
    cutoff = extension_cutoff(exam.window, extension.due_at, extension.cutoff_at)
    backwards = extension_refusal(exam.window, extension.due_at, cutoff)
    if backwards is not None:
        raise InvalidInput(backwards[0].upper() + backwards[1:] + ".")
    refusal = window_refusal(
        Window(exam.opens_at, extension.due_at, cutoff),
        now=datetime.now(UTC),
        max_window_days=load(RulesSettings).max_window_days,
        earliest_file=earliest_file,
    )
    if refusal is not None:
        raise refusal
    return extension.due_at, cutoff


def _check_limit(conn: db.Connection, exam: db.exams.ExamRow, nickname: str, extra_attempts: int) -> None:
    """Refuse new extra attempts that would leave the student below what they used."""
    from exam_depository.domain.attempt_limits import limit_refusal  # see _limit_change

    refusal = limit_refusal(
        [
            _limit_change(exam, used, extra_attempts)
            for used in db.attempts.attempts_used(conn, exam.exam_pk, [nickname])
        ]
    )
    if refusal is not None:
        raise refusal


def _limit_change(exam: db.exams.ExamRow, used: db.attempts.StudentAttempts, extra_attempts: int) -> LimitChange:
    # Loaded here (and by the extension functions' app.py at their init): only a change of
    # extra attempts is checked against the attempts used.
    from exam_depository.domain.attempt_limits import LimitChange

    return LimitChange(
        used.nickname,
        used.attempts_used,
        exam.max_attempts + used.extra_attempts,
        exam.max_attempts + extra_attempts,
    )


# Pseudonyms are 30 bits: an import of 5,000 into an exam of 5,000 draws one twice about once in
# 30 times, and the database refuses it; each further draw is as unlikely to clash.
PSEUDONYM_DRAWS = 5


def _inserted(conn: db.Connection, exam_pk: int, students: list[StudentIn]) -> list[db.students.StudentRow]:
    """Insert the students, each with an upload code and a pseudonym of its own: when a pseudonym
    is taken in the exam, the batch draws again (in a savepoint, the rest of the transaction kept)."""
    for _ in range(PSEUDONYM_DRAWS - 1):
        try:
            with conn.transaction():
                return db.students.insert_students(conn, exam_pk, [_with_codes(student) for student in students])
        except db.students.PseudonymTaken:
            continue
    with conn.transaction():  # the last draw: a clash now is not worth hiding
        return db.students.insert_students(conn, exam_pk, [_with_codes(student) for student in students])


def _with_codes(student: StudentIn) -> dict[str, object]:
    return {**student.model_dump(), "upload_code": codes.new_code(), "pseudonym": codes.new_pseudonym()}
