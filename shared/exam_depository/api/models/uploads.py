"""What a student's upload page is answered: the form to post, the exam as they see it."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel, ShownTimeZone, StudentName
from exam_depository.api.models.submissions import Submission
from exam_depository.domain.statuses import Kind, UploadStatus


class UploadForm(ApiModel):
    upload_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime = Field(
        description="Never later than the student's own cut-off: S3 refuses the form after it."
    )
    max_bytes: int
    attempts_used: int
    attempts_left: int
    due_at: datetime = Field(description="The student's own (their clock's, in a timed exam).")
    cutoff_at: datetime
    late: bool = Field(description="An upload now would be after the due time (it is still accepted).")


class ExamWindow(ApiModel):
    """The exam as one student sees it: its window with this student's extension, and once they
    started a timed exam, their clock."""

    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone
    duration_minutes: int | None = Field(description="Null: not timed.")
    has_paper: bool = Field(
        description="The exam has a question paper: GET /submissions/{upload_code}/paper gives it once started "
        "(from the opening in an exam that is not timed)."
    )
    accepted_types: list[Kind] = Field(description="The kinds of file the exam accepts; empty: any.")
    accept: str | None = Field(
        description="The file picker's accept attribute for them (extensions and MIME types); null: any file."
    )


class PersonalWindow(ApiModel):
    due_at: datetime
    cutoff_at: datetime


class Timing(ApiModel):
    """A timed exam's clock for this student: their accommodation, their start."""

    started_at: datetime | None = Field(description="Null until they start.")
    extra_time_percent: int
    extra_time_minutes: int
    time_allowed_seconds: int = Field(description="The duration with their extra time.")
    if_started_now: PersonalWindow | None = Field(
        description="Their due time and cut-off if they started at server_time; null once started, or when "
        "they cannot start (not open yet, no time left, closed)."
    )


class UploadState(ApiModel):
    upload_id: UUID
    status: UploadStatus
    rejection_reason: str | None = Field(
        default=None,
        description="Why it was not handed in: too_large, empty, checksum_mismatch, after_cutoff, limit_reached "
        "(the older reasons, snake_case), or, from its content, wrong-type, pdf-unreadable, pdf-encrypted (as the "
        "published contract spells them).",
    )
    found_type: str | None = Field(
        default=None,
        description="What the file's bytes were found to be (pdf, docx, windows-program, ...), where the exam "
        "restricts its types.",
    )
    message: str | None = Field(default=None, description="For a rejected upload: what to tell the student.")


class UploadProgress(ApiModel):
    exam: ExamWindow
    server_time: datetime = Field(description="The server's clock, so a page can count down without trusting its own.")
    student: StudentName
    attempts_used: int
    attempts_left: int
    current: Submission | None
    uploads: list[UploadState]
    timing: Timing | None = Field(description="Null: the exam is not timed.")


class Started(ApiModel):
    """A student's clock: the same answer however often they start."""

    started_at: datetime
    due_at: datetime = Field(description="Their own: the start plus the time allowed, never after the exam's.")
    cutoff_at: datetime
    time_allowed_seconds: int
    server_time: datetime
