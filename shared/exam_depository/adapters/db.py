"""PostgreSQL: the one connection of this execution environment, and every SQL statement.

The connection is created on first use and replaced when it is closed or broken. It runs in
autocommit mode; each unit of work is one `with transaction() as conn:` block. Driver errors
leave this module only as domain errors (`Conflict`) or `ServiceUnavailable`, or as
`PseudonymTaken` (a random draw that its caller makes again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

import psycopg
import psycopg.sql
import psycopg.types.json
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import RowFactory, args_row, class_row, dict_row

from exam_depository.config import DatabaseSettings, load
from exam_depository.domain.errors import Conflict, ServiceUnavailable
from exam_depository.domain.recording import UploadFacts
from exam_depository.domain.rules import Window
from exam_depository.domain.statuses import SubmissionStatus, UploadStatus

Row = dict[str, Any]
Connection = psycopg.Connection[Row]


def rows_of[RowClass](cls: type[RowClass]) -> RowFactory[RowClass]:
    """psycopg's class_row, made by position when a statement's columns are the class's fields in
    their order (checked at each statement) and by name otherwise: by name, making the rows of a
    page of 500 students added up to a third to its query's time."""
    names = tuple(field.name for field in fields(cls))  # type: ignore[arg-type]  # a dataclass
    by_position, by_name = args_row(cls), class_row(cls)

    def factory(cursor: Any) -> Any:
        columns = tuple(column.name for column in cursor.description or ())
        return by_position(cursor) if columns == names else by_name(cursor)

    return factory


class _ConnectionHolder(threading.local):
    # Per thread: Lambda runs one thread per environment; the tests run several environments
    # as threads, each of which must have its own connection.
    connection: Connection | None = None


_holder = _ConnectionHolder()


def connection() -> Connection:
    current = _holder.connection
    if current is None or current.closed or current.broken:
        current = _holder.connection = _connect(load(DatabaseSettings))
    return current


def reset() -> None:
    """Close and forget this thread's connection (tests; after the database was replaced)."""
    if _holder.connection is not None:
        _holder.connection.close()
    _holder.connection = None


@contextmanager
def transaction() -> Iterator[Connection]:
    """One unit of work. A lost database becomes ServiceUnavailable; the next call reconnects."""
    try:
        conn = connection()
        with conn.transaction():
            yield conn
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable("PostgreSQL is unavailable", service="PostgreSQL") from exc
    except psycopg.errors.FeatureNotSupported as exc:
        if _PLAN_CHANGED not in str(exc):
            raise
        # A migration changed a column's type under one of this connection's prepared
        # statements. The rollback made psycopg forget them all: a retry plans afresh.
        raise ServiceUnavailable(
            "A migration changed a prepared statement's result; retry", service="PostgreSQL"
        ) from exc


_PLAN_CHANGED = "cached plan must not change result type"


def _connect(settings: DatabaseSettings) -> Connection:
    try:
        return psycopg.connect(
            _conninfo(settings),
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=settings.connect_timeout_s,
            # psycopg's default: a statement is prepared at its 5th run on this connection.
            prepare_threshold=5 if settings.prepared_statements else None,
            application_name="exam-depository",
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable("PostgreSQL is unavailable", service="PostgreSQL") from exc


def _conninfo(settings: DatabaseSettings) -> str:
    if settings.database_url is not None:
        return settings.database_url
    from aws_lambda_powertools.utilities import parameters

    assert settings.secret_arn is not None  # the settings model requires one of the two
    secret: dict[str, Any] = parameters.get_secret(
        settings.secret_arn, transform="json", max_age=settings.secret_max_age_s
    )
    return make_conninfo(
        "",
        host=secret["host"],
        port=secret.get("port", 5432),
        dbname=secret.get("dbname", "postgres"),
        user=secret["username"],
        password=secret["password"],
        sslmode=secret.get("sslmode", "require"),
    )


def database_url() -> str:
    """The URL the migration tool connects with (it opens its own connection)."""
    settings = load(DatabaseSettings)
    if settings.database_url is not None:
        return settings.database_url
    info = conninfo_to_dict(_conninfo(settings))
    # Host and port as query values: libpq then also accepts a Unix socket directory as host.
    query = urlencode({"host": info["host"], "port": info["port"], "sslmode": info["sslmode"]})
    user, password, dbname = (quote(str(info[name]), safe="") for name in ("user", "password", "dbname"))
    return f"postgresql://{user}:{password}@/{dbname}?{query}"


# --- examiners and exams ---------------------------------------------------------------------
#
# Every examiner statement reaches its rows through examiner_key: an exam of another examiner,
# or a key that never made one, finds nothing (the route answers 404), whatever the ids say.

_MINE = "JOIN examiner_key k ON k.examiner_id = e.examiner_id AND k.api_key_id = %(key)s"
# A student's latest handed-in submission: the current one, else the newest one that expired.
_LATEST = """LEFT JOIN LATERAL (
    SELECT x.* FROM submission x WHERE x.student_id = s.id AND x.status <> 'superseded'
    ORDER BY (x.status = 'current') DESC, x.issue_seq DESC LIMIT 1) latest ON true"""
_EXAM_COLUMNS = """e.id, e.slug, e.title, e.opens_at, e.due_at, e.cutoff_at, e.timezone, e.max_attempts,
    e.anonymous, e.created_at"""
# The three counts in one pass over the exam's students (each one index lookup of its latest),
# and when the first of its current files is deleted.
_COUNTS = f"""LEFT JOIN LATERAL (
    SELECT count(*) AS students, count(latest.id) AS handed_in, count(latest.id) FILTER (WHERE latest.late) AS late,
           min(latest.expires_at) FILTER (WHERE latest.status = 'current') AS first_expiry
    FROM student s {_LATEST} WHERE s.exam_id = e.id) counts ON true"""


@dataclass(frozen=True)
class ExamRow:
    id: int
    slug: str
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: str
    max_attempts: int
    anonymous: bool
    created_at: datetime

    @cached_property  # once per exam, not once per student of a page
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)


