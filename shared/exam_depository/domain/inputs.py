"""What an examiner may ask of an exam's roster, validated: a student, an extension, extra time,
and the value types they are made of (nicknames, names, emails). Shared by the JSON bodies of
the API and the rows of a CSV roster, and taken by the use cases as their arguments. The
requests' base, the check of a name, an instant and the words of an error are
`domain.input_model`'s; an exam's requests are `domain.exam_inputs`, the members'
`domain.member_inputs`, a file's release `domain.release_inputs`: a function loads only its
audience's models."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from typing import Annotated, Self

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.input_model import NICKNAME_PATTERN, InputModel, Instant, shown_as_written


def _not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("must contain a letter or digit (. and .. name no one in a URL)")
    return value


Nickname = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=NICKNAME_PATTERN), AfterValidator(_not_only_dots)
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(shown_as_written),
]


def _sendable(value: str) -> str:
    """An address SES can send to (`domain.addresses.normalized_address`), kept as written: the
    examiner sees what they typed, mail goes to its normalized form. Refused in the validator's
    own sentence, without pydantic's "Value error" before it (a CSV's line shows it as it is)."""
    try:
        normalized_address(value)
    except ValueError as exc:
        raise PydanticCustomError("email", str(exc)) from exc
    return value


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(shown_as_written),
    AfterValidator(_sendable),
]
# --- students ---------------------------------------------------------------------------------


class StudentIn(InputModel):
    nickname: Nickname = Field(description="The examiner's handle: letters, digits, '.', '_', '-'.")
    first_name: PersonName
    last_name: PersonName
    email: Email | None = None


class ExtensionIn(InputModel):
    due_at: Instant
    cutoff_at: Instant | None = Field(
        default=None, description="Default: due_at plus the exam's own time between due and cut-off."
    )
    extra_attempts: Annotated[int, Field(ge=0, le=50)] = 0


class AccommodationIn(InputModel):
    """A student's extra time in a timed exam: a percentage of the exam's duration, then minutes
    added to it. Zeros remove it."""

    extra_time_percent: Annotated[int, Field(ge=0, le=300)] = 0
    extra_time_minutes: Annotated[int, Field(ge=0, le=1440)] = 0


class SendCodesIn(InputModel):
    """Email students their upload codes: every student of the exam not yet invited, or those named."""

    nicknames: Annotated[list[Nickname] | None, Field(min_length=1, max_length=5000)] = Field(
        default=None, description="The students to invite (default: every student of the exam)."
    )
    resend: StrictBool = Field(
        default=False, description="Send again to those already invited (at most once in 10 minutes, 3 a day)."
    )

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        # Nicknames are unique per exam whatever their case.
        if self.nicknames is not None and len({n.lower() for n in self.nicknames}) != len(self.nicknames):
            raise ValueError("nicknames must name each student once")
        return self


class EmailChangeIn(InputModel):
    """A student's address, given, changed or removed (null)."""

    email: Email | None
