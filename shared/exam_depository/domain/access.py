"""Who may do what with an exam: its members' roles, the one table of what each role may do, what
each role is shown of its students, and the rules that keep an exam's membership whole. Every
examiner route asks `may` (through `db.exams.exam_of`, which knows the caller's role); a
non-member never gets this far (the exam does not exist for them: 404). The membership's own rules
(an owner always, at most so many members) are `domain.membership`'s: only the members' function
asks them, and every examiner function loads this module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from exam_depository.domain.errors import (
    Conflict,
    DomainError,
    Gone,
    KeyRequired,
    NotFound,
    RoleForbids,
    SessionRequired,
)


class Role(StrEnum):
    OWNER = "owner"  # everything, deleting the exam and managing its members included
    CO_EXAMINER = "co_examiner"  # everything but deleting the exam and managing its members
    GRADER = "grader"  # reads the roster, downloads answers and exports; changes nothing
    INVIGILATOR = "invigilator"  # the roster, extensions and accommodations; never downloads


class Action(StrEnum):
    """What a member does to an exam; each route asks for one (a few routes share one)."""

    EXAM_READ = "exam.read"
    EXAM_UPDATE = "exam.update"
    EXAM_CLOSE = "exam.close"
    EXAM_DELETE = "exam.delete"
    PAPER_UPLOAD = "paper.upload"
    ROSTER_READ = "roster.read"
    ROSTER_DOWNLOAD = "roster.download"  # the CSV, with every upload code
    STUDENT_ADD = "student.add"
    STUDENT_DELETE = "student.delete"
    STUDENT_NEW_CODE = "student.new_code"
    EXTENSION_CHANGE = "extension.change"
    ACCOMMODATION_CHANGE = "accommodation.change"
    EXPORT_CREATE = "export.create"
    EXPORT_READ = "export.read"
    MEMBER_READ = "member.read"
    MEMBER_MANAGE = "member.manage"  # invite, change a role or label, remove another member
    MEMBER_LEAVE = "member.leave"  # remove oneself
    AUDIT_READ = "audit.read"
    SUBMISSION_RELEASE = "submission.release"  # let a file that could not be scanned be downloaded
    STUDENT_SEND_CODES = "student.send_codes"  # email students their upload codes
    LTI_READ = "lti.read"  # the courses the exam is placed in, their syncs and hand-in statuses
    LTI_SYNC = "lti.sync"  # sync the roster with a course's class list
    LTI_LINK = "lti.link"  # place the exam in a course (deep linking)


_EVERYONE = frozenset(Role)
# The roles that run an exam: they may do and see everything.
EXAMINERS = frozenset({Role.OWNER, Role.CO_EXAMINER})

# The table, written out once.
PERMITTED: Mapping[Action, frozenset[Role]] = {
    Action.EXAM_READ: _EVERYONE,
    Action.EXAM_UPDATE: EXAMINERS,
    Action.EXAM_CLOSE: EXAMINERS,
    Action.EXAM_DELETE: frozenset({Role.OWNER}),
    Action.PAPER_UPLOAD: EXAMINERS,
    Action.ROSTER_READ: _EVERYONE,
    Action.ROSTER_DOWNLOAD: EXAMINERS,
    Action.STUDENT_ADD: EXAMINERS,
    Action.STUDENT_DELETE: EXAMINERS,
    Action.STUDENT_NEW_CODE: EXAMINERS,
    Action.EXTENSION_CHANGE: EXAMINERS | {Role.INVIGILATOR},
    Action.ACCOMMODATION_CHANGE: EXAMINERS | {Role.INVIGILATOR},
    Action.EXPORT_CREATE: EXAMINERS | {Role.GRADER},
    Action.EXPORT_READ: EXAMINERS | {Role.GRADER},
    Action.MEMBER_READ: _EVERYONE,
    Action.MEMBER_MANAGE: frozenset({Role.OWNER}),
    Action.MEMBER_LEAVE: _EVERYONE,
    Action.AUDIT_READ: EXAMINERS,
    Action.SUBMISSION_RELEASE: frozenset({Role.OWNER}),
    # Who may download the codes may send them to their owners.
    Action.STUDENT_SEND_CODES: EXAMINERS,
    Action.LTI_READ: _EVERYONE,
    # Who may add students may take them from a course, and place the exam in one.
    Action.LTI_SYNC: EXAMINERS,
    Action.LTI_LINK: EXAMINERS,
}

# How a refusal names a role and an action in its sentence.
_A_ROLE = {
    Role.OWNER: "an owner",
    Role.CO_EXAMINER: "a co-examiner",
    Role.GRADER: "a grader",
    Role.INVIGILATOR: "an invigilator",
}
_TO_DO = {
    Action.EXAM_READ: "read it",
    Action.EXAM_UPDATE: "change it",
    Action.EXAM_CLOSE: "close it",
    Action.EXAM_DELETE: "delete it",
    Action.PAPER_UPLOAD: "upload its question paper",
    Action.ROSTER_READ: "read its roster",
    Action.ROSTER_DOWNLOAD: "download its roster with the upload codes",
    Action.STUDENT_ADD: "add students to it",
    Action.STUDENT_DELETE: "remove its students",
    Action.STUDENT_NEW_CODE: "give a student a new upload code",
    Action.EXTENSION_CHANGE: "change its extensions",
    Action.ACCOMMODATION_CHANGE: "change its accommodations",
    Action.EXPORT_CREATE: "export its answers",
    Action.EXPORT_READ: "read its exports",
    Action.MEMBER_READ: "see its members",
    Action.MEMBER_MANAGE: "manage its members",
    Action.MEMBER_LEAVE: "leave it",
    Action.AUDIT_READ: "read its audit log",
    Action.SUBMISSION_RELEASE: "release a file that could not be scanned for malware",
    Action.STUDENT_SEND_CODES: "email students their upload codes",
    Action.LTI_READ: "see the courses it is placed in",
    Action.LTI_SYNC: "sync its roster with a course",
    Action.LTI_LINK: "place it in a course",
}


def may(role: Role, action: Action) -> bool:
    return role in PERMITTED[action]


def role_refusal(role: Role, action: Action) -> RoleForbids | None:
    """None when the role may; otherwise the 403 that names the role, the action and who may."""
    if may(role, action):
        return None
    allowed = [_A_ROLE[other] for other in Role if other in PERMITTED[action]]
    who = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    return RoleForbids(
        f"As {_A_ROLE[role]} of this exam you cannot {_TO_DO[action]}: only {who} can.",
        extra={"role": role.value, "action": action.value},
    )


def allowed_actions(role: Role) -> list[Action]:
    """What the role may do, in the table's order (what an exam's answer tells the console)."""
    return [action for action in Action if may(role, action)]


class Redemption(StrEnum):
    """Why an invitation code made no member, as the database found it."""

    UNKNOWN = "unknown"  # no invitation has this code
    USED = "used"
    EXPIRED = "expired"
    ALREADY_MEMBER = "already_member"  # the caller is a member of the exam already
    EXAM_ID_HELD = "exam_id_held"  # the caller has another exam with this exam's id


def invitation_refusal(outcome: Redemption) -> DomainError:
    """The refusal of a redemption. An unused invitation the caller could not redeem (already a
    member, or holding the exam id) stays usable by the one it was meant for."""
    match outcome:
        case Redemption.UNKNOWN:
            return NotFound("No invitation has this code.")
        case Redemption.USED:
            return Gone("This invitation was used already: ask the exam's owner for a new one.")
        case Redemption.EXPIRED:
            return Gone("This invitation has expired: ask the exam's owner for a new one.")
        case Redemption.ALREADY_MEMBER:
            return Conflict("You are a member of this exam already; the invitation stays unused.")
        case Redemption.EXAM_ID_HELD:
            return Conflict(
                "You have another exam with this exam's id; the invitation stays unused. "
                "Leave or delete that exam first."
            )


@dataclass(frozen=True)
class LtiVia:
    """A caller signed in from an LMS: the platform (its issuer), the platform's id of the user, and
    the session's id (what the audit log records of how they came)."""

    platform: str
    lti_user: str
    session: str


@dataclass(frozen=True)
class Caller:
    """Who calls an examiner route: the id (never the value) of the API key API Gateway checked,
    or `lti:<uuid>` for a teacher signed in from an LMS (`via` then says from where), and API
    Gateway's id of the request (what the audit log records as where it came from)."""

    api_key_id: str
    request_id: str | None
    via: LtiVia | None = None


def key_required(caller: Caller) -> None:
    """Refuses a caller signed in from an LMS, where only an API key's holder may act."""
    if caller.via is not None:
        raise KeyRequired("Registering a platform needs an API key; a session from the LMS cannot.")


def session_required(caller: Caller) -> None:
    """Refuses a key's caller where only a launch from the LMS makes sense."""
    if caller.via is None:
        raise SessionRequired("Only a session from the LMS can do this: open the tool from your course.")
