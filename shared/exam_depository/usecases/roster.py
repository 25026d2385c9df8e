"""What examiners do with an exam's roster: create, import, list, download, look up, delete
students, and give extensions. Every function is scoped to the caller's key and exam."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic_core

from exam_depository.adapters import db, storage
from exam_depository.api.models import ExtensionImportResult, ImportResult, Student, StudentDetail, StudentSummary
from exam_depository.config import RulesSettings, load
from exam_depository.domain import codes, cursors
from exam_depository.domain.errors import Conflict, InvalidInput, NotFound
from exam_depository.domain.filenames import upload_folder
from exam_depository.domain.inputs import ExtensionIn, StudentIn
from exam_depository.domain.roster import parse_extensions, parse_roster, roster_csv
from exam_depository.domain.rules import (
    LimitChange,
    Window,
    attempts_left,
    effective_window,
    extension_cutoff,
    extension_refusal,
    limit_refusal,
)
from exam_depository.usecases.exams import check_window, exam_row
from exam_depository.usecases.submissions import submission_fields

MAX_PAGE = 500
NO_STUDENT = "The exam has no student with this nickname."
StudentFilter = str | None  # None, "handed_in", "late" or "none"


def create_student(api_key_id: str, exam_id: str, new: StudentIn) -> Student:
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        (row,) = _inserted(conn, exam.exam_pk, [new])
    return _student(row)


def import_roster(api_key_id: str, exam_id: str, body: bytes) -> tuple[ImportResult, bool]:
    """Create every new student of a CSV roster in one transaction, or none.

    Returns the result and whether anything was created. A row whose nickname is in the exam
    with the same names is reported in `existing`; one that clashes with another student is an error.
    """
    rows = parse_roster(body)
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        known = db.students.students_by_nicknames_or_emails(
            conn,
            exam.exam_pk,
            [row.student.nickname for row in rows],
            [row.student.email for row in rows if row.student.email is not None],
        )
        by_nickname = {student.nickname.lower(): student for student in known}
        by_email = {student.email.lower(): student for student in known if student.email}
        existing, to_create, clashes = [], [], []
        for row in rows:
            same = by_nickname.get(row.student.nickname.lower())
            email_owner = by_email.get(row.student.email.lower()) if row.student.email else None
            if same is not None and (same.first_name, same.last_name) == (
                row.student.first_name,
                row.student.last_name,
            ):
                existing.append(same)
            elif same is not None:
                clashes.append(
                    {"line": row.line, "field": "nickname", "message": "nickname already used by another student"}
                )
            elif email_owner is not None:
                clashes.append({"line": row.line, "field": "email", "message": "email already used by another student"})
            else:
                to_create.append(row.student)
        if clashes:
            raise Conflict(f"{len(clashes)} row(s) clash with students of the exam; nothing was created.", clashes)
        created = _inserted(conn, exam.exam_pk, to_create) if to_create else []
    result = ImportResult(created=[_student(r) for r in created], existing=[_student(r) for r in existing])
    return result, bool(created)


def list_students(api_key_id: str, exam_id: str, limit: int, cursor: str | None, status: StudentFilter) -> str:
    """A page of the roster, as the JSON of a `StudentPage`. Its rows are read from typed columns
    and serialised in one pass without models: validating 500 of them, then serialising the
    models, took longer than the query. A test holds the page to the model and to `get_student`."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    after_id = cursors.decode(cursor) if cursor else 0
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        rows = db.students.student_page(conn, exam.exam_pk, after_id, limit + 1, status)
    now = datetime.now(UTC)
    next_cursor = cursors.encode(rows[limit - 1].id) if len(rows) > limit else None
    items = [_summary_fields(exam, row, now) for row in rows[:limit]]
    return pydantic_core.to_json({"items": items, "next_cursor": next_cursor}).decode()


def roster_download(api_key_id: str, exam_id: str) -> tuple[str, str]:
    """The whole roster with upload codes, as CSV for a mail merge: (file name, text)."""
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        rows = db.students.roster(conn, exam.exam_pk)
    text = roster_csv([{**_student(row).model_dump(mode="json")} for row in rows])
    return f"{exam.exam_id}-roster.csv", text


def get_student(api_key_id: str, exam_id: str, nickname: str) -> StudentDetail:
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        row = db.students.student_detail(conn, exam.exam_pk, nickname)
    if row is None:
        raise NotFound(NO_STUDENT)
    now = datetime.now(UTC)
    submissions = [submission_fields(item, now) for item in row.submissions]
    return StudentDetail.model_validate({**_summary_fields(exam, row, now), "submissions": submissions})


def delete_student(api_key_id: str, exam_id: str, nickname: str) -> None:
    """Remove the student's files and rows together: if S3 fails, the rows stay and a retry
    finishes the job. The student's row lock keeps the recorder out meanwhile."""
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id)
        found = db.students.lock_student_for_deletion(conn, exam.exam_pk, nickname)
        if found is None:
            raise NotFound(NO_STUDENT)
        db.students.delete_student(conn, found.id)
        storage.delete_everything_under(sorted({upload_folder(key) for key in found.keys}))


