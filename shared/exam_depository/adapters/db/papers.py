"""An exam's question paper: one row per presigned form (`question_paper`), the paper students get
being its one `current` row: statements and rows. The paper as an exam's answer shows it is in
`exams.EXAM_PAPER_JSON`.

The recorder locks an exam before its forms (`lock_forms`), as the examiner's routes lock the
exam (`exams.exam_of(lock=True)`) before they issue a form, move the opening or delete the exam:
a paper is weighed against the opening in force, and never recorded into an exam being deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.rules import Window

if TYPE_CHECKING:
    from exam_depository.domain.paper_recording import PaperFacts
    from exam_depository.domain.statuses import PaperRejectionReason, PaperStatus


# --- the examiner's form ------------------------------------------------------------------------


def open_forms(conn: Connection, exam_pk: int) -> int:
    """The exam's paper forms that S3 still accepts and nothing arrived for."""
    row = conn.execute(
        """SELECT count(*) AS open FROM question_paper
           WHERE exam_id = %s AND status = 'pending' AND form_expires_at > now()""",
        (exam_pk,),
    ).fetchone()
    assert row is not None  # an aggregate returns one row
    return int(row["open"])


def insert_form(
    conn: Connection,
    *,
    paper_id: UUID,
    exam_pk: int,
    object_key: str,
    filename: str,
    form_expires_at: datetime,
    expected_sha256: str | None,
) -> None:
    conn.execute(
        """INSERT INTO question_paper (id, exam_id, object_key, filename, form_expires_at, expected_sha256)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (paper_id, exam_pk, object_key, filename, form_expires_at, expected_sha256),
    )


# --- the student's link -------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentPaper:
    """The recorded version of an exam's current paper."""

    paper_id: UUID
    object_key: str
    version_id: str
    filename: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class StudentPaper:
    """A student's exam, their clock and extension, and the exam's current paper (its fields None:
    none); whether the student was given a link to a paper of the exam before."""

    student_id: int
    pseudonym: str
    exam_pk: int
    paper_first_linked_at: datetime | None
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    duration_minutes: int | None
    extension_due_at: datetime | None
    extension_cutoff_at: datetime | None
    started_at: datetime | None
    extra_time_percent: int
    extra_time_minutes: int
    paper_id: UUID | None
    object_key: str | None
    version_id: str | None
    filename: str | None
    size_bytes: int | None
    sha256: str | None

    @property
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)

    @property
    def paper(self) -> CurrentPaper | None:
        if (
            self.paper_id is None
            or self.object_key is None
            or self.version_id is None
            or self.filename is None
            or self.size_bytes is None
            or self.sha256 is None
        ):
            return None
        return CurrentPaper(
            self.paper_id, self.object_key, self.version_id, self.filename, self.size_bytes, self.sha256
        )


def student_paper(conn: Connection, upload_code: str) -> StudentPaper | None:
    """One statement: the student of this upload code, their exam and its current paper."""
    with conn.cursor(row_factory=rows_of(StudentPaper)) as cur:
        return cur.execute(
            """SELECT s.id AS student_id, s.pseudonym, e.id AS exam_pk, s.paper_first_linked_at,
                      e.opens_at, e.due_at, e.cutoff_at, e.duration_minutes,
                      s.extension_due_at, s.extension_cutoff_at, s.started_at, s.extra_time_percent,
                      s.extra_time_minutes, p.id AS paper_id, p.object_key, p.version_id, p.filename, p.size_bytes,
                      p.sha256
               FROM student s JOIN exam e ON e.id = s.exam_id
               LEFT JOIN question_paper p ON p.exam_id = e.id AND p.status = 'current'
               WHERE s.upload_code = %s""",
            (upload_code,),
        ).fetchone()


def note_first_link(conn: Connection, student_id: int) -> bool:
    """Note that the student was given a link to the paper for the first time; False when a
    request of theirs noted it first (the first download is recorded once)."""
    return (
        conn.execute(
            """UPDATE student SET paper_first_linked_at = now()
               WHERE id = %s AND paper_first_linked_at IS NULL RETURNING id""",
            (student_id,),
        ).fetchone()
        is not None
    )


# --- recording ----------------------------------------------------------------------------------


def keys_with_pinned_checksum(conn: Connection, object_keys: list[str]) -> set[str]:
    """The keys among these whose form pinned a SHA-256 (S3 checked the bytes and keeps it)."""
    rows = conn.execute(
        "SELECT object_key FROM question_paper WHERE object_key = ANY(%s) AND expected_sha256 IS NOT NULL",
        (object_keys,),
    ).fetchall()
    return {row["object_key"] for row in rows}


