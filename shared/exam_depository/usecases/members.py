"""What an exam's members do about its membership: an owner invites (a one-time code the invitee
redeems with their own key, so that no one types another's key id), changes a member's role or
label, removes a member; any member reads the list and may leave. The rules are
`domain.access`'s and `domain.membership`'s; each change runs under the exam's row lock, so that the rules read a
membership no one else is changing. Every change appends its event to the exam's audit log, last
in its transaction (the event commits with the change, or neither does)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exam_counts
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.members  # noqa: F401
from exam_depository.adapters import db
from exam_depository.config import RulesSettings, load
from exam_depository.domain import codes
from exam_depository.domain.access import Action, Caller, Redemption, Role, invitation_refusal, role_refusal
from exam_depository.domain.audit import AuditAction, Event, Json, member_actor
from exam_depository.domain.errors import NotFound
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.member_inputs import InvitationIn, MemberChangeIn
from exam_depository.domain.membership import ChangeRole, Invite, Remove, membership_refusal

NO_MEMBER = "The exam has no member with this id."


@dataclass(frozen=True)
class Invited:
    """An invitation as its owner sees it once: with its code (stored only as its SHA-256)."""

    code: str
    role: Role
    label: str | None
    expires_at: datetime


@dataclass(frozen=True)
class Membership:
    """An exam's members and open invitations, as the caller (`exam.member_id`) sees them."""

    exam: db.exams.ExamRow
    members: list[db.members.MemberRow]
    invitations: list[db.members.InvitationRow]


def invite(caller: Caller, exam_id: str, invitation: InvitationIn) -> Invited:
    code = codes.new_code()
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.MEMBER_MANAGE, lock=True)
        members = db.members.members(conn, exam.exam_pk)
        open_invitations = len(db.members.open_invitations(conn, exam.exam_pk))
        refusal = membership_refusal(_roles(members), Invite(invitation.role, open_invitations))
        if refusal is not None:
            raise refusal
        created = db.members.insert_invitation(
            conn,
            exam.exam_pk,
            _digest(code),
            role=invitation.role,
            label=invitation.label,
            invited_by=_examiner_of(members, exam.member_id),
            ttl_hours=load(RulesSettings).invitation_ttl_hours,
        )
        after: dict[str, Json] = {
            "role": created.role.value,
            "label": created.label,
            "expires_at": rfc3339(created.expires_at),
            "code": codes.redact(code),
        }
        invited = Event(
            member_actor(exam, caller), AuditAction.MEMBER_INVITED, f"invitation:{created.invitation_pk}", after=after
        )
        db.audit.append(conn, exam.exam_pk, [invited])
    return Invited(codes.display(code), created.role, created.label, created.expires_at)


def redeem(caller: Caller, invitation_code: str) -> db.exam_counts.CountedExamRow:
    """Join the exam of an invitation with the caller's own key (a key never used yet becomes a
    new examiner); answers the exam as the caller now sees it."""
    code = codes.normalize(invitation_code)
    if code is None:
        raise invitation_refusal(Redemption.UNKNOWN)
    with db.transaction() as conn:
        examiner_id = db.exams.examiner_for_key(conn, caller.api_key_id)
        joined = db.members.redeem(conn, _digest(code), examiner_id)
        if joined is None:
            raise invitation_refusal(db.members.invitation_state(conn, _digest(code)))
        exam = db.exam_counts.counted_exam_of(conn, caller.api_key_id, joined.exam_id, action=Action.EXAM_READ)
        after = {"role": joined.role.value, "label": joined.label, "invitation": f"invitation:{joined.invitation_pk}"}
        event = Event(member_actor(exam, caller), AuditAction.MEMBER_JOINED, _target(exam.member_id), after=after)
        db.audit.append(conn, exam.exam_pk, [event])
    return exam


def list_members(caller: Caller, exam_id: str) -> Membership:
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.MEMBER_READ)
        return Membership(exam, db.members.members(conn, exam.exam_pk), db.members.open_invitations(conn, exam.exam_pk))


def change_member(
    caller: Caller, exam_id: str, member_id: UUID, change: MemberChangeIn
) -> tuple[db.exams.ExamRow, db.members.MemberRow]:
    """Change what is given of a member (an owner's own role too, while another owner remains)."""
    changes = change.model_dump(exclude_unset=True)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.MEMBER_MANAGE, lock=True)
        members = db.members.members(conn, exam.exam_pk)
        member = _member(members, member_id)
        if change.role is not None:
            refusal = membership_refusal(_roles(members), ChangeRole(member.examiner_id, change.role))
            if refusal is not None:
                raise refusal
        changed = {name: value for name, value in changes.items() if value != getattr(member, name)}
        if changed:
            before: dict[str, Json] = {name: _recorded(getattr(member, name)) for name in changed}
            member = db.members.change_member(conn, exam.exam_pk, member.examiner_id, changed)
            after: dict[str, Json] = {name: _recorded(getattr(member, name)) for name in changed}
            event = Event(
                member_actor(exam, caller),
                AuditAction.MEMBER_ROLE_CHANGED,
                _target(member.member_id),
                before=before,
                after=after,
            )
            db.audit.append(conn, exam.exam_pk, [event])
    return exam, member


def remove_member(caller: Caller, exam_id: str, member_id: UUID) -> None:
    """An owner removes a member; any member removes themself (leaves). The exam's last owner
    can do neither: another member becomes an owner first."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.MEMBER_LEAVE, lock=True)
        if member_id != exam.member_id:
            refusal = role_refusal(exam.role, Action.MEMBER_MANAGE)
            if refusal is not None:
                raise refusal
        members = db.members.members(conn, exam.exam_pk)
        member = _member(members, member_id)
        refusal_to_remove = membership_refusal(_roles(members), Remove(member.examiner_id))
        if refusal_to_remove is not None:
            raise refusal_to_remove
        db.members.remove_member(conn, exam.exam_pk, member.examiner_id)
        before: dict[str, Json] = {"role": member.role.value, "label": member.label}
        event = Event(member_actor(exam, caller), AuditAction.MEMBER_REMOVED, _target(member.member_id), before=before)
        db.audit.append(conn, exam.exam_pk, [event])


def _target(member_id: UUID) -> str:
    return f"member:{member_id}"


def _recorded(value: Role | str | None) -> Json:
    return value.value if isinstance(value, Role) else value


def _digest(code: str) -> str:
    """What the database keeps of an invitation's code (its canonical form's SHA-256): a copy of
    the table redeems nothing."""
    return hashlib.sha256(code.encode()).hexdigest()


def _roles(members: list[db.members.MemberRow]) -> list[tuple[int, Role]]:
    return [(member.examiner_id, member.role) for member in members]


def _member(members: list[db.members.MemberRow], member_id: UUID) -> db.members.MemberRow:
    for member in members:
        if member.member_id == member_id:
            return member
    raise NotFound(NO_MEMBER)


def _examiner_of(members: list[db.members.MemberRow], member_id: UUID) -> int:
    return _member(members, member_id).examiner_id