def set_extension(api_key_id: str, exam_id: str, nickname: str, extension: ExtensionIn) -> StudentSummary:
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id, lock=True)
        due, cutoff = _checked_times(exam, extension, db.exams.earliest_submission(conn, exam.exam_pk))
        _check_limit(conn, exam, nickname, extension.extra_attempts)
        values = {"nickname": nickname, "due_at": due, "cutoff_at": cutoff, "extra_attempts": extension.extra_attempts}
        if not db.students.set_extensions(conn, exam.exam_pk, [values]):
            raise NotFound(NO_STUDENT)
        db.exams.keep_until_cutoff(conn, exam.exam_pk, load(RulesSettings).retention_days)
        row = db.students.student_detail(conn, exam.exam_pk, nickname)
    assert row is not None  # updated in this transaction
    return _summary(exam, row, datetime.now(UTC))


def remove_extension(api_key_id: str, exam_id: str, nickname: str) -> None:
    """Back to the exam's window at once: forms issued under the extension stop counting after
    the exam's cut-off (the recorder rejects what S3 accepts later). Refused while the student
    used more attempts than the exam alone allows."""
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id, lock=True)
        _check_limit(conn, exam, nickname, 0)
        values = {"nickname": nickname, "due_at": None, "cutoff_at": None, "extra_attempts": 0}
        if not db.students.set_extensions(conn, exam.exam_pk, [values]):
            raise NotFound(NO_STUDENT)


def import_extensions(api_key_id: str, exam_id: str, body: bytes) -> ExtensionImportResult:
    """Extensions from a CSV, all or nothing: every unknown student and every time that would
    move earlier is reported by line."""
    rows, errors = parse_extensions(body)
    with db.transaction() as conn:
        exam = exam_row(conn, api_key_id, exam_id, lock=True)
        known = db.students.nicknames_of(conn, exam.exam_pk, [row.nickname for row in rows])
        earliest_file = db.exams.earliest_submission(conn, exam.exam_pk)
        used = {
            row.nickname.lower(): row
            for row in db.exams.attempts_used(conn, exam.exam_pk, [row.nickname for row in rows])
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
        if errors:
            errors.sort(key=lambda error: int(str(error["line"])))
            bad_rows = len({error["line"] for error in errors})
            raise InvalidInput(f"{bad_rows} row(s) are invalid; nothing was changed.", errors)
        db.students.set_extensions(conn, exam.exam_pk, values)
        db.exams.keep_until_cutoff(conn, exam.exam_pk, load(RulesSettings).retention_days)
        extended = db.students.student_summaries(conn, exam.exam_pk, [row.nickname for row in rows])
    now = datetime.now(UTC)
    return ExtensionImportResult(extended=[_summary(exam, row, now) for row in extended])


def _checked_times(
    exam: db.exams.ExamRow, extension: ExtensionIn, earliest_file: datetime | None
) -> tuple[datetime, datetime]:
    cutoff = extension_cutoff(exam.window, extension.due_at, extension.cutoff_at)
    refusal = extension_refusal(exam.window, extension.due_at, cutoff)
    if refusal is not None:
        raise InvalidInput(refusal[0].upper() + refusal[1:] + ".")
    check_window(Window(exam.opens_at, extension.due_at, cutoff), earliest_file=earliest_file)
    return extension.due_at, cutoff


def _check_limit(conn: db.Connection, exam: db.exams.ExamRow, nickname: str, extra_attempts: int) -> None:
    """Refuse new extra attempts that would leave the student below what they used."""
    refusal = limit_refusal(
        [_limit_change(exam, used, extra_attempts) for used in db.exams.attempts_used(conn, exam.exam_pk, [nickname])]
    )
    if refusal is not None:
        raise refusal


def _limit_change(exam: db.exams.ExamRow, used: db.exams.StudentAttempts, extra_attempts: int) -> LimitChange:
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


def _student(row: db.students.StudentRow) -> Student:
    return Student(**_student_fields(row))


def _student_fields(row: db.students.StudentRow) -> dict[str, Any]:
    return {
        "nickname": row.nickname,
        "pseudonym": row.pseudonym,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "upload_code": codes.display(row.upload_code),
        "created_at": row.created_at,
    }


def _summary(exam: db.exams.ExamRow, row: db.students.StudentSummaryRow, now: datetime) -> StudentSummary:
    return StudentSummary.model_validate(_summary_fields(exam, row, now))


def _summary_fields(exam: db.exams.ExamRow, row: db.students.StudentSummaryRow, now: datetime) -> dict[str, Any]:
    """`_summary`'s fields, in its order and types but unvalidated."""
    window = effective_window(exam.window, row.extension_due_at, row.extension_cutoff_at)
    max_attempts = exam.max_attempts + row.extra_attempts
    extension = None
    if row.extension_due_at is not None and row.extension_cutoff_at is not None:
        extension = {
            "due_at": row.extension_due_at,
            "cutoff_at": row.extension_cutoff_at,
            "extra_attempts": row.extra_attempts,
        }
    current: dict[str, Any] | None = row.current
    return {
        **_student_fields(row),
        "attempts_used": row.attempts_used,
        "attempts_left": attempts_left(row.attempts_used, max_attempts),
        "max_attempts": max_attempts,
        "due_at": window.due_at,
        "cutoff_at": window.cutoff_at,
        "extension": extension,
        "current": submission_fields(current, now) if current is not None else None,
    }
