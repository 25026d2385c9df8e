"""An examiner's roster: a student as the routes that add or change one answer. A student with their
clock, extension and hand-ins is `student_summaries`', with their files and messages
`student_details`': the functions that answer a student alone define neither."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.domain.statuses import EmailState

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
