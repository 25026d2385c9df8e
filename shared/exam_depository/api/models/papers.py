"""An exam's question paper as the API answers it: to its examiner, the form to post it with; to a
student whose clock runs, a link to it. What became of it is in the exam's answer
(`exams.Paper`, `exams.PaperState`)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel


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