@dataclass(frozen=True)
class CountedExamRow(ExamRow):
    """An exam with what its roster shows at a glance (what the exam routes answer)."""

    students: int
    handed_in: int
    late: int
    first_expiry: datetime | None  # the earliest `expires_at` of its current files


def examiner_for_key(conn: Connection, api_key_id: str) -> int:
    """The examiner an API key belongs to; a key seen for the first time is a new examiner."""
    found = conn.execute("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (api_key_id,)).fetchone()
    if found is not None:
        return int(found["examiner_id"])
    created = conn.execute(
        """WITH examiner_row AS (INSERT INTO examiner DEFAULT VALUES RETURNING id)
           INSERT INTO examiner_key (api_key_id, examiner_id) SELECT %s, id FROM examiner_row
           ON CONFLICT (api_key_id) DO NOTHING RETURNING examiner_id""",
        (api_key_id,),
    ).fetchone()
    if created is None:  # a first request of the same key won the race: its examiner it is
        return examiner_for_key(conn, api_key_id)
    return int(created["examiner_id"])


def insert_exam(conn: Connection, examiner_id: int, exam: dict[str, object]) -> int:
    try:
        row = conn.execute(
            """INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts,
                                 anonymous)
               VALUES (%(examiner_id)s, %(exam_id)s, %(title)s, %(opens_at)s, %(due_at)s, %(cutoff_at)s,
                       %(timezone)s, %(max_attempts)s, %(anonymous)s)
               RETURNING id""",
            {**exam, "examiner_id": examiner_id},
        ).fetchone()
    except pg_errors.UniqueViolation as exc:
        raise Conflict(f"You already have an exam with the id {exam['exam_id']}.") from exc
    assert row is not None  # INSERT ... RETURNING returns its row
    return int(row["id"])


def exam_page(conn: Connection, api_key_id: str, after_id: int, limit: int) -> list[CountedExamRow]:
    """One statement per page, counts included."""
    with conn.cursor(row_factory=rows_of(CountedExamRow)) as cur:
        return cur.execute(
            f"""SELECT {_EXAM_COLUMNS}, counts.* FROM exam e {_MINE} {_COUNTS}
                WHERE e.id > %(after)s ORDER BY e.id LIMIT %(limit)s""",
            {"key": api_key_id, "after": after_id, "limit": limit},
        ).fetchall()


def exam_of(conn: Connection, api_key_id: str, slug: str, *, lock: bool = False) -> ExamRow | None:
    """One of the caller's exams, without counts (a route that acts on its roster needs none);
    `lock` holds it until the transaction ends."""
    with conn.cursor(row_factory=rows_of(ExamRow)) as cur:
        return cur.execute(
            f"""SELECT {_EXAM_COLUMNS} FROM exam e {_MINE}
                WHERE e.slug = %(slug)s {"FOR UPDATE OF e" if lock else ""}""",
            {"key": api_key_id, "slug": slug},
        ).fetchone()


def counted_exam_of(conn: Connection, api_key_id: str, slug: str) -> CountedExamRow | None:
    """One of the caller's exams with its counts."""
    with conn.cursor(row_factory=rows_of(CountedExamRow)) as cur:
        return cur.execute(
            f"SELECT {_EXAM_COLUMNS}, counts.* FROM exam e {_MINE} {_COUNTS} WHERE e.slug = %(slug)s",
            {"key": api_key_id, "slug": slug},
        ).fetchone()


def update_exam(conn: Connection, exam_id: int, changes: dict[str, object]) -> None:
    assignments = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(name), psycopg.sql.Placeholder(name))
        for name in changes
    )
    conn.execute(
        psycopg.sql.SQL("UPDATE exam SET {} WHERE id = %(id)s").format(assignments), {**changes, "id": exam_id}
    )


@dataclass(frozen=True)
class AttemptsUsed:
    nickname: str
    attempts_used: int
    extra_attempts: int


def attempts_used(conn: Connection, exam_id: int, nicknames: list[str] | None = None) -> list[AttemptsUsed]:
    """What each student of the exam (or those of `nicknames`) who handed in anything used,
    with the extra attempts of their extension."""
    with conn.cursor(row_factory=rows_of(AttemptsUsed)) as cur:
        return cur.execute(
            """SELECT s.nickname, count(*) AS attempts_used, s.extra_attempts
               FROM student s JOIN submission x ON x.student_id = s.id
               WHERE s.exam_id = %(exam)s AND (%(all)s OR lower(s.nickname) = ANY(%(nicknames)s))
               GROUP BY s.id ORDER BY s.id""",
            {"exam": exam_id, "all": nicknames is None, "nicknames": [n.lower() for n in nicknames or []]},
        ).fetchall()


