"""Mail to an exam's students: what a send-codes did."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from pydantic import Field

from exam_depository.api.models.common import ApiModel


class Skipped(ApiModel):
    """The students not invited, by why."""

    no_email: int = Field(description="They have no address.")
    suppressed: int = Field(description="Their address bounced hard or complained: give them another.")
    already_invited: int = Field(description="Invited before (send with resend to invite them again).")
    too_soon: int = Field(description="Invited less than 10 minutes ago.")
    daily_limit: int = Field(description="Invited 3 times in the last 24 hours.")
    from_lms: int = Field(description="They came from an LMS's course: they open the exam from there.")


class CodesQueued(ApiModel):
    queued: int = Field(description="Invitations queued: each student gets their upload link within minutes.")
    skipped: Skipped
