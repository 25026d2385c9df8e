"""An exam's students (its roster, their extensions): statements and rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors

from exam_depository.adapters.db import audit, windows
from exam_depository.adapters.db.exams import ExamRow
from exam_depository.adapters.db.messages import MessageJson, history_json
from exam_depository.adapters.db.submissions import LATEST, SUBMISSION_JSON, SubmissionJson, downloadable
from exam_depository.adapters.db.transactions import Connection, Row, rows_of
from exam_depository.domain.access import Disclosure
from exam_depository.domain.audit import Event
from exam_depository.domain.errors import Conflict
from exam_depository.domain.mail import EmailState, normalized_address
from exam_depository.domain.rules import Clock, clock_of

# Another student of the exam has the student `s`'s address (allowed: a shared family mailbox; shown).
_EMAIL_SHARED = """EXISTS (SELECT FROM student o
    WHERE o.exam_id = s.exam_id AND o.email_address = s.email_address AND o.id <> s.id)"""
_STUDENT_COLUMNS = f"""s.id, s.nickname, s.first_name, s.last_name, s.email, s.upload_code, s.created_at,
    s.extension_due_at, s.extension_cutoff_at, s.extra_attempts, s.pseudonym, s.started_at, s.extra_time_percent,
    s.extra_time_minutes, s.email_state, s.email_state_at, {_EMAIL_SHARED} AS email_shared"""
_SUMMARY_COLUMNS = f"""{_STUDENT_COLUMNS},
    (SELECT count(*) FROM submission c WHERE c.student_id = s.id) AS attempts_used,
    CASE WHEN latest.id IS NULL THEN NULL ELSE {SUBMISSION_JSON.format(t="latest")} END AS current"""
# The roster's filters: who handed in, who handed in late, who has not handed in yet.
_STUDENT_FILTERS = {
    None: "true",
    "handed_in": "latest.id IS NOT NULL",
    "late": "latest.late",
    "none": "latest.id IS NULL",
}

_UNIQUE_MESSAGES = {
    "student_nickname_per_exam": "A student with this nickname is already in the exam.",
}


@dataclass(frozen=True)
class StudentRow:
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

    def clock(self, duration_minutes: int | None) -> Clock | None:
        """The student's clock in an exam of this duration (None: not timed)."""
        return clock_of(duration_minutes, self.extra_time_percent, self.extra_time_minutes, self.started_at)


@dataclass(frozen=True)
class StudentSummaryRow(StudentRow):
    attempts_used: int
    current: SubmissionJson | None


@dataclass(frozen=True)
class StudentDetailRow(StudentSummaryRow):
    submissions: list[SubmissionJson]
    messages: list[MessageJson]  # the newest first


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
                    RETURNING {_STUDENT_COLUMNS}""",
                [
                    {**student, "exam_id": exam_pk, "email_address": _address_of(student.get("email"))}
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


def _address_of(email: str | None) -> str | None:
    return None if email is None else normalized_address(email)


def students_by_nicknames_or_emails(
    conn: Connection, exam_pk: int, nicknames: list[str], emails: list[str]
) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"""SELECT {_STUDENT_COLUMNS} FROM student s
                WHERE s.exam_id = %s AND (lower(s.nickname) = ANY(%s) OR lower(s.email) = ANY(%s))""",
            (exam_pk, [n.lower() for n in nicknames], [e.lower() for e in emails]),
        ).fetchall()


# The roster's page is written by PostgreSQL, each row as the JSON text of a `StudentSummary`:
# making 500 rows into Python values, applying the rules to each and serialising them again took
# longer than the query. The view joins the texts. These expressions are the Python's, in SQL:
# an instant as `instants.rfc3339` and pydantic write it (no fraction when it has none, else six
# digits), a code grouped as `codes.display` groups it.
_INSTANT = """CASE WHEN {t} = date_trunc('second', {t})
    THEN to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    ELSE to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
# Groups of four of up to 40 symbols (twice a code's length), without a regular expression: one
# per code took PostgreSQL 6 µs, as long as the rest of the row.
_GROUPED = "concat_ws('-', " + ", ".join(f"NULLIF(substr({{t}}, {start}, 4), '')" for start in range(1, 41, 4)) + ")"


def _json_object(fields: dict[str, str]) -> str:
    """The JSON object of these (name, SQL expression) pairs, in their order: row_to_json writes
    it compact (`{"a":1}`) as pydantic does, where json_build_object spaces every member."""
    columns = ", ".join(f'{expression} AS "{name}"' for name, expression in fields.items())
    return f"(SELECT row_to_json(o) FROM (SELECT {columns}) o)"


