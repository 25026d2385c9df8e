"""Examiners and exams: their statements, and the rows they fill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TypedDict
from uuid import UUID

import psycopg
import psycopg.sql
import psycopg.types.json
from psycopg import errors as pg_errors

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.access import Action, Role, role_refusal
from exam_depository.domain.errors import Conflict, NotFound
from exam_depository.domain.rules import Window
from exam_depository.domain.statuses import Kind, MailLanguage, PaperRejectionReason, PaperStatus


class PaperJson(TypedDict):
    """The exam's current paper, as `EXAM_PAPER_JSON` sends it (the id and instant as JSON text)."""

    paper_id: str
    filename: str
    size_bytes: int
    sha256: str
    uploaded_at: str


class PaperUploadJson(TypedDict):
    """One of the exam's paper forms, as `EXAM_PAPER_JSON` lists them: what became of it."""

    paper_id: str
    status: PaperStatus
    rejection_reason: PaperRejectionReason | None


# How many of an exam's latest paper forms its answer lists (the console follows the newest).
LISTED_PAPER_FORMS = 5

# Two columns of an exam's row, for the statements that select the exam as `e`: `paper`, its
# current paper (a PaperJson, or NULL), and `paper_uploads`, its latest forms newest first (a list
# of PaperUploadJson). An exam has a few forms at most (each replacement before it opens is one).
EXAM_PAPER_JSON = f"""(SELECT jsonb_build_object('paper_id', p.id, 'filename', p.filename, 'size_bytes', p.size_bytes,
                                 'sha256', p.sha256, 'uploaded_at', p.uploaded_at)
     FROM question_paper p WHERE p.exam_id = e.id AND p.status = 'current') AS paper,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('paper_id', f.id, 'status', f.status,
                                                  'rejection_reason', f.rejection_reason) ORDER BY f.issue_seq DESC)
              FROM (SELECT q.id, q.status, q.rejection_reason, q.issue_seq FROM question_paper q
                    WHERE q.exam_id = e.id ORDER BY q.issue_seq DESC LIMIT {LISTED_PAPER_FORMS}) f),
             '[]'::jsonb) AS paper_uploads"""


# The statements that find the caller's exams (`exam_of`, and `exam_counts.exam_page` and
# `counted_exam_of`) join the caller's memberships (`MINE`: exam_member, through the examiner of the caller's key): an
# exam the caller is no member of, or a key that never joined one, finds nothing, whatever the
# ids say, and `exam_of` answers NotFound (the route 404, never 403); a member whose role does not
# allow the action asked for is refused by `domain.access` (403). Every other statement about what
# an exam holds is scoped by the exam_pk obtained that way.
NO_EXAM = "You have no exam with this id."
# The key id of a teacher signed in from an LMS: 'lti:' and their LTI user's public id.
LTI_CALLER_PREFIX = "lti:"

MINE = """JOIN exam_member m ON m.exam_id = e.id
    JOIN examiner_key k ON k.examiner_id = m.examiner_id AND k.api_key_id = %(key)s
    JOIN examiner x ON x.id = m.examiner_id"""
EXAM_COLUMNS = f"""e.id AS exam_pk, e.slug AS exam_id, e.title, e.opens_at, e.due_at, e.cutoff_at, e.timezone,
    e.max_attempts, e.anonymous, e.created_at, e.duration_minutes, e.accepted_types, e.check_pdfs, {EXAM_PAPER_JSON},
    m.role, x.public_id AS member_id, e.email_receipts, e.language, e.codes_sent_at"""


@dataclass(frozen=True)
class ExamRow:
    """An exam as its member sees it: its settings, its current paper and latest paper forms, and
    the caller's role in it."""

    exam_pk: int
    exam_id: str
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: str
    max_attempts: int
    anonymous: bool
    created_at: datetime
    duration_minutes: int | None  # a timed exam's time limit; None: not timed
    accepted_types: list[Kind]  # the kinds of file its forms accept, by content (empty: any)
    check_pdfs: bool  # a PDF must open to be handed in
    paper: PaperJson | None  # its current question paper
    paper_uploads: list[PaperUploadJson]  # its latest paper forms, newest first
    role: Role  # the caller's role in the exam
    member_id: UUID  # the caller's public id (their examiner's), as members and the audit log name them
    email_receipts: bool  # each student with an address is emailed a receipt after an upload
    language: MailLanguage  # of the emails to its students
    codes_sent_at: datetime | None  # the last send-codes accepted (the per-exam limit)

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))  # the column's text, as the enum the rules compare

    @cached_property  # once per exam, not once per student of a page
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)


