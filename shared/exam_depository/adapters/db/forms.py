"""A student's upload forms: the student locked to issue one or start their clock, the form's row,
and the progress the upload page polls. Apart from `uploads` (what the recorder, the reconcile
job and the expiry job do with the objects posted), whose row types the student's functions do
not use: a frozen dataclass costs about 0.5 ms of a cold start to define."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict
from uuid import UUID

from exam_depository.adapters.db.submissions import LATEST, SUBMISSION_JSON, SubmissionJson
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.rules import Clock, Window, clock_of
from exam_depository.domain.statuses import RejectionReason, UploadStatus

if TYPE_CHECKING:
    from exam_depository.domain.statuses import Kind


class UploadJson(TypedDict):
    """One of a student's forms as `upload_progress` lists them."""

    upload_id: str
    status: UploadStatus
    rejection_reason: RejectionReason | None
    found_type: str | None  # what the bytes were found to be, where the form restricted its types
    accepted_types: list[Kind]  # the kinds its form accepted (empty: any)


@dataclass(frozen=True)
class FormRequester:
    """The student asking for a form or starting their clock, locked, with the exam's window,
    their extension and their clock."""

    id: int
    exam_pk: int  # the prefix of its students' object keys
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    max_attempts: int
    extension_due_at: datetime | None
    extension_cutoff_at: datetime | None
    extra_attempts: int
    duration_minutes: int | None  # the exam's; None: not timed
    started_at: datetime | None
    extra_time_percent: int
    extra_time_minutes: int
    accepted_types: list[Kind]  # the exam's now: the form carries them
    check_pdfs: bool

    @property
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)

    @property
    def clock(self) -> Clock | None:
        return clock_of(self.duration_minutes, self.extra_time_percent, self.extra_time_minutes, self.started_at)


def lock_student_for_start(conn: Connection, upload_code: str) -> FormRequester | None:
    """The student of this code with its exam, locked until the transaction ends: two starts (or
    a start and a form) of one student wait for each other, and the later sees the earlier's
    `started_at`."""
    with conn.cursor(row_factory=rows_of(FormRequester)) as cur:
        return cur.execute(
            """SELECT s.id, e.id AS exam_pk, e.opens_at, e.due_at, e.cutoff_at, e.max_attempts,
                      s.extension_due_at, s.extension_cutoff_at, s.extra_attempts,
                      e.duration_minutes, s.started_at, s.extra_time_percent, s.extra_time_minutes,
                      e.accepted_types, e.check_pdfs
               FROM student s JOIN exam e ON e.id = s.exam_id
               WHERE s.upload_code = %s FOR UPDATE OF s""",
            (upload_code,),
        ).fetchone()


def start_clock(conn: Connection, student_id: int, started_at: datetime) -> None:
    """Set the student's start, once: a start already recorded is never moved."""
    conn.execute("UPDATE student SET started_at = %s WHERE id = %s AND started_at IS NULL", (started_at, student_id))


def lock_student_by_upload_code(conn: Connection, upload_code: str) -> tuple[FormRequester, int, int] | None:
    """The student, locked until the form is recorded, and what it has used (attempts, open
    forms): the counts come from a second statement, whose snapshot sees every form a concurrent
    request added while this one waited for the lock (a single statement would count from
    before the wait)."""
    locked = lock_student_for_start(conn, upload_code)
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
    accepted_types: list[Kind],
    check_pdfs: bool,
) -> None:
    """The form's row, with the rules it was issued under (its expiry, the exam's accepted types
    and PDF check): a later change of the exam's applies to the forms issued after it."""
    conn.execute(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, expected_sha256,
                               accepted_types, check_pdfs)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            upload_id,
            student_id,
            object_key,
            filename,
            content_type,
            form_expires_at,
            expected_sha256,
            accepted_types,
            check_pdfs,
        ),
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
    current: SubmissionJson | None
    uploads: list[UploadJson]
    duration_minutes: int | None  # the exam's; None: not timed
    started_at: datetime | None
    extra_time_percent: int
    extra_time_minutes: int
    has_paper: bool  # the exam has a question paper (only a started student may fetch it)
    accepted_types: list[Kind]  # the exam's now (empty: any)

    @property
    def window(self) -> Window:
        return Window(self.opens_at, self.due_at, self.cutoff_at)

    @property
    def clock(self) -> Clock | None:
        return clock_of(self.duration_minutes, self.extra_time_percent, self.extra_time_minutes, self.started_at)


def upload_progress(conn: Connection, upload_code: str) -> ProgressRow | None:
    with conn.cursor(row_factory=rows_of(ProgressRow)) as cur:
        return cur.execute(
            f"""SELECT e.title, e.opens_at, e.due_at, e.cutoff_at, e.timezone, e.max_attempts,
                  s.extension_due_at, s.extension_cutoff_at, s.extra_attempts, s.first_name, s.last_name,
                  (SELECT count(*) FROM submission c WHERE c.student_id = s.id) AS attempts_used,
                  CASE WHEN latest.id IS NULL THEN NULL ELSE {SUBMISSION_JSON.format(t="latest")} END AS current,
                  COALESCE((SELECT jsonb_agg(jsonb_build_object('upload_id', u.id, 'status', u.status,
                                             'rejection_reason', u.rejection_reason, 'found_type', u.found_type,
                                             'accepted_types', u.accepted_types) ORDER BY u.issue_seq)
                            FROM upload u WHERE u.student_id = s.id), '[]'::jsonb) AS uploads,
                  e.duration_minutes, s.started_at, s.extra_time_percent, s.extra_time_minutes,
                  EXISTS (SELECT 1 FROM question_paper p WHERE p.exam_id = e.id AND p.status = 'current') AS has_paper,
                  e.accepted_types
                FROM student s JOIN exam e ON e.id = s.exam_id {LATEST}
                WHERE s.upload_code = %s""",
            (upload_code,),
        ).fetchone()
