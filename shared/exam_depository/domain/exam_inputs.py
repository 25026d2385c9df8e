"""What an examiner may ask of an exam, validated: a new exam, and the value types it and a change
of one (`exam_changes`, apart so that creating an exam does not define it) are made of: its id,
title, time zone, window, limits, accepted types. Apart from `domain.inputs` so that the roster's
functions load none of the exams' models, and the exams' functions none of the roster's."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from typing import Annotated, Self

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from exam_depository.domain.input_model import EXAM_ID_PATTERN, InputModel, Instant, shown_as_written
from exam_depository.domain.instants import time_zone_names
from exam_depository.domain.rules import Window, order_refusal, pdf_check_refusal
from exam_depository.domain.statuses import Kind, MailLanguage

DEFAULT_MAX_ATTEMPTS = 5


def _known_time_zone(name: str) -> str:
    if name not in time_zone_names():
        raise ValueError(
            "must be an IANA time zone name that browsers know, such as Europe/Paris "
            "(not localtime, posixrules, Factory or a name under posix/ or right/)"
        )
    return name


TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_time_zone)]
ExamId = Annotated[str, StringConstraints(pattern=EXAM_ID_PATTERN)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(shown_as_written)
]
MaxAttempts = Annotated[int, Field(ge=1, le=50)]
# A timed exam's time limit: a minute to a week.
DurationMinutes = Annotated[int, Field(ge=1, le=10080)]


def _each_once(kinds: list[Kind]) -> list[Kind]:
    if len(set(kinds)) != len(kinds):
        raise ValueError("must name each kind once")
    return kinds


AcceptedTypes = Annotated[
    list[Kind],
    Field(
        max_length=6,
        description="The kinds of file the exam accepts (pdf, word, odt, image, text, zip), checked by the "
        "file's content. Empty: any file.",
    ),
    AfterValidator(_each_once),
]
CHECK_PDFS_DESCRIPTION = (
    "Whether a PDF must open (not damaged, no password) to be handed in; one without text is flagged."
)
EMAIL_RECEIPTS_DESCRIPTION = (
    "Whether each student with an address is emailed a receipt after an upload (or its rejection)."
)
LANGUAGE_DESCRIPTION = (
    "The language of the emails sent to the exam's students (en, de, fr); the pages keep the reader's own."
)


class WindowInput(InputModel):
    """An exam's window, checked in order when all of it is given."""

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        opens, due, cutoff = (getattr(self, name) for name in ("opens_at", "due_at", "cutoff_at"))
        refusal = None if None in (opens, due, cutoff) else order_refusal(Window(opens, due, cutoff))
        if refusal is not None:
            raise ValueError(refusal)
        return self


class ExamIn(WindowInput):
    exam_id: ExamId = Field(description="Your own id for the exam: lowercase letters, digits and '-'.")
    title: Title
    opens_at: Instant
    due_at: Instant
    cutoff_at: Instant = Field(description="Late uploads are accepted until then; equal to due_at for none.")
    timezone: TimeZoneName = Field(description="IANA name, for display only: instants are UTC.")
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS
    anonymous: StrictBool = Field(default=False, description="Reviewers see no names.")
    duration_minutes: DurationMinutes | None = Field(
        default=None,
        description="A timed exam: each student has this long from the moment they start (plus their extra "
        "time), never past their due time. Null: not timed.",
    )
    accepted_types: AcceptedTypes = []  # noqa: RUF012  # pydantic copies a default for each model
    check_pdfs: StrictBool = Field(default=False, description=CHECK_PDFS_DESCRIPTION)
    email_receipts: StrictBool = Field(default=True, description=EMAIL_RECEIPTS_DESCRIPTION)
    language: MailLanguage = Field(default="en", description=LANGUAGE_DESCRIPTION)

    @model_validator(mode="after")
    def _pdfs_accepted(self) -> Self:
        refusal = pdf_check_refusal(self.accepted_types, self.check_pdfs)
        if refusal is not None:
            raise ValueError(refusal)
        return self