def earliest_submission(conn: Connection, exam_id: int) -> datetime | None:
    """When S3 accepted the first file of the exam that is recorded."""
    row = conn.execute(
        """SELECT min(x.submitted_at) AS earliest FROM submission x JOIN student s ON s.id = x.student_id
           WHERE s.exam_id = %s""",
        (exam_id,),
    ).fetchone()
    assert row is not None  # an aggregate returns one row
    return row["earliest"]  # type: ignore[no-any-return]


def lock_students(conn: Connection, exam_id: int) -> None:
    """Lock the exam's students in id order (as the recorder does, so neither waits for the other
    in a circle): a recording in flight commits first, and any later one reads what this
    transaction changes."""
    conn.execute("SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR UPDATE", (exam_id,))


def keep_until_cutoff(conn: Connection, exam_id: int, retention_days: int) -> None:
    """After the exam's or a student's cut-off moved: each file kept is kept until
    `rules.kept_longer` says, the same rule in SQL (greatest() skips a NULL extension). Run it in
    a statement after the students are locked (`lock_students`, or the UPDATE of an extension),
    so that it sees what a recording that held them committed."""
    conn.execute(
        """UPDATE submission x
           SET expires_at = greatest(x.expires_at,
                                     greatest(x.submitted_at, e.cutoff_at, s.extension_cutoff_at)
                                     + make_interval(days => %(days)s))
           FROM student s JOIN exam e ON e.id = s.exam_id
           WHERE x.student_id = s.id AND e.id = %(exam)s AND x.status <> 'expired'""",
        {"exam": exam_id, "days": retention_days},
    )


def close_exam(conn: Connection, exam_id: int, now: datetime) -> None:
    """End every student's window now: the exam's cut-off, and any extension's, become `now`
    (its due time and opening too where they were later)."""
    conn.execute(
        """UPDATE exam SET opens_at = least(opens_at, %(now)s), due_at = least(due_at, %(now)s),
                           cutoff_at = least(cutoff_at, %(now)s)
           WHERE id = %(exam)s""",
        {"exam": exam_id, "now": now},
    )
    conn.execute(
        """UPDATE student SET extension_due_at = least(extension_due_at, %(now)s),
                              extension_cutoff_at = least(extension_cutoff_at, %(now)s)
           WHERE exam_id = %(exam)s AND extension_cutoff_at IS NOT NULL""",
        {"exam": exam_id, "now": now},
    )


def lock_exam_students(conn: Connection, exam_id: int) -> list[str]:
    """Lock the exam's students (the recorder waits) and list every object key they ever had."""
    rows = conn.execute(
        """WITH locked AS (SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR UPDATE)
           SELECT u.object_key FROM upload u JOIN locked l ON l.id = u.student_id""",
        (exam_id,),
    ).fetchall()
    return [row["object_key"] for row in rows]


def lock_exam_exports(conn: Connection, exam_id: int) -> None:
    """Lock the exam's exports: a builder completing one holds its row (`lock_running_export`),
    so that a ZIP is either complete before the exam's files are listed, or never completed."""
    conn.execute("SELECT id FROM export WHERE exam_id = %s ORDER BY id FOR UPDATE", (exam_id,))


def delete_exam(conn: Connection, exam_id: int) -> None:
    conn.execute("DELETE FROM exam WHERE id = %s", (exam_id,))


def assign_exam(conn: Connection, slug: str, examiner_id: int) -> int:
    """Give an exam that belongs to no one (the legacy one) to an examiner; returns how many."""
    try:
        return conn.execute(
            "UPDATE exam SET examiner_id = %s WHERE slug = %s AND examiner_id IS NULL", (examiner_id, slug)
        ).rowcount
    except pg_errors.UniqueViolation as exc:
        raise Conflict(f"That examiner already has an exam with the id {slug}.") from exc


def link_key(conn: Connection, new_key_id: str, examiner_id: int) -> None:
    try:
        conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (new_key_id, examiner_id))
    except pg_errors.UniqueViolation as exc:
        raise Conflict("That API key already belongs to an examiner.") from exc


