"""The submissions recorded from upload forms: what the recorder locks, reads and writes, what the
expiry job marks, and what the reconcile job reads. Statements and rows. A student's forms are in
`forms`, what a verification code stands for in `verifications`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from exam_depository.adapters.db import messages, windows
from exam_depository.adapters.db.submissions import kept_in_place
from exam_depository.adapters.db.transactions import Connection, Row, rows_of
from exam_depository.domain.statuses import (
    RejectionReason,
    ScanState,
    SubmissionStatus,
    SubmissionWarning,
    UploadStatus,
)

if TYPE_CHECKING:
    import psycopg

    from exam_depository.domain.recording import UploadFacts
    from exam_depository.domain.statuses import Kind


# --- recording ------------------------------------------------------------------------------


def _facts(
    status: UploadStatus,
    version_id: str | None,
    issue_seq: int,
    *,
    expected_sha256: str | None = None,
    form_expires_at: datetime | None = None,
    accepted_types: tuple[Kind, ...] = (),
    check_pdfs: bool = False,
) -> UploadFacts:
    # Imported here: only the recorder and the reconcile job ask for facts, and the recorder's
    # decisions (a dozen dataclasses, ~5 ms at import) would otherwise load in every function.
    from exam_depository.domain.recording import UploadFacts

    return UploadFacts(status, version_id, issue_seq, expected_sha256, form_expires_at, accepted_types, check_pdfs)


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
    accepted_types: list[Kind]  # the exam's when the form was issued (empty: any)
    check_pdfs: bool

    @property
    def facts(self) -> UploadFacts:
        return _facts(
            self.status,
            self.version_id,
            self.issue_seq,
            expected_sha256=self.expected_sha256,
            form_expires_at=self.form_expires_at,
            accepted_types=tuple(self.accepted_types),
            check_pdfs=self.check_pdfs,
        )


@dataclass(frozen=True)
class RecordingState:
    """What the limit, the one-current rule and the late flag need to know of a student."""

    student_id: int
    attempts_used: int
    current_issue_seq: int | None
    max_attempts: int  # the exam's plus the extension's extra attempts
    due_at: datetime  # the student's personal due time (`late` is measured against it)
    # The effective cut-off (the exam's, or the extension's when later): retention counts from
    # it, the examiner collecting once after the exam's last cut-off, whatever a clock says.
    retention_cutoff_at: datetime
    # Until when what S3 accepted is inside a window that was in force then: the personal cut-off
    # in force, or when later the moment an extension was removed or the extra time changed (a
    # file S3 accepted before the removal or the reduction was inside the window then).
    accepted_until: datetime
    started_at: datetime | None  # the student's clock, in a timed exam
    exam_pk: int
    exam_id: str
    nickname: str
    pseudonym: str
    anonymous: bool  # the exam's: its receipts name the pseudonym
    last_receipt_sha256: str | None  # the student's latest receipt, which the next one names
    mail_to: bool  # the exam emails receipts and the student has an address that may be mailed
    lti_scored: bool  # the student came from a course whose gradebook takes hand-in statuses


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
    due_at: datetime  # what `late` was measured against: the student's personal due time
    status: SubmissionStatus
    sha256_checked_by_s3: bool
    receipt: str | None = None  # signed once the batch's decisions are made
    found_type: str | None = None  # what the bytes were found to be (identified where the form restricts types)
    warnings: list[SubmissionWarning] = field(default_factory=list)
    # `scanning` where files are scanned for malware (None: not scanned); a result that came
    # before the recording is taken up instead.
    scan: ScanState | None = None


@dataclass(frozen=True)
class Rejection:
    upload_id: UUID
    version_id: str
    reason: RejectionReason
    found_type: str | None = None


@dataclass(frozen=True)
class UsedVersion:
    """The version a used form's record is about, not yet confirmed deleted from S3."""

    upload_id: UUID
    object_key: str
    version_id: str
    status: UploadStatus
    issue_seq: int
    submission_status: SubmissionStatus | None
    submission_scan: ScanState | None = None
    kept_in_place: bool = False  # superseded, and kept for a current file not found clean yet

    @property
    def facts(self) -> UploadFacts:
        return _facts(self.status, self.version_id, self.issue_seq)


@dataclass(frozen=True)
class ReadingPlan:
    """How the recorder reads a form's object: a pinned checksum is S3's to give (a HEAD), else
    the body is hashed (a GET); the form's types need the first bytes, its PDF check all of them."""

    checksum_pinned: bool
    accepted_types: tuple[Kind, ...]
    check_pdfs: bool


