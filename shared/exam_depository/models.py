"""Request and response models: the HTTP contract of DESIGN.md, in pydantic."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from exam_depository.filenames import invisible_characters

NICKNAME_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
# Control characters, and lone surrogates (JSON can carry "\ud800"; UTF-8 cannot store it).
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _shown_as_written(value: str) -> str:
    """A name people read must show what it is: no control characters, and no invisible
    formatting ones (bidi controls can make a name read as another)."""
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain control characters")
    invisible = invisible_characters(value)
    if invisible:
        raise ValueError(f"must not contain invisible formatting characters ({', '.join(invisible)})")
    return value


def _not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("must contain a letter or digit (. and .. name no one in a URL)")
    return value


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain control characters")
    return value


Nickname = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=NICKNAME_PATTERN), AfterValidator(_not_only_dots)
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_shown_as_written),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_shown_as_written),
]
# As a browser sends it: any length up to a sane bound, shortened to 200 keeping the extension
# and cleaned of invisible characters by filenames.client_filename.
Filename = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1024),
    AfterValidator(_storable),
]
# Types are case-insensitive (RFC 9110): Chromium sends .docm as ...macroEnabled.12.
_MEDIA_PART = r"[A-Za-z0-9][A-Za-z0-9_!#$&^.+-]*"
ContentType = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100, pattern=rf"^{_MEDIA_PART}/{_MEDIA_PART}$"),
    AfterValidator(str.lower),
]
SubmissionStatus = Literal["current", "superseded", "expired"]
UploadStatus = Literal["pending", "recorded", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudentIn(_Model):
    nickname: Nickname = Field(description="The examiner's handle: letters, digits, '.', '_', '-'.")
    first_name: PersonName
    last_name: PersonName
    email: Email | None = None


class Submission(_Model):
    upload_id: UUID
    verification_code: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    expires_at: datetime
    status: SubmissionStatus


class Student(_Model):
    id: int
    nickname: str
    first_name: str
    last_name: str
    email: str | None
    upload_code: str
    created_at: datetime


class StudentSummary(Student):
    submission_count: int
    attempts_left: int
    current: Submission | None


class StudentDetail(StudentSummary):
    submissions: list[Submission]


class StudentPage(_Model):
    items: list[StudentSummary]
    next_cursor: str | None


class ImportResult(_Model):
    created: list[Student]
    existing: list[Student]


class UploadRequest(_Model):
    filename: Filename = "answer"
    content_type: ContentType = "application/octet-stream"


class UploadForm(_Model):
    upload_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    attempts_used: int
    attempts_left: int


class StudentName(_Model):
    first_name: str
    last_name: str


class UploadState(_Model):
    upload_id: UUID
    status: UploadStatus
    rejection_reason: str | None = None


class UploadProgress(_Model):
    student: StudentName
    attempts_used: int
    attempts_left: int
    current: Submission | None
    uploads: list[UploadState]


class Verification(_Model):
    verification_code: str
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    submitted_at: datetime
    status: SubmissionStatus
    student: StudentName


class DownloadLink(_Model):
    url: str
    expires_at: datetime


class Problem(_Model):
    """RFC 9457 problem details, the one error shape of every route."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, object]] | None = None