_STATUS_NOW = (
    "(CASE WHEN latest.status = 'current' AND exam.now >= latest.expires_at THEN 'expired'"
    " ELSE latest.status::text END)"
)
# `personal_window` (`windows`, in the page's `personal` join), `attempts_left` and `status_at`
# as of the caller's `now`; the fields in the models' order.
_SUBMISSION = _json_object(
    {
        "upload_id": "latest.upload_id",
        "verification_code": "CASE WHEN %(show_verification)s THEN "
        + _GROUPED.format(t="latest.verification_code")
        + " END",
        "filename": "latest.filename",
        "content_type": "latest.content_type",
        "size_bytes": "latest.size_bytes",
        "sha256": "latest.sha256",
        "submitted_at": _INSTANT.format(t="latest.submitted_at"),
        "expires_at": _INSTANT.format(t="latest.expires_at"),
        "status": _STATUS_NOW,
        "late": "latest.late",
        "due_at": _INSTANT.format(t="latest.due_at"),
        "receipt": "CASE WHEN %(show_verification)s THEN latest.receipt END",
        "scan": "latest.scan",
        "scan_detail": "latest.scan_detail",
        "scan_released_at": _INSTANT.format(t="latest.scan_released_at"),
        "downloadable": downloadable("latest", _STATUS_NOW),
        "found_type": "latest.found_type",
        "warnings": "latest.warnings",
    }
)
_EXTENSION = _json_object(
    {
        "due_at": _INSTANT.format(t="s.extension_due_at"),
        "cutoff_at": _INSTANT.format(t="s.extension_cutoff_at"),
        "extra_attempts": "s.extra_attempts",
    }
)
_SUMMARY_JSON = (
    _json_object(
        {
            "nickname": "CASE WHEN %(show_names)s THEN s.nickname END",
            "pseudonym": "CASE WHEN %(show_pseudonym)s THEN s.pseudonym END",
            "first_name": "CASE WHEN %(show_names)s THEN s.first_name END",
            "last_name": "CASE WHEN %(show_names)s THEN s.last_name END",
            "email": "CASE WHEN %(show_names)s THEN s.email END",
            "upload_code": f"CASE WHEN %(show_codes)s THEN {_GROUPED.format(t='s.upload_code')} END",
            "created_at": _INSTANT.format(t="s.created_at"),
            "email_state": "CASE WHEN %(show_names)s THEN s.email_state END",
            "email_state_at": "CASE WHEN %(show_names)s THEN " + _INSTANT.format(t="s.email_state_at") + " END",
            "email_shared": f"CASE WHEN %(show_names)s THEN {_EMAIL_SHARED} END",
            "attempts_used": "attempts.used",
            "attempts_left": "greatest(0, exam.max_attempts + s.extra_attempts - attempts.used)",
            "max_attempts": "exam.max_attempts + s.extra_attempts",
            "due_at": _INSTANT.format(t="personal.due_at"),
            "cutoff_at": _INSTANT.format(t="personal.cutoff_at"),
            "extension": "CASE WHEN s.extension_due_at IS NOT NULL AND s.extension_cutoff_at IS NOT NULL"
            f" THEN {_EXTENSION} END",
            "started_at": _INSTANT.format(t="s.started_at"),
            "extra_time_percent": "s.extra_time_percent",
            "extra_time_minutes": "s.extra_time_minutes",
            "time_allowed_seconds": windows.time_allowed_seconds("exam"),
            "current": f"CASE WHEN latest.id IS NOT NULL THEN {_SUBMISSION} END",
        }
    )
    + "::text"
)


@dataclass(frozen=True)
class StudentPageRow:
    """A row of the roster's page: the student's id (for the cursor), its pseudonym (what the
    audit log names a student by) and its JSON text."""

    id: int
    pseudonym: str
    item: str


# A search: every term is part of the nickname, a name or the email, once both sides are folded
# alike by PostgreSQL (`unaccent`, then `lower`: "Müller" is found by "MULL"). The fields are
# joined by a line break, which no field and no term holds, so a term never spans two fields. A
# member shown no names (a grader of an anonymous exam) searches the pseudonyms alone: a search
# must not tell them whom a pseudonym is.
_SEARCH = """NOT EXISTS (
    SELECT 1 FROM unnest(%(terms)s::text[]) AS term
    WHERE strpos(lower(unaccent(CASE WHEN %(show_names)s
                                     THEN concat_ws(E'\\n', s.nickname, s.first_name, s.last_name, s.email)
                                     ELSE s.pseudonym END)),
                 lower(unaccent(term))) = 0)"""


