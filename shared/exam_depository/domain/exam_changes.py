"""An examiner's change of an exam (PATCH), validated: the value types and the window's check are
`exam_inputs`'."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from typing import Any, Self

from pydantic import Field, StrictBool, model_validator

from exam_depository.domain.exam_inputs import (
    CHECK_PDFS_DESCRIPTION,
    EMAIL_RECEIPTS_DESCRIPTION,
    LANGUAGE_DESCRIPTION,
    AcceptedTypes,
    DurationMinutes,
    MaxAttempts,
    TimeZoneName,
    Title,
    WindowInput,
)
from exam_depository.domain.input_model import Instant
from exam_depository.domain.rules import pdf_check_refusal
from exam_depository.domain.statuses import MailLanguage

# The one field of an exam whose null is a value: not timed.
_NULLABLE = frozenset({"duration_minutes"})


class ExamChange(WindowInput):
    """PATCH: only the fields given change; the window is checked as it will be. A field left out
    is kept; a field given as null is a mistake (every one of them has a value), not a removal,
    but for `duration_minutes`, whose null makes the exam untimed."""

    title: Title | None = None
    opens_at: Instant | None = None
    due_at: Instant | None = None
    cutoff_at: Instant | None = None
    timezone: TimeZoneName | None = None
    max_attempts: MaxAttempts | None = None
    anonymous: StrictBool | None = None
    duration_minutes: DurationMinutes | None = Field(default=None, description="Null: the exam is no longer timed.")
    accepted_types: AcceptedTypes | None = Field(default=None, description="Applies to the forms issued after it.")
    check_pdfs: StrictBool | None = Field(default=None, description=CHECK_PDFS_DESCRIPTION)
    email_receipts: StrictBool | None = Field(default=None, description=EMAIL_RECEIPTS_DESCRIPTION)
    language: MailLanguage | None = Field(default=None, description=LANGUAGE_DESCRIPTION)

    @model_validator(mode="after")
    def _pdfs_accepted(self) -> Self:
        # What is given together is checked here; against the stored exam, by the use case.
        if self.accepted_types is not None and self.check_pdfs is not None:
            refusal = pdf_check_refusal(self.accepted_types, self.check_pdfs)
            if refusal is not None:
                raise ValueError(refusal)
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, given: Any) -> Any:
        if isinstance(given, dict):
            nulls = sorted(name for name, value in given.items() if value is None and name not in _NULLABLE)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} must not be null: leave a field out to keep it")
        return given
