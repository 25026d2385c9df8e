"""An exam's members and invitations."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.domain.access import Role


class InvitationCreated(ApiModel):
    invitation_code: str = Field(
        description="Shown once: the invitee redeems it with their own API key (POST /members/invitations/{code})."
    )
    role: Role
    label: str | None
    expires_at: datetime = Field(description="Unused by then, it can no longer be redeemed.")


class Member(ApiModel):
    member_id: UUID = Field(description="The member's id in every exam (never an API key's id).")
    role: Role
    label: str | None = Field(description="What the owner called them when inviting them.")
    joined_at: datetime
    you: bool = Field(description="This member is you.")


class OpenInvitation(ApiModel):
    role: Role
    label: str | None
    created_at: datetime
    expires_at: datetime


class Members(ApiModel):
    items: list[Member] = Field(description="In the order they joined.")
    invitations: list[OpenInvitation] = Field(description="Neither used nor expired, oldest first (no codes).")
