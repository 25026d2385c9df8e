"""What the exam's owner gives to release a file that could not be scanned. Apart from
`domain.inputs` so that the release function loads none of the rosters' models (their value
types and the address check that loads `domain.mail`)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from exam_depository.domain.input_model import InputModel, shown_as_written


class ReleaseIn(InputModel):
    """The exam's owner releases a file that could not be scanned: why, for the audit log."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(shown_as_written)
    ]
