"""The rules that keep an exam's membership whole: an owner always, and at most so many members
and open invitations. Only the members' function asks them; they are apart from `domain.access`,
which every examiner function loads at its cold start (three dataclasses, about 0.8 ms)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exam_depository.domain.access import Role
from exam_depository.domain.errors import Conflict

# An exam's membership stays small enough to list on one page; an open invitation holds a place
# (so redeeming never exceeds the limit), and a few at a time are enough.
MAX_MEMBERS = 50
MAX_OPEN_INVITATIONS = 20


@dataclass(frozen=True)
class Invite:
    """An owner invites someone with `role`."""

    role: Role
    open_invitations: int  # the exam's invitations not yet redeemed nor expired


@dataclass(frozen=True)
class ChangeRole:
    """An owner gives a member another role."""

    examiner_id: int
    role: Role


@dataclass(frozen=True)
class Remove:
    """An owner removes a member, or a member leaves."""

    examiner_id: int  # the caller themself: leaving


type MemberChange = Invite | ChangeRole | Remove


def membership_refusal(members: Sequence[tuple[int, Role]], change: MemberChange) -> Conflict | None:
    """Whether `change` would leave the exam without an owner, or with more members (invited
    ones included) than it may have. `members` are the exam's (examiner id, role), read under
    the exam's lock; a member the change names who is not among them is the caller's NotFound."""
    if isinstance(change, Invite):
        if change.open_invitations >= MAX_OPEN_INVITATIONS:
            return Conflict(
                f"The exam has {change.open_invitations} open invitations, the most it may have: "
                "wait until one is used or expires."
            )
        if len(members) + change.open_invitations >= MAX_MEMBERS:
            return Conflict(
                f"The exam has {len(members)} members and {change.open_invitations} open invitations: "
                f"it may have at most {MAX_MEMBERS} members."
            )
        return None
    owners = {examiner_id for examiner_id, role in members if role is Role.OWNER}
    loses_an_owner = change.examiner_id in owners and (isinstance(change, Remove) or change.role is not Role.OWNER)
    if loses_an_owner and owners == {change.examiner_id}:
        return Conflict("An exam always has an owner: make another member an owner first.")
    return None