def known_examiner(conn: Connection, api_key_id: str) -> int | None:
    found = conn.execute("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (api_key_id,)).fetchone()
    return None if found is None else int(found["examiner_id"])


# --- students ---------------------------------------------------------------------------

_STUDENT_COLUMNS = """s.id, s.nickname, s.first_name, s.last_name, s.email, s.upload_code, s.created_at,
    s.extension_due_at, s.extension_cutoff_at, s.extra_attempts, s.pseudonym"""
_SUBMISSION_JSON = """jsonb_build_object(
    'upload_id', {t}.upload_id, 'verification_code', {t}.verification_code,
    'filename', {t}.filename, 'content_type', {t}.content_type, 'size_bytes', {t}.size_bytes,
    'sha256', {t}.sha256, 'submitted_at', {t}.submitted_at, 'expires_at', {t}.expires_at,
    'status', {t}.status, 'late', {t}.late, 'receipt', {t}.receipt)"""
_SUMMARY_COLUMNS = f"""{_STUDENT_COLUMNS},
    (SELECT count(*) FROM submission c WHERE c.student_id = s.id) AS attempts_used,
    CASE WHEN latest.id IS NULL THEN NULL ELSE {_SUBMISSION_JSON.format(t="latest")} END AS current"""
# The roster's filters: who handed in, who handed in late, who has not handed in yet.
_STUDENT_FILTERS = {
    None: "true",
    "handed_in": "latest.id IS NOT NULL",
    "late": "latest.late",
    "none": "latest.id IS NULL",
}

_UNIQUE_MESSAGES = {
    "student_nickname_per_exam": "A student with this nickname is already in the exam.",
    "student_email_per_exam": "A student with this email is already in the exam.",
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


@dataclass(frozen=True)
class StudentSummaryRow(StudentRow):
    attempts_used: int
    current: dict[str, Any] | None


@dataclass(frozen=True)
class StudentDetailRow(StudentSummaryRow):
    submissions: list[dict[str, Any]]


class PseudonymTaken(Exception):
    """A pseudonym drawn for a new student is another's in the exam: draw again."""


def insert_students(conn: Connection, exam_id: int, students: list[Row]) -> list[StudentRow]:
    """Insert students of an exam (dicts with nickname, first_name, last_name, email, upload_code,
    pseudonym). A pseudonym taken in the exam raises PseudonymTaken, and leaves the transaction
    unusable: the caller inserts in a savepoint."""
    try:
        with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
            cur.executemany(
                f"""INSERT INTO student AS s (exam_id, nickname, first_name, last_name, email, upload_code, pseudonym)
                    VALUES (%(exam_id)s, %(nickname)s, %(first_name)s, %(last_name)s, %(email)s, %(upload_code)s,
                            %(pseudonym)s)
                    RETURNING {_STUDENT_COLUMNS}""",
                [{**student, "exam_id": exam_id} for student in students],
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


def students_by_nicknames_or_emails(
    conn: Connection, exam_id: int, nicknames: list[str], emails: list[str]
) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"""SELECT {_STUDENT_COLUMNS} FROM student s
                WHERE s.exam_id = %s AND (lower(s.nickname) = ANY(%s) OR lower(s.email) = ANY(%s))""",
            (exam_id, [n.lower() for n in nicknames], [e.lower() for e in emails]),
        ).fetchall()


def student_page(
    conn: Connection, exam_id: int, after_id: int, limit: int, status: str | None
) -> list[StudentSummaryRow]:
    """One statement per page, whatever its size: attempts and latest submission inline."""
    with conn.cursor(row_factory=rows_of(StudentSummaryRow)) as cur:
        return cur.execute(
            f"""SELECT {_SUMMARY_COLUMNS} FROM student s {_LATEST}
                WHERE s.exam_id = %s AND s.id > %s AND {_STUDENT_FILTERS[status]}
                ORDER BY s.id LIMIT %s""",
            (exam_id, after_id, limit),
        ).fetchall()


def student_summaries(conn: Connection, exam_id: int, nicknames: list[str]) -> list[StudentSummaryRow]:
    with conn.cursor(row_factory=rows_of(StudentSummaryRow)) as cur:
        return cur.execute(
            f"""SELECT {_SUMMARY_COLUMNS} FROM student s {_LATEST}
                WHERE s.exam_id = %s AND lower(s.nickname) = ANY(%s) ORDER BY s.id""",
            (exam_id, [n.lower() for n in nicknames]),
        ).fetchall()


def roster(conn: Connection, exam_id: int) -> list[StudentRow]:
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        return cur.execute(
            f"SELECT {_STUDENT_COLUMNS} FROM student s WHERE s.exam_id = %s ORDER BY s.id", (exam_id,)
        ).fetchall()


def student_detail(conn: Connection, exam_id: int, nickname: str) -> StudentDetailRow | None:
    with conn.cursor(row_factory=rows_of(StudentDetailRow)) as cur:
        return cur.execute(
            f"""SELECT {_SUMMARY_COLUMNS},
                  COALESCE((SELECT jsonb_agg({_SUBMISSION_JSON.format(t="a")} ORDER BY a.issue_seq)
                            FROM submission a WHERE a.student_id = s.id), '[]'::jsonb) AS submissions
                FROM student s {_LATEST} WHERE s.exam_id = %s AND lower(s.nickname) = lower(%s)""",
            (exam_id, nickname),
        ).fetchone()


@dataclass(frozen=True)
class StudentKeys:
    id: int
    keys: list[str]


def lock_student_for_deletion(conn: Connection, exam_id: int, nickname: str) -> StudentKeys | None:
    """Lock the student (the recorder waits) and list every object key it ever had: every
    version of each goes, those already gone cost a listing, and one whose delete failed earlier
    goes now."""
    with conn.cursor(row_factory=rows_of(StudentKeys)) as cur:
        return cur.execute(
            """SELECT s.id, COALESCE(array_agg(u.object_key) FILTER (WHERE u.id IS NOT NULL), '{}') AS keys
               FROM student s
               LEFT JOIN upload u ON u.student_id = s.id
               WHERE s.id = (SELECT id FROM student WHERE exam_id = %s AND lower(nickname) = lower(%s) FOR UPDATE)
               GROUP BY s.id""",
            (exam_id, nickname),
        ).fetchone()


def delete_student(conn: Connection, student_id: int) -> None:
    conn.execute("DELETE FROM student WHERE id = %s", (student_id,))


def set_extensions(conn: Connection, exam_id: int, extensions: list[Row]) -> int:
    """Give students of the exam (by nickname) their extension: due, cut-off, extra attempts;
    None times remove it. Returns how many students were found."""
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE student SET extension_due_at = %(due_at)s, extension_cutoff_at = %(cutoff_at)s,
                                  extra_attempts = %(extra_attempts)s
               WHERE exam_id = %(exam_id)s AND lower(nickname) = lower(%(nickname)s)""",
            [{**extension, "exam_id": exam_id} for extension in extensions],
        )
        return cur.rowcount


def nicknames_of(conn: Connection, exam_id: int, nicknames: list[str]) -> set[str]:
    """Which of these nicknames (lowercased) are students of the exam."""
    rows = conn.execute(
        "SELECT lower(nickname) AS nickname FROM student WHERE exam_id = %s AND lower(nickname) = ANY(%s)",
        (exam_id, [n.lower() for n in nicknames]),
    ).fetchall()
    return {row["nickname"] for row in rows}


# --- uploads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormRequester:
    """The student asking for a form, locked, with the exam's window and what it has used."""

    id: int
    exam_key: int  # the exam's internal id: the prefix of its students' object keys
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    max_attempts: int
    extension_due_at: datetime | None
    extension_cutoff_at: datetime | None
    extra_attempts: int

    @property
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)


def lock_student_by_upload_code(conn: Connection, upload_code: str) -> tuple[FormRequester, int, int] | None:
    """The student, locked until the form is recorded, and what it has used (attempts, open
    forms): the counts come from a second statement, whose snapshot sees every form a concurrent
    request added while this one waited for the lock (a single statement would count from
    before the wait)."""
    with conn.cursor(row_factory=rows_of(FormRequester)) as cur:
        locked = cur.execute(
            """SELECT s.id, e.id AS exam_key, e.opens_at, e.due_at, e.cutoff_at, e.max_attempts,
                      s.extension_due_at, s.extension_cutoff_at, s.extra_attempts
               FROM student s JOIN exam e ON e.id = s.exam_id
               WHERE s.upload_code = %s FOR UPDATE OF s""",
            (upload_code,),
        ).fetchone()
    if locked is None:
        return None
    counts = conn.execute(
        """SELECT (SELECT count(*) FROM submission c WHERE c.student_id = %(id)s) AS attempts_used,
                  (SELECT count(*) FROM upload o WHERE o.student_id = %(id)s AND o.status = 'pending'
                     AND o.form_expires_at > now()) AS open_forms""",
        {"id": locked.id},
    ).fetchone()
    assert counts is not None  # a SELECT without FROM returns one row
    return locked, int(counts["attempts_used"]), int(counts["open_forms"])


def insert_upload(
    conn: Connection,
    *,
    upload_id: UUID,
    student_id: int,
    object_key: str,
    filename: str,
    content_type: str,
    form_expires_at: datetime,
    expected_sha256: str | None,
) -> None:
    conn.execute(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, expected_sha256)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (upload_id, student_id, object_key, filename, content_type, form_expires_at, expected_sha256),
    )


