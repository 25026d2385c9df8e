"""An examiner's roster: students, their extensions and accommodations, their clocks, imports."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.api.models.submissions import Submission
from exam_depository.domain.statuses import EmailState, MessageKind, MessageState


class Extension(ApiModel):
    due_at: datetime
    cutoff_at: datetime
    extra_attempts: int


# What a member's role does not see is null (`disclosure.disclosure`): a grader of an anonymous exam
# sees the pseudonym only, an invigilator no code and no pseudonym.
HIDDEN = " Null when your role does not see it."


class Student(ApiModel):
    nickname: str | None = Field(
        description="The student's name in the roster's paths; a grader of an anonymous exam uses the pseudonym"
        " there instead." + HIDDEN
    )
    pseudonym: str | None = Field(
        description="Its name in an anonymous exam's receipts and exports (anon-7K3QX2): random, unique in the exam."
        + HIDDEN
    )
    first_name: str | None = Field(description="The student's first name." + HIDDEN)
    last_name: str | None = Field(description="The student's last name." + HIDDEN)
    email: str | None = Field(description="The student's email, if given." + HIDDEN)
    upload_code: str | None = Field(description="The student's credential for the upload page." + HIDDEN)
    created_at: datetime
    email_state: EmailState | None = Field(
        description="What became of their latest email: queued, sent, delivered, bounced, complained or failed "
        "(null: never emailed, or their address changed since). An address that bounced hard or complained shows "
        "bounced or complained on every student who has it, and nothing more is sent to it." + HIDDEN
    )
    email_state_at: datetime | None = Field(description="When email_state was learned." + HIDDEN)
    email_shared: bool | None = Field(
        description="Another student of the exam has the same address (allowed; shown)." + HIDDEN
    )
    from_lms: bool = Field(
        description="Made or matched from a course of an LMS: their names and address follow the platform's."
    )
    left_course_at: datetime | None = Field(
        description="When the LMS's course stopped listing them (null: listed, or not from an LMS). They keep their "
        "files and may still hand in; launching again or a later sync lists them again."
    )


class StudentSummary(Student):
    attempts_used: int
    attempts_left: int
    max_attempts: int = Field(description="The exam's, plus what an extension grants.")
    due_at: datetime = Field(
        description="This student's own: the exam's, or a later one of an extension; in a timed exam, once they "
        "started, their start plus time_allowed_seconds, never later than that."
    )
    cutoff_at: datetime = Field(
        description="This student's own: late uploads until then. Once started in a timed exam, their due time "
        "plus the exam's late period, never later than the exam's (or extension's) cut-off."
    )
    extension: Extension | None
    started_at: datetime | None = Field(description="When they started their clock (a timed exam), on the server's.")
    extra_time_percent: int = Field(description="Their accommodation: extra time, in percent of the duration.")
    extra_time_minutes: int = Field(description="Their accommodation: extra minutes, after the percentage.")
    time_allowed_seconds: int | None = Field(
        description="The exam's duration with their extra time (null: the exam is not timed)."
    )
    current: Submission | None


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


class StudentPage(ApiModel):
    items: list[StudentSummary]
    next_cursor: str | None