def student_page(
    conn: Connection,
    exam: ExamRow,
    after_id: int,
    limit: int,
    *,
    status: str | None,
    terms: list[str] | None = None,
    now: datetime,
    shown: Disclosure,
    disclosures: Sequence[Event] = (),
    disclosed_rows: int = 0,
) -> list[StudentPageRow]:
    """One statement per page, whatever its size: attempts and latest submission inline, each
    row's JSON written by the database with the exam's window and the submissions' status as of
    `now`, and null for what `shown` hides; only the students of `status` and matching every
    search term, if given. `disclosures` are the events that showing the page's first
    `disclosed_rows` rows is recorded by: the same statement appends them to the exam's audit log
    (`audit.counted_append`), each counting those rows and naming them, and none when there are
    none (an event would be a third round trip for every page)."""
    search = _SEARCH if terms else "true"
    # A member shown no names (a grader of an anonymous exam) reads the roster in pseudonym order,
    # as an anonymous exam's export lists it: the order students were added in (often a class
    # list's, by name) would tell whom each pseudonym is. The cursor is the last row's id either way.
    after, order = (
        ("s.id > %(after_id)s", "id")
        if shown.names
        else (
            """s.pseudonym > coalesce((SELECT a.pseudonym FROM student a
                                       WHERE a.id = %(after_id)s AND a.exam_id = %(exam_pk)s), '')""",
            "pseudonym",
        )
    )
    parameters: dict[str, object] = {
        "due_at": exam.due_at,
        "cutoff_at": exam.cutoff_at,
        "max_attempts": exam.max_attempts,
        "duration_minutes": exam.duration_minutes,
        "now": now,
        "exam_pk": exam.exam_pk,
        "after_id": after_id,
        "limit": limit,
        "terms": terms,
        "show_names": shown.names,
        "show_pseudonym": shown.pseudonym,
        "show_codes": shown.upload_codes,
        "show_verification": shown.verification,
    }
    page = f"""SELECT s.id, s.pseudonym, {_SUMMARY_JSON} AS item
                FROM student s
                CROSS JOIN (SELECT %(due_at)s::timestamptz AS due_at, %(cutoff_at)s::timestamptz AS cutoff_at,
                                   %(max_attempts)s::int AS max_attempts, %(duration_minutes)s::int AS duration_minutes,
                                   %(now)s::timestamptz AS now) exam
                CROSS JOIN LATERAL (SELECT count(*) AS used FROM submission c WHERE c.student_id = s.id) attempts
                CROSS JOIN LATERAL (SELECT {windows.personal_due("exam")} AS due_at,
                                           {windows.personal_cutoff("exam")} AS cutoff_at) personal
                {LATEST}
                WHERE s.exam_id = %(exam_pk)s AND {after} AND {_STUDENT_FILTERS[status]} AND {search}
                ORDER BY s.{order} LIMIT %(limit)s"""
    if disclosures:
        appended, audit_parameters = audit.counted_append(
            f"SELECT pseudonym, {order} AS position FROM page ORDER BY {order} LIMIT %(disclosed_rows)s",
            exam.exam_pk,
            disclosures,
        )
        page = f"WITH RECURSIVE page AS ({page}){appended}SELECT id, pseudonym, item FROM page ORDER BY {order}"
        parameters |= audit_parameters | {"disclosed_rows": disclosed_rows}
    with conn.cursor(row_factory=rows_of(StudentPageRow)) as cur:
        return cur.execute(page, parameters).fetchall()


def student_summaries(conn: Connection, exam_pk: int, nicknames: list[str]) -> list[StudentSummaryRow]:
    with conn.cursor(row_factory=rows_of(StudentSummaryRow)) as cur:
        return cur.execute(
            f"""SELECT {_SUMMARY_COLUMNS} FROM student s {LATEST}
                WHERE s.exam_id = %s AND lower(s.nickname) = ANY(%s) ORDER BY s.id""",
            (exam_pk, [n.lower() for n in nicknames]),
        ).fetchall()


def roster(conn: Connection, exam_pk: int) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"SELECT {_STUDENT_COLUMNS} FROM student s WHERE s.exam_id = %s ORDER BY s.id", (exam_pk,)
        ).fetchall()


def student_detail(
    conn: Connection, exam_pk: int, nickname: str, *, by_pseudonym: bool = False
) -> StudentDetailRow | None:
    """The student of the exam with this nickname, or with this pseudonym (exactly as stored)."""
    found_by = "s.pseudonym = %s" if by_pseudonym else "lower(s.nickname) = lower(%s)"
    with conn.cursor(row_factory=rows_of(StudentDetailRow)) as cur:
        return cur.execute(
            f"""SELECT {_SUMMARY_COLUMNS},
                  COALESCE((SELECT jsonb_agg({SUBMISSION_JSON.format(t="a")} ORDER BY a.issue_seq)
                            FROM submission a WHERE a.student_id = s.id), '[]'::jsonb) AS submissions,
                  {history_json("s.id")} AS messages
                FROM student s {LATEST} WHERE s.exam_id = %s AND {found_by}""",
            (exam_pk, nickname),
        ).fetchone()


