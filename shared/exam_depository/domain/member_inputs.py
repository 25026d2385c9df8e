"""What an exam's owner may ask of its members, validated: an invitation and a member's change.
Apart from `domain.inputs` so that the members function loads none of the exams' and rosters'
models (their value types and checks)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from exam_depository.domain.access import Role
from exam_depository.domain.input_model import InputModel, shown_as_written

# What the exam's members call someone ("Marker: Sam"): given with the invitation, never an identity.
MemberLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(shown_as_written)
]


class InvitationIn(InputModel):
    role: Role = Field(description="The role the invitee will have: owner, co_examiner, grader or invigilator.")
    label: MemberLabel | None = Field(default=None, description="What the members list calls the invitee.")


class MemberChangeIn(InputModel):
    """PATCH: only the fields given change; a label given as null is removed (a role has no null)."""

    role: Role | None = None
    label: MemberLabel | None = None

    @model_validator(mode="before")
    @classmethod
    def _role_not_null(cls, given: Any) -> Any:
        if isinstance(given, dict) and "role" in given and given["role"] is None:
            raise ValueError("role must not be null: leave it out to keep it")
        return given
