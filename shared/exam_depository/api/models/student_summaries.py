"""A student with their clock, extension, accommodation and current hand-in, as the roster's page,
an extension's or accommodation's change and their imports answer."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from datetime import datetime

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.api.models.roster import Student
from exam_depository.api.models.submissions import Submission


class Extension(ApiModel):
    due_at: datetime
    cutoff_at: datetime
    extra_attempts: int


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


class StudentPage(ApiModel):
    items: list[StudentSummary]
    next_cursor: str | None


class ExtensionImportResult(ApiModel):
    extended: list[StudentSummary]


class AccommodationImportResult(ApiModel):
    accommodated: list[StudentSummary]
