"""Who may do what with an exam: the role × action table written out, what each role is shown,
and the rules that keep a membership whole."""

from __future__ import annotations

import pytest
from exam_depository.domain.access import (
    PERMITTED,
    Action,
    Caller,
    LtiVia,
    Redemption,
    Role,
    allowed_actions,
    invitation_refusal,
    key_required,
    may,
    role_refusal,
    session_required,
)
from exam_depository.domain.disclosure import Disclosure, disclosure
from exam_depository.domain.errors import Conflict, Gone, KeyRequired, NotFound, RoleForbids, SessionRequired
from exam_depository.domain.membership import (
    MAX_MEMBERS,
    MAX_OPEN_INVITATIONS,
    ChangeRole,
    Invite,
    MemberChange,
    Remove,
    membership_refusal,
)

OWN, COE, GRA, INV = Role.OWNER, Role.CO_EXAMINER, Role.GRADER, Role.INVIGILATOR

# The table, written out again by hand (not derived from PERMITTED), so that a change to
# one is a change to both.
TABLE = """
action                 owner  co_examiner  grader  invigilator
exam.read                ✓         ✓          ✓         ✓
exam.update              ✓         ✓          -         -
exam.close               ✓         ✓          -         -
exam.delete              ✓         -          -         -
paper.upload             ✓         ✓          -         -
roster.read              ✓         ✓          ✓         ✓
roster.download          ✓         ✓          -         -
student.add              ✓         ✓          -         -
student.delete           ✓         ✓          -         -
student.new_code         ✓         ✓          -         -
extension.change         ✓         ✓          -         ✓
accommodation.change     ✓         ✓          -         ✓
export.create            ✓         ✓          ✓         -
export.read              ✓         ✓          ✓         -
member.read              ✓         ✓          ✓         ✓
member.manage            ✓         -          -         -
member.leave             ✓         ✓          ✓         ✓
audit.read               ✓         ✓          -         -
submission.release       ✓         -          -         -
student.send_codes       ✓         ✓          -         -
lti.read                 ✓         ✓          ✓         ✓
lti.sync                 ✓         ✓          -         -
lti.link                 ✓         ✓          -         -
"""


def _table() -> dict[str, set[Role]]:
    header, *rows = [line.split() for line in TABLE.strip().splitlines()]
    roles = [Role(name) for name in header[1:]]
    return {action: {role for role, mark in zip(roles, marks, strict=True) if mark == "✓"} for action, *marks in rows}


def test_the_table_names_every_action_and_nothing_else() -> None:
    assert set(_table()) == {action.value for action in Action}
    assert set(PERMITTED) == set(Action)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_may_and_its_refusal_follow_the_table(role: Role, action: Action) -> None:
    allowed = role in _table()[action.value]
    assert may(role, action) is allowed
    refusal = role_refusal(role, action)
    if allowed:
        assert refusal is None
        return
    assert isinstance(refusal, RoleForbids)
    assert (refusal.status, refusal.kind) == (403, "role-forbids")
    assert refusal.extra == {"role": role.value, "action": action.value}
    assert role.value.replace("_", "-") in refusal.detail  # "As a co-examiner of this exam ..."


def test_a_refusal_says_what_the_role_cannot_do_and_who_can() -> None:
    grader = role_refusal(GRA, Action.EXAM_DELETE)
    assert grader is not None
    assert grader.detail == "As a grader of this exam you cannot delete it: only an owner can."
    invigilator = role_refusal(INV, Action.EXPORT_CREATE)
    assert invigilator is not None
    assert invigilator.detail == (
        "As an invigilator of this exam you cannot export its answers: only an owner, a co-examiner or a grader can."
    )
    grader_sending = role_refusal(GRA, Action.STUDENT_SEND_CODES)
    assert grader_sending is not None
    assert grader_sending.detail == (
        "As a grader of this exam you cannot email students their upload codes: only an owner or a co-examiner can."
    )
    co_examiner = role_refusal(COE, Action.MEMBER_MANAGE)
    assert co_examiner is not None
    assert co_examiner.detail == "As a co-examiner of this exam you cannot manage its members: only an owner can."


