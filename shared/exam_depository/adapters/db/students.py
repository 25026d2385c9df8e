"""An exam's students (its roster, their extensions): statements and rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors

from exam_depository.adapters.db.submissions import LATEST, SUBMISSION_JSON, SubmissionJson
from exam_depository.adapters.db.transactions import Connection, Row, rows_of
from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.errors import Conflict
from exam_depository.domain.rules import Clock, clock_of
from exam_depository.domain.statuses import EmailState

# Another student of the exam has the student `s`'s address (allowed: a shared family mailbox; shown).
EMAIL_SHARED = """EXISTS (SELECT FROM student o
    WHERE o.exam_id = s.exam_id AND o.email_address = s.email_address AND o.id <> s.id)"""
# The student `s` was made or matched from a course of an LMS, and when the course stopped listing them.
FROM_LMS = "EXISTS (SELECT FROM lti_learner l WHERE l.student_id = s.id)"
LEFT_COURSE_AT = "(SELECT l.left_at FROM lti_learner l WHERE l.student_id = s.id)"
STUDENT_COLUMNS = f"""s.id, s.nickname, s.first_name, s.last_name, s.email, s.upload_code, s.created_at,
    s.extension_due_at, s.extension_cutoff_at, s.extra_attempts, s.pseudonym, s.started_at, s.extra_time_percent,
    s.extra_time_minutes, s.email_state, s.email_state_at, {EMAIL_SHARED} AS email_shared,
    {FROM_LMS} AS from_lms, {LEFT_COURSE_AT} AS left_course_at"""
SUMMARY_COLUMNS = f"""{STUDENT_COLUMNS},
    (SELECT count(*) FROM submission c WHERE c.student_id = s.id) AS attempts_used,
    CASE WHEN latest.id IS NULL THEN NULL ELSE {SUBMISSION_JSON.format(t="latest")} END AS current"""
_UNIQUE_MESSAGES = {
    "student_nickname_per_exam": "A student with this nickname is already in the exam.",
}


@dataclass(frozen=True)
class StudentRow:
    """A student of an exam's roster: names, upload code, extension, extra time, pseudonym."""

    id: int
    nickname: str
    first_name: str
    last_name: str
    email: str | None
    upload_code: str
    created_at: datetime
    extension_due_at: datetime | None
    extension_cutoff_at: datetime | None
    extra_attempts: int
    pseudonym: str
    started_at: datetime | None  # in a timed exam, when the student started their clock
    extra_time_percent: int
    extra_time_minutes: int
    email_state: EmailState | None  # of their latest message (null: never mailed, or a new address)
    email_state_at: datetime | None
    email_shared: bool  # another student of the exam has the same address
    from_lms: bool  # made or matched from a course of an LMS (its names follow the platform's)
    left_course_at: datetime | None  # when the course stopped listing them (they keep everything)

    def clock(self, duration_minutes: int | None) -> Clock | None:
        """The student's clock in an exam of this duration (None: not timed)."""
        return clock_of(duration_minutes, self.extra_time_percent, self.extra_time_minutes, self.started_at)


@dataclass(frozen=True)
class StudentSummaryRow(StudentRow):
    """A student with the attempts they used and their current submission (what the roster shows)."""

    attempts_used: int
    current: SubmissionJson | None


class PseudonymTaken(Exception):
    """A pseudonym drawn for a new student is another's in the exam: draw again."""


def insert_students(conn: Connection, exam_pk: int, students: list[Row]) -> list[StudentRow]:
    """Insert students of an exam (dicts with nickname, first_name, last_name, email, upload_code,
    pseudonym), each address as written and as mail goes to it (`normalized_address`). A
    pseudonym taken in the exam raises PseudonymTaken, and leaves the transaction unusable: the
    caller inserts in a savepoint."""
    try:
        with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
            cur.executemany(
                f"""INSERT INTO student AS s (exam_id, nickname, first_name, last_name, email, email_address,
                                              upload_code, pseudonym)
                    VALUES (%(exam_id)s, %(nickname)s, %(first_name)s, %(last_name)s, %(email)s, %(email_address)s,
                            %(upload_code)s, %(pseudonym)s)
                    RETURNING {STUDENT_COLUMNS}""",
                [
                    {**student, "exam_id": exam_pk, "email_address": address_of(student.get("email"))}
                    for student in students
                ],
                returning=True,
            )
            rows: list[StudentRow] = []
            while True:
                rows.extend(cur.fetchall())
                if not cur.nextset():
                    break
            return rows
    except pg_errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "student_pseudonym_per_exam":
            raise PseudonymTaken from exc
        message = _UNIQUE_MESSAGES.get(exc.diag.constraint_name or "")
        if message is None:
            raise
        raise Conflict(message) from exc


def address_of(email: str | None) -> str | None:
    """The address as mail goes to it (normalized), or None for none."""
    return None if email is None else normalized_address(email)


def students_by_nicknames_or_emails(
    conn: Connection, exam_pk: int, nicknames: list[str], emails: list[str]
) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"""SELECT {STUDENT_COLUMNS} FROM student s
                WHERE s.exam_id = %s AND (lower(s.nickname) = ANY(%s) OR lower(s.email) = ANY(%s))""",
            (exam_pk, [n.lower() for n in nicknames], [e.lower() for e in emails]),
        ).fetchall()


def student_summaries(conn: Connection, exam_pk: int, nicknames: list[str]) -> list[StudentSummaryRow]:
    with conn.cursor(row_factory=rows_of(StudentSummaryRow)) as cur:
        return cur.execute(
            f"""SELECT {SUMMARY_COLUMNS} FROM student s {LATEST}
                WHERE s.exam_id = %s AND lower(s.nickname) = ANY(%s) ORDER BY s.id""",
            (exam_pk, [n.lower() for n in nicknames]),
        ).fetchall()


def roster(conn: Connection, exam_pk: int) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"SELECT {STUDENT_COLUMNS} FROM student s WHERE s.exam_id = %s ORDER BY s.id", (exam_pk,)
        ).fetchall()


def replace_upload_code(conn: Connection, exam_pk: int, nickname: str, upload_code: str) -> StudentRow | None:
    """Give the student of the exam (by nickname) this upload code instead of its own: the old
    one finds no student from the commit on. None when the exam has no such student."""
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"""UPDATE student AS s SET upload_code = %s
                WHERE s.exam_id = %s AND lower(s.nickname) = lower(%s)
                RETURNING {STUDENT_COLUMNS}""",
            (upload_code, exam_pk, nickname),
        ).fetchone()


def nicknames_of(conn: Connection, exam_pk: int, nicknames: list[str]) -> set[str]:
    """Which of these nicknames (lowercased) are students of the exam."""
    rows = conn.execute(
        "SELECT lower(nickname) AS nickname FROM student WHERE exam_id = %s AND lower(nickname) = ANY(%s)",
        (exam_pk, [n.lower() for n in nicknames]),
    ).fetchall()
    return {row["nickname"] for row in rows}