def examiner_for_key(conn: Connection, api_key_id: str) -> int:
    """The examiner an API key belongs to; a key seen for the first time is a new examiner. A
    teacher from an LMS (`lti:<uuid>`) is made by their launch, never here: one unknown is a
    session of a teacher whose identity is gone (NotFound)."""
    found = conn.execute("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (api_key_id,)).fetchone()
    if found is not None:
        return int(found["examiner_id"])
    if api_key_id.startswith(LTI_CALLER_PREFIX):
        raise NotFound("This session's user is unknown: launch the tool again.")
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
                                 anonymous, duration_minutes, accepted_types, check_pdfs, email_receipts, language)
               VALUES (%(examiner_id)s, %(exam_id)s, %(title)s, %(opens_at)s, %(due_at)s, %(cutoff_at)s,
                       %(timezone)s, %(max_attempts)s, %(anonymous)s, %(duration_minutes)s, %(accepted_types)s,
                       %(check_pdfs)s, %(email_receipts)s, %(language)s)
               RETURNING id""",
            {**exam, "examiner_id": examiner_id},
        ).fetchone()
    except pg_errors.UniqueViolation as exc:
        raise Conflict(f"You already have an exam with the id {exam['exam_id']}.") from exc
    assert row is not None  # INSERT ... RETURNING returns its row
    return int(row["id"])


def exam_of(conn: Connection, api_key_id: str, exam_id: str, *, action: Action, lock: bool = False) -> ExamRow:
    """One of the caller's exams, without counts (a route that acts on its roster needs none);
    `lock` holds it until the transaction ends, and the caller's membership with it: a change
    that waited for the lock reads the role the caller has once it is theirs, not the one they
    had when they asked (a member demoted or removed meanwhile). NotFound when the caller is no
    member of an exam with this id (another examiner's does not exist for them); RoleForbids
    when their role does not allow `action`."""
    with conn.cursor(row_factory=rows_of(ExamRow)) as cur:
        row = cur.execute(
            f"""SELECT {EXAM_COLUMNS} FROM exam e {MINE}
                WHERE m.slug = %(slug)s {"FOR UPDATE OF e FOR SHARE OF m" if lock else ""}""",
            {"key": api_key_id, "slug": exam_id},
        ).fetchone()
    return allowed(row, action)


def allowed[Found: ExamRow](row: Found | None, action: Action) -> Found:
    if row is None:
        raise NotFound(NO_EXAM)
    refusal = role_refusal(row.role, action)
    if refusal is not None:
        raise refusal
    return row


def codes_sent(conn: Connection, exam_pk: int, at: datetime) -> None:
    """The exam's codes were sent now (a send-codes within the cooldown after it is refused)."""
    conn.execute("UPDATE exam SET codes_sent_at = %s WHERE id = %s", (at, exam_pk))


def update_exam(conn: Connection, exam_pk: int, changes: dict[str, object]) -> None:
    assignments = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(name), psycopg.sql.Placeholder(name))
        for name in changes
    )
    conn.execute(
        psycopg.sql.SQL("UPDATE exam SET {} WHERE id = %(id)s").format(assignments), {**changes, "id": exam_pk}
    )


def any_started(conn: Connection, exam_pk: int) -> bool:
    """Whether a student of the exam started their clock."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM student WHERE exam_id = %s AND started_at IS NOT NULL) AS started", (exam_pk,)
    ).fetchone()
    assert row is not None  # EXISTS returns one row
    return bool(row["started"])


def earliest_submission(conn: Connection, exam_pk: int) -> datetime | None:
    """When S3 accepted the first file of the exam that is recorded."""
    row = conn.execute(
        """SELECT min(x.submitted_at) AS earliest FROM submission x JOIN student s ON s.id = x.student_id
           WHERE s.exam_id = %s""",
        (exam_pk,),
    ).fetchone()
    assert row is not None  # an aggregate returns one row
    return row["earliest"]  # type: ignore[no-any-return]


def lock_students(conn: Connection, exam_pk: int) -> None:
    """Lock the exam's students in id order (as the recorder does, so neither waits for the other
    in a circle): a recording in flight commits first, and any later one reads what this
    transaction changes."""
    conn.execute("SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR UPDATE", (exam_pk,))


def latest_extension_cutoff(conn: Connection, exam_pk: int) -> datetime | None:
    """The latest cut-off an extension of the exam gives."""
    row = conn.execute(
        "SELECT max(extension_cutoff_at) AS latest FROM student WHERE exam_id = %s", (exam_pk,)
    ).fetchone()
    assert row is not None  # an aggregate returns one row
    return row["latest"]  # type: ignore[no-any-return]


def keep_until_cutoff(conn: Connection, exam_pk: int, retention_days: int) -> None:
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
        {"exam": exam_pk, "days": retention_days},
    )


def close_exam(conn: Connection, exam_pk: int, now: datetime) -> None:
    """End every student's window now: the exam's cut-off, and any extension's, become `now`
    (its due time and opening too where they were later)."""
    conn.execute(
        """UPDATE exam SET opens_at = least(opens_at, %(now)s), due_at = least(due_at, %(now)s),
                           cutoff_at = least(cutoff_at, %(now)s)
           WHERE id = %(exam)s""",
        {"exam": exam_pk, "now": now},
    )
    conn.execute(
        """UPDATE student SET extension_due_at = least(extension_due_at, %(now)s),
                              extension_cutoff_at = least(extension_cutoff_at, %(now)s)
           WHERE exam_id = %(exam)s AND extension_cutoff_at IS NOT NULL""",
        {"exam": exam_pk, "now": now},
    )


def wake(conn: Connection) -> None:
    """One statement on the connection, so that a paused database resumes (the wake function)."""
    conn.execute("SELECT 1")
