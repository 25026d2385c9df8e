"""What an examiner may ask of an exam's roster, validated: a student, an extension, extra time,
a file's release, and the value types they are made of (nicknames, names, emails). Shared by the
JSON bodies of the API and the rows of a CSV roster, and taken by the use cases as their
arguments. The requests' base, the check of a name, an instant and the words of an error are
`domain.input_model`'s; an exam's requests are `domain.exam_inputs`, the members'
`domain.member_inputs`: a function loads only its audience's models."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

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
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(shown_as_written),
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


# --- malware scans ----------------------------------------------------------------------------


class ReleaseIn(InputModel):
    """The exam's owner releases a file that could not be scanned: why, for the audit log."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(shown_as_written)
    ]
