"""The bodies of the routes that issue a presigned upload form: a student's answer (`UploadRequest`)
and an examiner's question paper (`PaperRequest`). Apart from `inputs`, whose models (an exam, a
student, an extension...) the form routes do not take: a pydantic model costs about 0.3 ms of a
cold start to define, and a student's function loads this module alone."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from exam_depository.domain.characters import unstorable


def _storable(value: str) -> str:
    if unstorable(value):
        raise ValueError("must not contain control characters")
    return value


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


Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{64}$"), AfterValidator(str.lower)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # as inputs' models


class UploadRequest(_Request):
    filename: Filename = "answer"
    content_type: ContentType = "application/octet-stream"
    sha256: Sha256Hex | None = Field(
        default=None, description="Hex SHA-256 of the file (the page computes it): S3 then refuses any other bytes."
    )


class PaperRequest(_Request):
    """An examiner's request for a form to upload the exam's question paper (a PDF)."""

    filename: Filename = "question-paper.pdf"
    sha256: Sha256Hex | None = Field(
        default=None, description="Hex SHA-256 of the file (the console computes it): S3 then refuses any other bytes."
    )