@dataclass(frozen=True)
class ProgressRow:
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: str
    max_attempts: int
    extension_due_at: datetime | None
    extension_cutoff_at: datetime | None
    extra_attempts: int
    first_name: str
    last_name: str
    attempts_used: int
    current: dict[str, Any] | None
    uploads: list[dict[str, Any]]

    @property
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)


def upload_progress(conn: Connection, upload_code: str) -> ProgressRow | None:
    with conn.cursor(row_factory=rows_of(ProgressRow)) as cur:
        return cur.execute(
            f"""SELECT e.title, e.opens_at, e.due_at, e.cutoff_at, e.timezone, e.max_attempts,
                  s.extension_due_at, s.extension_cutoff_at, s.extra_attempts, s.first_name, s.last_name,
                  (SELECT count(*) FROM submission c WHERE c.student_id = s.id) AS attempts_used,
                  CASE WHEN latest.id IS NULL THEN NULL ELSE {_SUBMISSION_JSON.format(t="latest")} END AS current,
                  COALESCE((SELECT jsonb_agg(jsonb_build_object('upload_id', u.id, 'status', u.status,
                                             'rejection_reason', u.rejection_reason) ORDER BY u.issue_seq)
                            FROM upload u WHERE u.student_id = s.id), '[]'::jsonb) AS uploads
                FROM student s JOIN exam e ON e.id = s.exam_id {_LATEST}
                WHERE s.upload_code = %s""",
            (upload_code,),
        ).fetchone()


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedUpload:
    """An upload form's row, locked by the recorder with its student."""

    id: UUID
    student_id: int
    issue_seq: int
    status: UploadStatus
    version_id: str | None
    object_key: str
    filename: str
    content_type: str  # as the student's browser declared it (S3 stores the type it is served as)
    expected_sha256: str | None
    form_expires_at: datetime

    @property
    def facts(self) -> UploadFacts:
        return UploadFacts(self.status, self.version_id, self.issue_seq, self.expected_sha256, self.form_expires_at)


@dataclass(frozen=True)
class RecordingState:
    """What the limit, the one-current rule and the late flag need to know of a student."""

    student_id: int
    attempts_used: int
    current_issue_seq: int | None
    max_attempts: int  # the exam's plus the extension's extra attempts
    due_at: datetime  # the exam's, or the extension's when later
    cutoff_at: datetime  # likewise: the cut-off in force now
    exam_key: int
    exam_slug: str
    nickname: str
    pseudonym: str
    anonymous: bool  # the exam's: its receipts name the pseudonym
    last_receipt_sha256: str | None  # the student's latest receipt, which the next one names


