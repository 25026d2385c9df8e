"""What a reviewer is answered: a verification code's file, its download link, a receipt's check, the
receipts' public keys."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from exam_depository.api.models.common import ApiModel, StudentName
from exam_depository.domain.statuses import ScanState, SubmissionStatus, SubmissionWarning


class ExamTitle(ApiModel):
    title: str


class Verification(ApiModel):
    verification_code: str
    exam: ExamTitle
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    submitted_at: datetime
    status: SubmissionStatus
    late: bool
    started_at: datetime | None = Field(description="When the student started their clock, in a timed exam.")
    due_at: datetime | None = Field(
        description="The due time `late` was measured against (null for files handed in before it was recorded)."
    )
    student: StudentName | None = Field(description="None when the exam is anonymous.")
    scan: ScanState | None = Field(
        description="The malware scan: scanning, clean, threat, unsupported or failed; null: not scanned (handed in "
        "before files were scanned, or scanning is off)."
    )
    scan_detail: str | None = Field(description="The threats found, or why the file could not be scanned.")
    scan_released_at: datetime | None = Field(
        description="When the exam's owner released the file after it could not be scanned."
    )
    downloadable: bool = Field(
        description="Whether the download link is given now (the current file, and clean, not scanned or released)."
    )
    warnings: list[SubmissionWarning] = Field(description="scanned_pdf: a PDF without text.")


class DownloadLink(ApiModel):
    url: str
    expires_at: datetime


class ReceiptIn(ApiModel):
    receipt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)]


class ReceiptCheck(ApiModel):
    genuine: bool
    reason: str | None = Field(default=None, description="Why it is not genuine, for people.")
    claims: dict[str, object] | None = Field(default=None, description="What a genuine receipt states.")
    status: SubmissionStatus | None = Field(default=None, description="What became of the file since.")
    scan: ScanState | None = Field(
        default=None,
        description="The file's malware scan now (null: not scanned, or the receipt is not genuine). A receipt "
        "is signed as the file arrives, before the scan: the scan is shown live, never signed.",
    )


class Jwks(ApiModel):
    keys: list[dict[str, str]]
