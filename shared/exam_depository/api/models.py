"""Response models: what the API answers, the HTTP contract of docs/DESIGN.md, in pydantic. What a
caller may ask is `domain/inputs.py`; `views.py` makes these from rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from exam_depository.domain.instants import shown_time_zone
from exam_depository.domain.statuses import ExportStatus, SubmissionStatus, UploadStatus

ShownTimeZone = Annotated[str, AfterValidator(shown_time_zone)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- exams ------------------------------------------------------------------------------------


class ExamCounts(_Model):
    students: int
    handed_in: int
    late: int = Field(description="Students whose latest file was handed in after their due time.")
    none_yet: int


class Exam(_Model):
    exam_id: str
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone
    max_attempts: int
    anonymous: bool
    created_at: datetime
    files_deleted_from: datetime = Field(
        description="When the first of its files is deleted: the earliest 'kept until' of its current files, "
        "or, until one is handed in, the cut-off plus the retention. Export before then."
    )
    counts: ExamCounts


class ExamPage(_Model):
    items: list[Exam]
    next_cursor: str | None


# --- students ---------------------------------------------------------------------------------


class Extension(_Model):
    due_at: datetime
    cutoff_at: datetime
    extra_attempts: int


class Submission(_Model):
    upload_id: UUID
    verification_code: str
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
    receipt: str | None = Field(default=None, description="A compact JWS (ES256) of this record, to keep.")


class Student(_Model):
    nickname: str
    pseudonym: str = Field(
        description="Its name in an anonymous exam's receipts and exports (anon-7K3QX2): random, unique in the exam."
    )
    first_name: str
    last_name: str
    email: str | None
    upload_code: str
    created_at: datetime


class StudentSummary(Student):
    attempts_used: int
    attempts_left: int
    max_attempts: int = Field(description="The exam's, plus what an extension grants.")
    due_at: datetime = Field(description="This student's: the exam's, or a later one of an extension.")
    cutoff_at: datetime
    extension: Extension | None
    current: Submission | None


class StudentDetail(StudentSummary):
    submissions: list[Submission]


class StudentPage(_Model):
    items: list[StudentSummary]
    next_cursor: str | None


class ImportResult(_Model):
    created: list[Student]
    existing: list[Student]


class ExtensionImportResult(_Model):
    extended: list[StudentSummary]


class UploadForm(_Model):
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


class StudentName(_Model):
    first_name: str
    last_name: str


class ExamWindow(_Model):
    """The exam as one student sees it: its window with this student's extension."""

    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone


class UploadState(_Model):
    upload_id: UUID
    status: UploadStatus
    rejection_reason: str | None = None


class UploadProgress(_Model):
    exam: ExamWindow
    server_time: datetime = Field(description="The server's clock, so a page can count down without trusting its own.")
    student: StudentName
    attempts_used: int
    attempts_left: int
    current: Submission | None
    uploads: list[UploadState]


class ExamTitle(_Model):
    title: str


class Verification(_Model):
    verification_code: str
    exam: ExamTitle
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    submitted_at: datetime
    status: SubmissionStatus
    late: bool
    student: StudentName | None = Field(description="None when the exam is anonymous.")


class DownloadLink(_Model):
    url: str
    expires_at: datetime


# --- receipts ---------------------------------------------------------------------------------


class ReceiptIn(_Model):
    receipt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)]


class ReceiptCheck(_Model):
    genuine: bool
    reason: str | None = Field(default=None, description="Why it is not genuine, for people.")
    claims: dict[str, object] | None = Field(default=None, description="What a genuine receipt states.")
    status: SubmissionStatus | None = Field(default=None, description="What became of the file since.")


class Jwks(_Model):
    keys: list[dict[str, str]]


class ExportStarted(_Model):
    export_id: UUID
    status: ExportStatus


class Export(_Model):
    export_id: UUID
    status: ExportStatus
    files_done: int
    files_total: int | None
    bytes: int
    created_at: datetime
    url: str | None = Field(
        default=None, description="When done: a link to the ZIP, minutes long; ask again for a new one."
    )
    expires_at: datetime | None = Field(default=None, description="When done: when the ZIP is deleted.")
    error: str | None = Field(default=None, description="When failed: why. Start another export to retry.")


class Problem(_Model):
    """RFC 9457 problem details, the one error shape of every route."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, object]] | None = None