def test_allowed_actions_are_the_tables_row_in_its_order() -> None:
    assert allowed_actions(OWN) == list(Action)
    assert allowed_actions(GRA) == [
        Action.EXAM_READ,
        Action.ROSTER_READ,
        Action.EXPORT_CREATE,
        Action.EXPORT_READ,
        Action.MEMBER_READ,
        Action.MEMBER_LEAVE,
        Action.LTI_READ,
    ]
    assert allowed_actions(INV) == [
        Action.EXAM_READ,
        Action.ROSTER_READ,
        Action.EXTENSION_CHANGE,
        Action.ACCOMMODATION_CHANGE,
        Action.MEMBER_READ,
        Action.MEMBER_LEAVE,
        Action.LTI_READ,
    ]
    assert Action.EXAM_DELETE not in allowed_actions(COE)
    assert Action.MEMBER_MANAGE not in allowed_actions(COE)


EVERYTHING = Disclosure(names=True, pseudonym=True, upload_codes=True, verification=True)


@pytest.mark.parametrize(
    ("role", "anonymous", "shown"),
    [
        (OWN, False, EVERYTHING),
        (OWN, True, EVERYTHING),
        (COE, False, EVERYTHING),
        (COE, True, EVERYTHING),
        (GRA, False, Disclosure(names=True, pseudonym=True, upload_codes=False, verification=True)),
        (GRA, True, Disclosure(names=False, pseudonym=True, upload_codes=False, verification=True)),
        (INV, False, Disclosure(names=True, pseudonym=False, upload_codes=False, verification=False)),
        (INV, True, Disclosure(names=True, pseudonym=False, upload_codes=False, verification=False)),
    ],
)
def test_what_each_role_is_shown_of_its_students(role: Role, anonymous: bool, shown: Disclosure) -> None:
    assert disclosure(role, anonymous=anonymous) == shown


ANN, BEA, CY = 1, 2, 3  # examiner ids


@pytest.mark.parametrize(
    ("members", "change", "refused"),
    [
        # the last owner cannot go: demoted, removed, or leaving
        ([(ANN, OWN), (BEA, GRA)], ChangeRole(ANN, COE), True),
        ([(ANN, OWN), (BEA, GRA)], ChangeRole(ANN, GRA), True),
        ([(ANN, OWN), (BEA, GRA)], Remove(ANN), True),
        ([(ANN, OWN)], Remove(ANN), True),
        # with another owner, either may go
        ([(ANN, OWN), (BEA, OWN)], ChangeRole(ANN, COE), False),
        ([(ANN, OWN), (BEA, OWN)], Remove(BEA), False),
        # the last owner stays an owner; anyone else may change or go
        ([(ANN, OWN), (BEA, GRA)], ChangeRole(ANN, OWN), False),
        ([(ANN, OWN), (BEA, GRA)], ChangeRole(BEA, OWN), False),
        ([(ANN, OWN), (BEA, GRA), (CY, INV)], ChangeRole(CY, COE), False),
        ([(ANN, OWN), (BEA, GRA)], Remove(BEA), False),
        # an owner invites another owner (only an owner invites: member.manage)
        ([(ANN, OWN)], Invite(OWN, open_invitations=0), False),
        # an invitation holds a place: 50 members at most, 20 open invitations at most
        ([(n, GRA) for n in range(MAX_MEMBERS - 1)], Invite(GRA, open_invitations=0), False),
        ([(n, GRA) for n in range(MAX_MEMBERS)], Invite(GRA, open_invitations=0), True),
        ([(n, GRA) for n in range(MAX_MEMBERS - 5)], Invite(GRA, open_invitations=4), False),
        ([(n, GRA) for n in range(MAX_MEMBERS - 5)], Invite(GRA, open_invitations=5), True),
        ([(ANN, OWN)], Invite(GRA, open_invitations=MAX_OPEN_INVITATIONS - 1), False),
        ([(ANN, OWN)], Invite(GRA, open_invitations=MAX_OPEN_INVITATIONS), True),
    ],
)
def test_membership_refusal(members: list[tuple[int, Role]], change: MemberChange, refused: bool) -> None:
    refusal = membership_refusal(members, change)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert isinstance(refusal, Conflict)


