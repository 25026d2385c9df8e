"""What a verification code stands for: the submission, its file and its student, for the
reviewer's routes (apart from `uploads`, whose row types they do not use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exam_depository.adapters.db.submissions import stands_in
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.statuses import ScanState, SubmissionStatus, SubmissionWarning


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
    started_at: datetime | None  # the student's start, in a timed exam
    due_at: datetime | None  # what `late` was measured against; None when recorded before it was kept
    exam_pk: int  # whose audit log a download link goes to
    pseudonym: str  # how that log names the student
    scan: ScanState | None  # the malware scan (None: not scanned); the gate of every download
    scan_detail: str | None
    scan_released_at: datetime | None
    warnings: list[SubmissionWarning]
    found_type: str | None  # what its bytes were found to be (None: its exam took any type)
    # Superseded, and kept in place of the student's current file, which cannot be downloaded.
    stands_in: bool = False


def submission_by_code(conn: Connection, verification_code: str) -> VerifiedSubmission | None:
    with conn.cursor(row_factory=rows_of(VerifiedSubmission)) as cur:
        return cur.execute(
            f"""SELECT x.verification_code, x.filename, x.content_type, x.size_bytes, x.sha256, x.submitted_at,
                      x.expires_at, x.status, x.late, u.object_key, u.version_id, u.object_deleted_at,
                      s.first_name, s.last_name, e.title AS exam_title, e.anonymous,
                      s.started_at, x.due_at, e.id AS exam_pk, s.pseudonym,
                      x.scan, x.scan_detail, x.scan_released_at, x.warnings, x.found_type,
                      {stands_in("x")} AS stands_in
               FROM submission x
               JOIN upload u ON u.id = x.upload_id
               JOIN student s ON s.id = x.student_id
               JOIN exam e ON e.id = s.exam_id
               WHERE x.verification_code = %s""",
            (verification_code,),
        ).fetchone()