@dataclass(frozen=True)
class NewSubmission:
    upload_id: UUID
    student_id: int
    issue_seq: int
    version_id: str
    verification_code: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    expires_at: datetime
    late: bool
    status: SubmissionStatus
    sha256_checked_by_s3: bool
    receipt: str | None = None  # signed once the batch's decisions are made


@dataclass(frozen=True)
class Rejection:
    upload_id: UUID
    version_id: str
    reason: str


@dataclass(frozen=True)
class UsedVersion:
    """The version a used form's record is about, not yet confirmed deleted from S3."""

    upload_id: UUID
    object_key: str
    version_id: str
    status: UploadStatus
    issue_seq: int
    submission_status: SubmissionStatus | None

    @property
    def facts(self) -> UploadFacts:
        return UploadFacts(self.status, self.version_id, self.issue_seq)


def keys_with_pinned_checksum(conn: Connection, object_keys: list[str]) -> set[str]:
    """The keys among these whose form pinned a SHA-256 (S3 checked the bytes and keeps it):
    the recorder reads those objects with a HEAD, the others with a GET."""
    rows = conn.execute(
        "SELECT object_key FROM upload WHERE object_key = ANY(%s) AND expected_sha256 IS NOT NULL",
        (object_keys,),
    ).fetchall()
    return {row["object_key"] for row in rows}


def lock_uploads(conn: Connection, object_keys: list[str]) -> dict[str, LockedUpload]:
    """The uploads behind a batch's objects, with their students locked: recordings of one
    student queue here, so the limit and the one-current rule see every earlier recording.
    Rows are locked in student order, so two batches never wait for each other in a circle."""
    with conn.cursor(row_factory=rows_of(LockedUpload)) as cur:
        rows = cur.execute(
            """SELECT u.id, u.student_id, u.issue_seq, u.status, u.version_id, u.object_key, u.filename,
                      u.content_type, u.expected_sha256, u.form_expires_at
               FROM upload u JOIN student s ON s.id = u.student_id
               WHERE u.object_key = ANY(%s)
               ORDER BY s.id, u.issue_seq
               FOR UPDATE OF s, u""",
            (object_keys,),
        ).fetchall()
    return {row.object_key: row for row in rows}


def recording_states(conn: Connection, student_ids: list[int]) -> dict[int, RecordingState]:
    """Run after lock_uploads, in its own statement so that it sees what the lock waited for."""
    with conn.cursor(row_factory=rows_of(RecordingState)) as cur:
        rows = cur.execute(
            """SELECT s.id AS student_id,
                      (SELECT count(*) FROM submission x WHERE x.student_id = s.id) AS attempts_used,
                      (SELECT max(x.issue_seq) FROM submission x
                        WHERE x.student_id = s.id AND x.status = 'current') AS current_issue_seq,
                      e.max_attempts + s.extra_attempts AS max_attempts,
                      greatest(e.due_at, s.extension_due_at) AS due_at,
                      greatest(e.cutoff_at, s.extension_cutoff_at) AS cutoff_at,
                      e.id AS exam_key, e.slug AS exam_slug, s.nickname, s.pseudonym, e.anonymous,
                      (SELECT encode(sha256(convert_to(r.receipt, 'UTF8')), 'hex') FROM submission r
                        WHERE r.student_id = s.id AND r.receipt IS NOT NULL
                        ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1) AS last_receipt_sha256
               FROM student s JOIN exam e ON e.id = s.exam_id WHERE s.id = ANY(%s)""",
            (student_ids,),
        ).fetchall()
    return {row.student_id: row for row in rows}


def supersede_current(conn: Connection, student_ids: list[int]) -> None:
    conn.execute(
        "UPDATE submission SET status = 'superseded' WHERE student_id = ANY(%s) AND status = 'current'",
        (student_ids,),
    )


def insert_submissions(conn: Connection, submissions: list[NewSubmission]) -> None:
    """Record the submissions and mark their forms used, in one pipelined statement each."""
    rows = [asdict(submission) for submission in submissions]
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE upload SET status = 'recorded', version_id = %(version_id)s WHERE id = %(upload_id)s""",
            rows,
        )
        cur.executemany(
            """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                       size_bytes, sha256, submitted_at, expires_at, late, status,
                                       sha256_checked_by_s3, receipt)
               VALUES (%(upload_id)s, %(student_id)s, %(issue_seq)s, %(verification_code)s, %(filename)s,
                       %(content_type)s, %(size_bytes)s, %(sha256)s, %(submitted_at)s, %(expires_at)s, %(late)s,
                       %(status)s, %(sha256_checked_by_s3)s, %(receipt)s)""",
            rows,
        )


def reject_uploads(conn: Connection, rejections: list[Rejection]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE upload SET status = 'rejected', rejection_reason = %(reason)s, version_id = %(version_id)s
               WHERE id = %(upload_id)s""",
            [asdict(rejection) for rejection in rejections],
        )