def test_the_last_owners_refusal_says_what_to_do() -> None:
    refusal = membership_refusal([(ANN, OWN)], Remove(ANN))
    assert refusal is not None
    assert refusal.detail == "An exam always has an owner: make another member an owner first."


@pytest.mark.parametrize(
    ("outcome", "error", "status"),
    [
        (Redemption.UNKNOWN, NotFound, 404),
        (Redemption.USED, Gone, 410),
        (Redemption.EXPIRED, Gone, 410),
        (Redemption.ALREADY_MEMBER, Conflict, 409),
        (Redemption.EXAM_ID_HELD, Conflict, 409),
    ],
)
def test_invitation_refusal(outcome: Redemption, error: type[Exception], status: int) -> None:
    refusal = invitation_refusal(outcome)
    assert type(refusal) is error
    assert refusal.status == status


def test_a_refused_member_is_told_the_invitation_stays_usable() -> None:
    for outcome in (Redemption.ALREADY_MEMBER, Redemption.EXAM_ID_HELD):
        assert "the invitation stays unused" in invitation_refusal(outcome).detail
    assert "expired" in invitation_refusal(Redemption.EXPIRED).detail
    assert "used already" in invitation_refusal(Redemption.USED).detail


# --- who calls: a key, or a session from an LMS --------------------------------------------------


def _called(authorizer: dict[str, str] | None, api_key_id: str | None) -> tuple[int, list[Caller]]:
    from typing import Any, cast

    from exam_depository.api.resolver import build_resolver, caller

    from local_stack.functions import LambdaContext, api_event

    app = build_resolver()
    seen: list[Caller] = []

    @app.get("/exams")
    def who() -> dict[str, str]:
        seen.append(caller(app))
        return {}

    event = api_event("list_exams", "first_page", api_key_id=api_key_id)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    response = app.resolve(event, cast(Any, LambdaContext()))
    return response["statusCode"], seen


def _caller_of(authorizer: dict[str, str] | None, api_key_id: str | None = "key-id-1") -> Caller:
    status, seen = _called(authorizer, api_key_id)
    assert status == 200
    return seen[0]


def test_a_key_caller_is_its_key_and_a_session_caller_its_teacher() -> None:
    assert _caller_of(None) == Caller("key-id-1", _caller_of(None).request_id)
    assert _caller_of({"kind": "key", "principalId": "key"}).via is None
    teacher = "lti:0b6f2c1e-2d5a-4c8e-9f3b-7a1d2e3f4a5b"
    session = _caller_of(
        {
            "kind": "session",
            "caller_key": teacher,
            "platform": "https://lms.example",
            "lti_user": "u1",
            "session": "s",
        },
        api_key_id="the-sessions-key-id",
    )
    assert session.api_key_id == teacher
    assert session.via == LtiVia("https://lms.example", "u1", "s")


def test_a_session_without_its_teacher_is_a_misconfiguration_never_another_caller() -> None:
    status, seen = _called({"kind": "session", "platform": "https://lms.example"}, "the-sessions-key-id")
    assert (status, seen) == (500, [])


def test_registrations_need_a_key_and_deep_links_a_session() -> None:
    key = Caller("key-id-1", None)
    session = Caller("lti:0b6f2c1e-2d5a-4c8e-9f3b-7a1d2e3f4a5b", None, via=LtiVia("https://lms.example", "u1", "j1"))
    key_required(key)
    session_required(session)
    with pytest.raises(KeyRequired) as refused:
        key_required(session)
    assert (refused.value.status, refused.value.kind) == (403, "key-required")
    with pytest.raises(SessionRequired) as needs_session:
        session_required(key)
    assert (needs_session.value.status, needs_session.value.kind) == (403, "session-required")