@dataclass(frozen=True)
class LockedForm:
    """A paper form's row, locked by the recorder with its exam."""

    id: UUID
    exam_pk: int
    issue_seq: int
    status: PaperStatus
    version_id: str | None
    object_key: str
    expected_sha256: str | None

    @property
    def facts(self) -> PaperFacts:
        from exam_depository.domain.paper_recording import PaperFacts

        return PaperFacts(self.status, self.version_id, self.issue_seq, self.expected_sha256)


def lock_forms(conn: Connection, object_keys: list[str]) -> dict[str, LockedForm]:
    """The forms behind a batch's papers, with their exams locked, in exam order (two batches
    never wait for each other in a circle). The exam's lock waits for an examiner's change of it
    (which locks it FOR UPDATE) and makes that change wait, but not a student added meanwhile (its
    foreign key takes a KEY SHARE lock, which NO KEY UPDATE lets through)."""
    with conn.cursor(row_factory=rows_of(LockedForm)) as cur:
        rows = cur.execute(
            """SELECT q.id, q.exam_id AS exam_pk, q.issue_seq, q.status, q.version_id, q.object_key,
                      q.expected_sha256
               FROM question_paper q JOIN exam e ON e.id = q.exam_id
               WHERE q.object_key = ANY(%s)
               ORDER BY e.id, q.issue_seq
               FOR NO KEY UPDATE OF e, q""",
            (object_keys,),
        ).fetchall()
    return {row.object_key: row for row in rows}


@dataclass(frozen=True)
class PaperState:
    """An exam as the recorder weighs its papers: its opening, and its current paper's form."""

    exam_pk: int
    opens_at: datetime
    current_issue_seq: int | None


def paper_states(conn: Connection, exam_pks: list[int]) -> dict[int, PaperState]:
    """Run after lock_forms, in its own statement so that it sees what the lock waited for."""
    with conn.cursor(row_factory=rows_of(PaperState)) as cur:
        rows = cur.execute(
            """SELECT e.id AS exam_pk, e.opens_at,
                      (SELECT c.issue_seq FROM question_paper c
                        WHERE c.exam_id = e.id AND c.status = 'current') AS current_issue_seq
               FROM exam e WHERE e.id = ANY(%s)""",
            (exam_pks,),
        ).fetchall()
    return {row.exam_pk: row for row in rows}


@dataclass(frozen=True)
class RecordedPaper:
    paper_id: UUID
    status: PaperStatus  # current or superseded
    version_id: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


@dataclass(frozen=True)
class RejectedPaper:
    paper_id: UUID
    version_id: str
    reason: PaperRejectionReason
    uploaded_at: datetime


def supersede_current(conn: Connection, exam_pks: list[int]) -> None:
    """The exams' current papers become superseded (one current per exam: a unique index)."""
    conn.execute(
        "UPDATE question_paper SET status = 'superseded' WHERE exam_id = ANY(%s) AND status = 'current'", (exam_pks,)
    )


def record_papers(conn: Connection, papers: list[RecordedPaper]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE question_paper SET status = %(status)s, version_id = %(version_id)s,
                      size_bytes = %(size_bytes)s, sha256 = %(sha256)s, uploaded_at = %(uploaded_at)s
               WHERE id = %(paper_id)s""",
            [vars(paper) for paper in papers],
        )


def reject_papers(conn: Connection, papers: list[RejectedPaper]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE question_paper SET status = 'rejected', rejection_reason = %(reason)s,
                      version_id = %(version_id)s, uploaded_at = %(uploaded_at)s
               WHERE id = %(paper_id)s""",
            [vars(paper) for paper in papers],
        )


@dataclass(frozen=True)
class UnwantedPaper:
    """A rejected or superseded paper's version that S3 has not confirmed deleted."""

    paper_id: UUID
    object_key: str
    version_id: str


def unwanted_papers(conn: Connection, exam_pks: list[int]) -> list[UnwantedPaper]:
    """Every such version of these exams: the recorder asks for their deletes again, so one that
    failed is redone by the exam's next paper."""
    with conn.cursor(row_factory=rows_of(UnwantedPaper)) as cur:
        return cur.execute(
            """SELECT id AS paper_id, object_key, version_id FROM question_paper
               WHERE exam_id = ANY(%s) AND status IN ('rejected', 'superseded')
                 AND version_id IS NOT NULL AND object_deleted_at IS NULL""",
            (exam_pks,),
        ).fetchall()


def mark_objects_deleted(conn: Connection, paper_ids: list[UUID]) -> None:
    """Mark papers' versions as gone from S3 (once S3 confirmed)."""
    conn.execute(
        "UPDATE question_paper SET object_deleted_at = now() WHERE id = ANY(%s) AND object_deleted_at IS NULL",
        (paper_ids,),
    )
