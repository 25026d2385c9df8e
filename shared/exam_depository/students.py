"""What examiners do with students: create, import, list, look up, delete."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from exam_depository import codes, db, storage
from exam_depository.config import RulesSettings, load
from exam_depository.errors import Conflict, InvalidInput, NotFound
from exam_depository.filenames import upload_folder
from exam_depository.models import (
    ImportResult,
    Student,
    StudentDetail,
    StudentIn,
    StudentPage,
    StudentSummary,
)
from exam_depository.roster import parse_roster
from exam_depository.rules import attempts_left
from exam_depository.submissions import submission_view

MAX_PAGE = 500


def create_student(new: StudentIn) -> Student:
    with db.transaction() as conn:
        (row,) = db.insert_students(conn, [_with_code(new)])
    return _student(row)


def import_roster(body: bytes) -> tuple[ImportResult, bool]:
    """Create every new student of a CSV roster in one transaction, or none.

    Returns the result and whether anything was created. A row whose nickname exists with the
    same names is reported in `existing`; one that clashes with another student is an error.
    """
    rows = parse_roster(body)
    with db.transaction() as conn:
        known = db.students_by_nicknames_or_emails(
            conn,
            [row.student.nickname for row in rows],
            [row.student.email for row in rows if row.student.email is not None],
        )
        by_nickname = {student["nickname"].lower(): student for student in known}
        by_email = {student["email"].lower(): student for student in known if student["email"]}
        existing, to_create, clashes = [], [], []
        for row in rows:
            same = by_nickname.get(row.student.nickname.lower())
            email_owner = by_email.get(row.student.email.lower()) if row.student.email else None
            if same is not None and _same_person(same, row.student):
                existing.append(same)
            elif same is not None:
                clashes.append(
                    {"line": row.line, "field": "nickname", "message": "nickname already used by another student"}
                )
            elif email_owner is not None:
                clashes.append({"line": row.line, "field": "email", "message": "email already used by another student"})
            else:
                to_create.append(_with_code(row.student))
        if clashes:
            raise Conflict(f"{len(clashes)} row(s) clash with existing students; nothing was created.", clashes)
        created = db.insert_students(conn, to_create) if to_create else []
    result = ImportResult(created=[_student(r) for r in created], existing=[_student(r) for r in existing])
    return result, bool(created)


def list_students(limit: int, cursor: str | None) -> StudentPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    after_id = _decode_cursor(cursor) if cursor else 0
    with db.transaction() as conn:
        rows = db.student_page(conn, after_id, limit + 1)
    now = datetime.now(UTC)
    items = [_summary(row, now) for row in rows[:limit]]
    next_cursor = _encode_cursor(items[-1].id) if len(rows) > limit else None
    return StudentPage(items=items, next_cursor=next_cursor)


def get_student(nickname: str) -> StudentDetail:
    with db.transaction() as conn:
        row = db.student_detail(conn, nickname)
    if row is None:
        raise NotFound("No student has this nickname.")
    now = datetime.now(UTC)
    summary = _summary(row, now)
    return StudentDetail(
        **summary.model_dump(),
        submissions=[submission_view(item, now) for item in row["submissions"]],
    )


def delete_student(nickname: str) -> None:
    """Remove the student's files and rows together: if S3 fails, the rows stay and a retry
    finishes the job. The student's row lock keeps the recorder out meanwhile."""
    with db.transaction() as conn:
        found = db.lock_student_for_deletion(conn, nickname)
        if found is None:
            raise NotFound("No student has this nickname.")
        db.delete_student(conn, found["id"])
        storage.delete_everything_under([upload_folder(key) for key in found["keys"]])


def _with_code(student: StudentIn) -> dict[str, object]:
    return {**student.model_dump(), "upload_code": codes.new_code()}


def _same_person(row: db.Row, student: StudentIn) -> bool:
    return bool(row["first_name"] == student.first_name and row["last_name"] == student.last_name)


def _student(row: db.Row) -> Student:
    return Student(
        id=row["id"],
        nickname=row["nickname"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        upload_code=codes.display(row["upload_code"]),
        created_at=row["created_at"],
    )


def _summary(row: db.Row, now: datetime) -> StudentSummary:
    used = int(row["submission_count"])
    current = row["current"]
    return StudentSummary(
        **_student(row).model_dump(),
        submission_count=used,
        attempts_left=attempts_left(used, load(RulesSettings).max_attempts),
        current=submission_view(current, now) if current is not None else None,
    )


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned.") from exc
