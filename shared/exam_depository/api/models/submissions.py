"""A recorded submission, as an examiner's roster and a student's page answer it (and the release
of one that could not be scanned)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.domain.statuses import ScanState, SubmissionStatus, SubmissionWarning


class Submission(ApiModel):
    upload_id: UUID
    verification_code: str | None = Field(
        description="The reviewer's code for this file (a download). Null when your role does not see it."
    )
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    expires_at: datetime = Field(
        description="Kept until then: the retention after the later of the upload and the student's cut-off."
    )
    status: SubmissionStatus
    late: bool
    due_at: datetime | None = Field(
        description="The due time `late` was measured against: the student's own, as it stood when the file "
        "arrived. Null for files handed in before the service recorded it.",
    )
    receipt: str | None = Field(default=None, description="A compact JWS (ES256) of this record, to keep.")
    scan: ScanState | None = Field(
        default=None,
        description="The malware scan: scanning, clean, threat, unsupported or failed. Null: not scanned — handed "
        "in before this deployment scanned files, or scanning is off (such a file is served as before).",
    )
    scan_detail: str | None = Field(
        default=None, description="What the scan found (the threats' names), or why the file could not be scanned."
    )
    scan_released_at: datetime | None = Field(
        default=None,
        description="When the exam's owner released this file after it could not be scanned (null: not released).",
    )
    downloadable: bool = Field(
        default=True,
        description="Whether its verification code gives a download now: the current file (or an earlier one that "
        "stands in for it), and clean, not scanned, or released. A threat never is; a file being scanned is once its "
        "scan ends clean.",
    )
    found_type: str | None = Field(
        default=None, description="What the bytes were found to be (e.g. pdf, docx), where the exam checked types."
    )
    warnings: list[SubmissionWarning] = Field(
        default_factory=list, description="Shown to the examiner, not refused: scanned_pdf (a PDF with no text)."
    )
    stands_in: bool = Field(
        default=False,
        description="An earlier file kept, and downloadable, in place of the student's current one, which cannot "
        "be downloaded (still being scanned, or malware found): no answer is lost to a threat found in a later "
        "try. It no longer stands in once the current file can be downloaded, and is deleted once the current "
        "file's scan has ended clean.",
    )
    earlier_file_kept: bool = Field(
        default=False,
        description="This current file cannot be downloaded, and the student's earlier file, which can, is kept in "
        "its place (the one marked stands_in in the student's submissions).",
    )