@dataclass(frozen=True)
class StudentKeys:
    id: int
    pseudonym: str
    submissions: int  # the files recorded for the student, every attempt
    keys: list[str]


def lock_student_for_deletion(conn: Connection, exam_pk: int, nickname: str) -> StudentKeys | None:
    """Lock the student (the recorder waits) and list every object key it ever had: every
    version of each goes, those already gone cost a listing, and one whose delete failed earlier
    goes now."""
    with conn.cursor(row_factory=rows_of(StudentKeys)) as cur:
        return cur.execute(
            """SELECT s.id, s.pseudonym, (SELECT count(*) FROM submission x WHERE x.student_id = s.id) AS submissions,
                      COALESCE(array_agg(u.object_key) FILTER (WHERE u.id IS NOT NULL), '{}') AS keys
               FROM student s
               LEFT JOIN upload u ON u.student_id = s.id
               WHERE s.id = (SELECT id FROM student WHERE exam_id = %s AND lower(nickname) = lower(%s) FOR UPDATE)
               GROUP BY s.id""",
            (exam_pk, nickname),
        ).fetchone()


def replace_upload_code(conn: Connection, exam_pk: int, nickname: str, upload_code: str) -> StudentRow | None:
    """Give the student of the exam (by nickname) this upload code instead of its own: the old
    one finds no student from the commit on. None when the exam has no such student."""
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"""UPDATE student AS s SET upload_code = %s
                WHERE s.exam_id = %s AND lower(s.nickname) = lower(%s)
                RETURNING {_STUDENT_COLUMNS}""",
            (upload_code, exam_pk, nickname),
        ).fetchone()


@dataclass(frozen=True)
class MailTarget:
    id: int
    nickname: str
    pseudonym: str


def mail_targets(conn: Connection, exam_pk: int, nicknames: list[str] | None) -> list[MailTarget]:
    """The exam's students (those with these nicknames, if given) whom a send-codes is about."""
    with conn.cursor(row_factory=rows_of(MailTarget)) as cur:
        return cur.execute(
            """SELECT id, nickname, pseudonym FROM student
                WHERE exam_id = %(exam_pk)s AND (%(every)s OR lower(nickname) = ANY(%(nicknames)s)) ORDER BY id""",
            {"exam_pk": exam_pk, "every": nicknames is None, "nicknames": [n.lower() for n in nicknames or []]},
        ).fetchall()


@dataclass(frozen=True)
class EmailChanged:
    student: StudentRow
    before: str | None  # the address as written before the change


def change_email(conn: Connection, exam_pk: int, nickname: str, email: str | None) -> EmailChanged | None:
    """Give the student of the exam (by nickname) this address (None: none), as written and as
    mail goes to it; what their messages said of the old one no longer shows (their state is
    reset), and a new address has not been sent the code yet (a send-codes invites them again;
    the invitations counted stay, and so does the daily limit). None when the exam has no such
    student."""
    found = conn.execute(
        f"""WITH old AS (SELECT id, email FROM student
                          WHERE exam_id = %(exam_pk)s AND lower(nickname) = lower(%(nickname)s) FOR UPDATE)
            UPDATE student AS s
               SET email = %(email)s, email_address = %(email_address)s, email_state = NULL,
                   email_state_at = NULL, last_message_id = NULL,
                   invited_at = CASE WHEN s.email_address IS DISTINCT FROM %(email_address)s THEN NULL
                                     ELSE s.invited_at END
              FROM old WHERE s.id = old.id
            RETURNING {_STUDENT_COLUMNS}, old.email AS before""",
        {"exam_pk": exam_pk, "nickname": nickname, "email": email, "email_address": _address_of(email)},
    ).fetchone()
    if found is None:
        return None
    before = found.pop("before")
    return EmailChanged(StudentRow(**found), before)


def delete_student(conn: Connection, student_id: int) -> None:
    conn.execute("DELETE FROM student WHERE id = %s", (student_id,))


def nicknames_of(conn: Connection, exam_pk: int, nicknames: list[str]) -> set[str]:
    """Which of these nicknames (lowercased) are students of the exam."""
    rows = conn.execute(
        "SELECT lower(nickname) AS nickname FROM student WHERE exam_id = %s AND lower(nickname) = ANY(%s)",
        (exam_pk, [n.lower() for n in nicknames]),
    ).fetchall()
    return {row["nickname"] for row in rows}
