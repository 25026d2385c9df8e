"""An exam's question paper as the API answers it: to its examiner, the form to post it with and
what became of it (in the exam's answer); to a student whose clock runs, a link to it."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.domain.statuses import PaperRejectionReason, PaperStatus


class Paper(ApiModel):
    """The exam's current question paper: the one students get."""

    paper_id: UUID
    filename: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime = Field(description="When the storage accepted it.")


class PaperState(ApiModel):
    """What became of one of the exam's paper forms: pending until its file arrives and is checked."""

    paper_id: UUID
    status: PaperStatus
    rejection_reason: PaperRejectionReason | None = None


class PaperForm(ApiModel):
    paper_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime = Field(description="Never later than the exam's opening: S3 refuses the form after it.")
    max_bytes: int


class PaperLink(ApiModel):
    url: str
    expires_at: datetime = Field(description="Never later than the student's own cut-off.")
    filename: str
    size_bytes: int
    sha256: str