def unconfirmed_versions(conn: Connection, student_ids: list[int]) -> list[UsedVersion]:
    """Every version these students' used forms are about that S3 has not confirmed deleted:
    the recorder asks for the deletes of those that must go again, so one that failed is redone."""
    with conn.cursor(row_factory=rows_of(UsedVersion)) as cur:
        return cur.execute(
            """SELECT u.id AS upload_id, u.object_key, u.version_id, u.status, u.issue_seq,
                      x.status AS submission_status
               FROM upload u LEFT JOIN submission x ON x.upload_id = u.id
               WHERE u.student_id = ANY(%s) AND u.version_id IS NOT NULL AND u.object_deleted_at IS NULL""",
            (student_ids,),
        ).fetchall()


def mark_objects_deleted(conn: Connection, upload_ids: list[UUID]) -> int:
    """Mark forms' versions as gone from S3 (once S3 confirmed); returns how many were not marked yet."""
    cur = conn.execute(
        "UPDATE upload SET object_deleted_at = now() WHERE id = ANY(%s) AND object_deleted_at IS NULL",
        (upload_ids,),
    )
    return cur.rowcount


@dataclass(frozen=True)
class UploadRecord:
    """What the records say of one form's object, for the reconcile job."""

    upload_id: UUID
    object_key: str
    status: UploadStatus
    version_id: str | None
    issue_seq: int
    form_expires_at: datetime
    object_deleted_at: datetime | None
    submission_status: SubmissionStatus | None
    recorded_at: datetime | None
    expires_at: datetime | None

    @property
    def facts(self) -> UploadFacts:
        return UploadFacts(self.status, self.version_id, self.issue_seq)


def upload_records(conn: Connection, listed_keys: list[str]) -> list[UploadRecord]:
    """What the records say of every object that exists or should: forms whose version was not
    deleted, plus those of the listed keys (an object that came back after its delete)."""
    with conn.cursor(row_factory=rows_of(UploadRecord)) as cur:
        return cur.execute(
            """SELECT u.id AS upload_id, u.object_key, u.status, u.version_id, u.issue_seq, u.form_expires_at,
                      u.object_deleted_at, x.status AS submission_status, x.recorded_at, x.expires_at
               FROM upload u LEFT JOIN submission x ON x.upload_id = u.id
               WHERE u.object_deleted_at IS NULL OR u.object_key = ANY(%s)""",
            (listed_keys,),
        ).fetchall()


def delete_unused_uploads(conn: Connection, upload_ids: list[UUID], form_expired_before: datetime) -> int:
    """Forget forms that expired unused; a form recorded meanwhile is no longer pending."""
    cur = conn.execute(
        "DELETE FROM upload WHERE id = ANY(%s) AND status = 'pending' AND form_expires_at < %s",
        (upload_ids, form_expired_before),
    )
    return cur.rowcount


@dataclass(frozen=True)
class ExpiredVersion:
    upload_id: UUID
    object_key: str
    version_id: str


def expire_submissions(conn: Connection, now: datetime) -> list[ExpiredVersion]:
    """Mark current submissions past their retention as expired; returns their versions."""
    with conn.cursor(row_factory=rows_of(ExpiredVersion)) as cur:
        return cur.execute(
            """WITH expired AS (
                 UPDATE submission SET status = 'expired' WHERE status = 'current' AND expires_at <= %s
                 RETURNING upload_id)
               SELECT u.id AS upload_id, u.object_key, u.version_id
               FROM upload u JOIN expired e ON e.upload_id = u.id""",
            (now,),
        ).fetchall()


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedSubmission:
    verification_code: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    expires_at: datetime
    status: SubmissionStatus
    late: bool
    object_key: str
    version_id: str
    object_deleted_at: datetime | None
    first_name: str
    last_name: str
    exam_title: str
    anonymous: bool


def submission_by_code(conn: Connection, verification_code: str) -> VerifiedSubmission | None:
    with conn.cursor(row_factory=rows_of(VerifiedSubmission)) as cur:
        return cur.execute(
            """SELECT x.verification_code, x.filename, x.content_type, x.size_bytes, x.sha256, x.submitted_at,
                      x.expires_at, x.status, x.late, u.object_key, u.version_id, u.object_deleted_at,
                      s.first_name, s.last_name, e.title AS exam_title, e.anonymous
               FROM submission x
               JOIN upload u ON u.id = x.upload_id
               JOIN student s ON s.id = x.student_id
               JOIN exam e ON e.id = s.exam_id
               WHERE x.verification_code = %s""",
            (verification_code,),
        ).fetchone()


# --- receipts ---------------------------------------------------------------------------------


def publish_receipt_key(conn: Connection, kid: str, jwk: dict[str, str]) -> None:
    conn.execute(
        "INSERT INTO receipt_key (kid, jwk) VALUES (%s, %s) ON CONFLICT (kid) DO NOTHING",
        (kid, psycopg.types.json.Jsonb(jwk)),
    )


def receipt_keys(conn: Connection) -> dict[str, dict[str, str]]:
    rows = conn.execute("SELECT kid, jwk FROM receipt_key ORDER BY created_at").fetchall()
    return {row["kid"]: row["jwk"] for row in rows}


@dataclass(frozen=True)
class IssuedReceipt:
    receipt: str | None  # the exact text issued (None for a submission of the first edition)
    status: SubmissionStatus
    expires_at: datetime


