"""What a roster's CSV import answers: the students created and those already there, the students
extended, the students given extra time. Apart from `roster` so that the roster's other functions
do not define them."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from exam_depository.api.models.common import ApiModel
from exam_depository.api.models.roster import Student, StudentSummary


class ImportResult(ApiModel):
    created: list[Student]
    existing: list[Student]


class ExtensionImportResult(ApiModel):
    extended: list[StudentSummary]


class AccommodationImportResult(ApiModel):
    accommodated: list[StudentSummary]