def reading_plans(conn: Connection, object_keys: list[str]) -> dict[str, ReadingPlan]:
    """The reading plan of each of these keys that has a form (a key without one is read whole)."""
    rows = conn.execute(
        """SELECT object_key, expected_sha256 IS NOT NULL AS checksum_pinned, accepted_types, check_pdfs
           FROM upload WHERE object_key = ANY(%s)""",
        (object_keys,),
    ).fetchall()
    return {
        row["object_key"]: ReadingPlan(row["checksum_pinned"], tuple(row["accepted_types"]), row["check_pdfs"])
        for row in rows
    }


def lock_uploads(conn: Connection, object_keys: list[str]) -> dict[str, LockedUpload]:
    """The uploads behind a batch's objects, with their students locked: recordings of one
    student queue here, so the limit and the one-current rule see every earlier recording.
    Rows are locked in student order, so two batches never wait for each other in a circle."""
    with conn.cursor(row_factory=rows_of(LockedUpload)) as cur:
        rows = cur.execute(
            """SELECT u.id, u.student_id, u.issue_seq, u.status, u.version_id, u.object_key, u.filename,
                      u.content_type, u.expected_sha256, u.form_expires_at, u.accepted_types, u.check_pdfs
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
        rows = cur.execute(_states_sql(), (student_ids,)).fetchall()
    return {row.student_id: row for row in rows}


@cache  # the text made once (its windows and suppression are other modules' SQL), not at each batch
def _states_sql() -> str:
    return f"""SELECT s.id AS student_id,
                  (SELECT count(*) FROM submission x WHERE x.student_id = s.id) AS attempts_used,
                  (SELECT max(x.issue_seq) FROM submission x
                    WHERE x.student_id = s.id AND x.status = 'current') AS current_issue_seq,
                  e.max_attempts + s.extra_attempts AS max_attempts,
                  {windows.personal_due()} AS due_at,
                  {windows.effective_cutoff()} AS retention_cutoff_at,
                  greatest({windows.personal_cutoff()}, s.extension_removed_at, s.extra_time_accepted_until)
                    AS accepted_until,
                  s.started_at,
                  e.id AS exam_pk, e.slug AS exam_id, s.nickname, s.pseudonym, e.anonymous,
                  (SELECT encode(sha256(convert_to(r.receipt, 'UTF8')), 'hex') FROM submission r
                    WHERE r.student_id = s.id AND r.receipt IS NOT NULL
                    ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1) AS last_receipt_sha256,
                  e.email_receipts AND s.email_address IS NOT NULL
                    AND NOT {messages.suppressed("s.email_address")} AS mail_to,
                  EXISTS (SELECT 1 FROM lti_learner l JOIN lti_link k ON k.id = l.link_id
                           WHERE l.student_id = s.id AND k.lineitem_url IS NOT NULL) AS lti_scored
           FROM student s JOIN exam e ON e.id = s.exam_id WHERE s.id = ANY(%s)"""


def supersede_current(conn: Connection, student_ids: list[int]) -> None:
    conn.execute(
        "UPDATE submission SET status = 'superseded' WHERE student_id = ANY(%s) AND status = 'current'",
        (student_ids,),
    )


def insert_submissions(conn: Connection, submissions: list[NewSubmission]) -> None:
    """Record the submissions and mark their forms used, in one statement each (pipelined when
    there are several): the form's UPDATE and the submission's INSERT touch different tables, so
    one statement does both. A scan result that arrived before the recording is taken up here,
    under the upload's row lock, which the scan results' function takes too."""
    # Its fields as they are (each a scalar): asdict's deep copy of each was most of this function's time.
    rows = [vars(submission) for submission in submissions]
    with conn.cursor() as cur:
        _each_row(cur, _recording_sql(), rows)


@cache  # the scans' SQL is loaded at the first recording, and the text made once
def _recording_sql() -> str:
    from exam_depository.adapters.db.scans import detail_of, state_of

    return f"""WITH used AS (
                 UPDATE upload SET status = 'recorded', version_id = %(version_id)s, found_type = %(found_type)s
                 WHERE id = %(upload_id)s)
               INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                       size_bytes, sha256, submitted_at, expires_at, late, due_at, status,
                                       sha256_checked_by_s3, receipt, found_type, warnings, scan, scan_detail)
               SELECT %(upload_id)s, %(student_id)s, %(issue_seq)s, %(verification_code)s, %(filename)s,
                      %(content_type)s, %(size_bytes)s, %(sha256)s, %(submitted_at)s, %(expires_at)s, %(late)s,
                      %(due_at)s, %(status)s, %(sha256_checked_by_s3)s, %(receipt)s, %(found_type)s,
                      %(warnings)s::text[], COALESCE(f.scan, %(scan)s), f.scan_detail
               FROM (SELECT NULL) AS one
               LEFT JOIN LATERAL (
                 SELECT {state_of("o.result")} AS scan,
                        {detail_of("o")} AS scan_detail
                 FROM object_scan o WHERE o.upload_id = %(upload_id)s AND o.version_id = %(version_id)s
               ) AS f ON true"""


def reject_uploads(conn: Connection, rejections: list[Rejection]) -> None:
    with conn.cursor() as cur:
        _each_row(
            cur,
            """UPDATE upload SET status = 'rejected', rejection_reason = %(reason)s, version_id = %(version_id)s,
                                 found_type = %(found_type)s
               WHERE id = %(upload_id)s""",
            [asdict(rejection) for rejection in rejections],
        )


def _each_row(cur: psycopg.Cursor[Row], query: str, rows: list[dict[str, Any]]) -> None:
    """One statement per row, pipelined when there are several: a batch of one (most of the
    recorder's) sends its one statement plainly, without entering and leaving a pipeline, which
    made a one-row executemany about twice the CPU of an execute."""
    if len(rows) == 1:
        cur.execute(query, rows[0])
    else:
        cur.executemany(query, rows)


def unconfirmed_versions(conn: Connection, student_ids: list[int]) -> list[UsedVersion]:
    """Every version these students' used forms are about that S3 has not confirmed deleted:
    the recorder asks for the deletes of those that must go again, so one that failed is redone."""
    with conn.cursor(row_factory=rows_of(UsedVersion)) as cur:
        return cur.execute(_unconfirmed_sql(), (student_ids,)).fetchall()


@cache  # the text made once, as `_states_sql`
def _unconfirmed_sql() -> str:
    return f"""SELECT u.id AS upload_id, u.object_key, u.version_id, u.status, u.issue_seq,
                  x.status AS submission_status, x.scan AS submission_scan,
                  COALESCE({kept_in_place("x")}, false) AS kept_in_place
           FROM upload u LEFT JOIN submission x ON x.upload_id = u.id
           WHERE u.student_id = ANY(%s) AND u.version_id IS NOT NULL AND u.object_deleted_at IS NULL"""


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
    submission_scan: ScanState | None = None
    kept_in_place: bool = False  # superseded, and kept for a current file not found clean yet

    @property
    def facts(self) -> UploadFacts:
        return _facts(self.status, self.version_id, self.issue_seq)


def upload_records(conn: Connection, listed_keys: list[str]) -> list[UploadRecord]:
    """What the records say of every object that exists or should: forms whose version was not
    deleted, plus those of the listed keys (an object that came back after its delete)."""
    with conn.cursor(row_factory=rows_of(UploadRecord)) as cur:
        return cur.execute(
            f"""SELECT u.id AS upload_id, u.object_key, u.status, u.version_id, u.issue_seq, u.form_expires_at,
                      u.object_deleted_at, x.status AS submission_status, x.recorded_at, x.expires_at,
                      x.scan AS submission_scan, COALESCE({kept_in_place("x")}, false) AS kept_in_place
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
    """Mark current submissions past their retention as expired, and the superseded ones whose
    file is still kept (malware found, quarantined; an earlier file kept in place of a current one
    not downloadable; a delete not yet confirmed); returns their versions."""
    with conn.cursor(row_factory=rows_of(ExpiredVersion)) as cur:
        return cur.execute(
            """WITH expired AS (
                 UPDATE submission x SET status = 'expired'
                 WHERE (x.status = 'current'
                        OR (x.status = 'superseded' AND EXISTS (
                              SELECT 1 FROM upload k WHERE k.id = x.upload_id AND k.object_deleted_at IS NULL)))
                   AND x.expires_at <= %s
                 RETURNING x.upload_id)
               SELECT u.id AS upload_id, u.object_key, u.version_id
               FROM upload u JOIN expired e ON e.upload_id = u.id""",
            (now,),
        ).fetchall()
