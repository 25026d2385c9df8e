"""A student with their files and their newest emails, as `GET …/students/{nickname}` answers."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from datetime import datetime

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.api.models.student_summaries import StudentSummary
from exam_depository.api.models.submissions import Submission
from exam_depository.domain.statuses import MessageKind, MessageState


class Message(ApiModel):
    """One email to the student."""

    kind: MessageKind = Field(description="invitation (their upload code), receipt, or rejection (of an upload).")
    state: MessageState = Field(
        description="queued, sending, sent, delivered, bounced, complained, failed, or skipped (never sent: the "
        "address was suppressed, or the examiner changed it, before it was sent)."
    )
    queued_at: datetime
    sent_at: datetime | None = Field(description="When SES accepted it.")
    event_at: datetime | None = Field(description="When the latest of SES's events about it happened.")
    detail: str | None = Field(description="Why it bounced, failed or was skipped, in SES's words.")


class StudentDetail(StudentSummary):
    submissions: list[Submission]
    messages: list[Message] | None = Field(
        description="Their newest emails (up to 20), newest first. Null when your role does not see the student's"
        " names (a message's detail may quote the address)."
    )
