"""What every request model shares: its base (frozen, no field it does not know) and the check a
name people read goes through. A module of its own so that a function taking one kind of input
(the members' invitations) loads its own models without every other audience's (`domain.inputs`:
exams, rosters, releases)."""

from pydantic import BaseModel, ConfigDict

from exam_depository.domain.characters import invisible_characters, unstorable


def shown_as_written(value: str) -> str:
    """A name people read must show what it is: no control characters, and no invisible
    formatting ones (bidi controls can make a name read as another)."""
    if unstorable(value):
        raise ValueError("must not contain control characters")
    invisible = invisible_characters(value)
    if invisible:
        raise ValueError(f"must not contain invisible formatting characters ({', '.join(invisible)})")
    return value


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