def issued_receipt(conn: Connection, verification_code: str) -> IssuedReceipt | None:
    """The receipt issued for a verification code and its submission's status; None once the
    submission is deleted (with its exam or its student)."""
    with conn.cursor(row_factory=rows_of(IssuedReceipt)) as cur:
        return cur.execute(
            "SELECT receipt, status, expires_at FROM submission WHERE verification_code = %s", (verification_code,)
        ).fetchone()


# --- exports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRow:
    id: UUID
    exam_id: int
    status: str
    files_total: int | None
    files_done: int
    bytes: int
    object_key: str
    error: str | None
    created_at: datetime
    expires_at: datetime | None


_EXPORT_COLUMNS = """x.id, x.exam_id, x.status, x.files_total, x.files_done, x.bytes, x.object_key, x.error,
    x.created_at, x.expires_at"""


def insert_export(conn: Connection, export_id: UUID, exam_id: int, object_key: str) -> ExportRow:
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        row = cur.execute(
            f"""INSERT INTO export AS x (id, exam_id, object_key) VALUES (%s, %s, %s)
                RETURNING {_EXPORT_COLUMNS}""",
            (export_id, exam_id, object_key),
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING returns its row
    return row


def export_of(conn: Connection, exam_id: int, export_id: UUID) -> ExportRow | None:
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        return cur.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM export x WHERE x.exam_id = %s AND x.id = %s", (exam_id, export_id)
        ).fetchone()


def start_export(conn: Connection, export_id: UUID) -> ExportRow | None:
    """Mark an export running (again, if an earlier try died); None if it is no longer to be
    built (done, failed, or its exam deleted)."""
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        return cur.execute(
            f"""UPDATE export x SET status = 'running', files_done = 0, bytes = 0
                WHERE x.id = %s AND x.status IN ('queued', 'running')
                RETURNING {_EXPORT_COLUMNS}""",
            (export_id,),
        ).fetchone()


@dataclass(frozen=True)
class ExportedSubmission:
    student_id: int
    nickname: str
    pseudonym: str
    first_name: str
    last_name: str
    filename: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    late: bool
    verification_code: str
    object_key: str
    version_id: str


def exam_for_export(conn: Connection, exam_id: int) -> tuple[str, bool]:
    row = conn.execute("SELECT slug, anonymous FROM exam WHERE id = %s", (exam_id,)).fetchone()
    assert row is not None  # the export's row cascades with its exam
    return str(row["slug"]), bool(row["anonymous"])


# Current submissions: within their retention, their file still stored.
_EXPORTED = """SELECT s.id AS student_id, s.nickname, s.pseudonym, s.first_name, s.last_name, x.filename,
                      x.size_bytes, x.sha256, x.submitted_at, x.late, x.verification_code, u.object_key, u.version_id
               FROM submission x JOIN upload u ON u.id = x.upload_id JOIN student s ON s.id = x.student_id
               WHERE x.status = 'current' AND x.expires_at > %(now)s AND u.object_deleted_at IS NULL"""


def current_submissions(conn: Connection, exam_id: int, now: datetime) -> list[ExportedSubmission]:
    """Every current submission of the exam: what an export holds, listed once. By the name the
    export shows: in an anonymous exam the pseudonym (an order by nickname would tell who is who)."""
    with conn.cursor(row_factory=rows_of(ExportedSubmission)) as cur:
        return cur.execute(
            f"""{_EXPORTED} AND s.exam_id = %(exam)s
                ORDER BY lower(CASE WHEN (SELECT anonymous FROM exam WHERE id = %(exam)s) THEN s.pseudonym
                                    ELSE s.nickname END)""",
            {"exam": exam_id, "now": now},
        ).fetchall()


def current_submission_of(conn: Connection, student_id: int, now: datetime) -> ExportedSubmission | None:
    """One student's current submission, read again when the one an export listed was replaced."""
    with conn.cursor(row_factory=rows_of(ExportedSubmission)) as cur:
        return cur.execute(f"{_EXPORTED} AND s.id = %(student)s", {"student": student_id, "now": now}).fetchone()


def export_progress(conn: Connection, export_id: UUID, *, files_total: int, files_done: int, written: int) -> bool:
    """Write the progress; False when the export is no longer running (its exam was deleted)."""
    return (
        conn.execute(
            "UPDATE export SET files_total = %s, files_done = %s, bytes = %s WHERE id = %s AND status = 'running'",
            (files_total, files_done, written, export_id),
        ).rowcount
        == 1
    )


def lock_running_export(conn: Connection, export_id: UUID) -> bool:
    """Lock a running export until the transaction ends; False when it is gone (its exam deleted)."""
    found = conn.execute("SELECT id FROM export WHERE id = %s AND status = 'running' FOR UPDATE", (export_id,))
    return found.fetchone() is not None


def finish_export(conn: Connection, export_id: UUID, *, files: int, written: int, expires_at: datetime) -> None:
    """Mark it done with the files it holds (fewer than listed if a student was deleted meanwhile)."""
    conn.execute(
        """UPDATE export SET status = 'done', bytes = %s, files_total = %s, files_done = %s, finished_at = now(),
                             expires_at = %s
           WHERE id = %s AND status = 'running'""",
        (written, files, files, expires_at, export_id),
    )


def fail_export(conn: Connection, export_id: UUID, error: str) -> None:
    conn.execute(
        "UPDATE export SET status = 'failed', error = %s, finished_at = now() WHERE id = %s AND status = 'running'",
        (error, export_id),
    )
