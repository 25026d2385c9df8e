"""What a roster's CSV import answers: the students created and those already there (the students
extended or given extra time by an import are `student_summaries`'). Apart from `roster` so that
the roster's other functions do not define them."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.api.models.roster import Student


class ImportWarning(ApiModel):
    line: int = Field(description="The row's line in the CSV (the header is line 1).")
    field: str = Field(description="The column the warning is about.")
    message: str


class ImportResult(ApiModel):
    created: list[Student]
    existing: list[Student]
    warnings: list[ImportWarning] = Field(
        description="Rows imported as they are, with something to check: an address another student has (allowed: "
        "a shared mailbox gets both students' mail)."
    )
