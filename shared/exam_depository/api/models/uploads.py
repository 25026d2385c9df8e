"""What a student's upload page is answered: the form to post, the exam as they see it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel, ShownTimeZone, StudentName, Submission
from exam_depository.domain.statuses import UploadStatus


class UploadForm(ApiModel):
    upload_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime = Field(description="Never later than the cut-off: S3 refuses the form after it.")
    max_bytes: int
    attempts_used: int
    attempts_left: int
    due_at: datetime
    cutoff_at: datetime
    late: bool = Field(description="An upload now would be after the due time (it is still accepted).")


class ExamWindow(ApiModel):
    """The exam as one student sees it: its window with this student's extension."""

    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone


class UploadState(ApiModel):
    upload_id: UUID
    status: UploadStatus
    rejection_reason: str | None = None


class UploadProgress(ApiModel):
    exam: ExamWindow
    server_time: datetime = Field(description="The server's clock, so a page can count down without trusting its own.")
    student: StudentName
    attempts_used: int
    attempts_left: int
    current: Submission | None
    uploads: list[UploadState]
