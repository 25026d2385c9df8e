"""An exam run by a team: an owner invites with a one-time code, the invitee joins with their own
key, and every route answers each member as their role allows (403 role-forbids) and everyone
else as if the exam did not exist (404)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import psycopg
import pytest
from exam_depository.domain import codes
from psycopg import errors as pg_errors

from local_stack.functions import LambdaContext, sample_event
from tests.integration.conftest import EXAM, OTHER_EXAMINER, Api, ApiResponse
from tests.waiting import wait_until

THIRD = "k3l4m5n6o7"  # a third examiner's key id
INVITATION_CODE = re.compile(r"^([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]{4}$")


def _members(api: Api, exam_id: str = EXAM) -> dict[str, Any]:
    response = api.call("members", "list", path_params={"exam_id": exam_id})
    assert response.status == 200, response.body
    return dict(response.body)


def _change(api: Api, member_id: str, body: dict[str, Any]) -> ApiResponse:
    return api.call("members", "change", path_params={"exam_id": EXAM, "member_id": member_id}, body=body)


def _remove(api: Api, member_id: str) -> ApiResponse:
    return api.call("members", "leave", path_params={"exam_id": EXAM, "member_id": member_id})


def _me(api: Api) -> str:
    return str(next(item["member_id"] for item in _members(api)["items"] if item["you"]))


def test_an_invited_grader_joins_with_their_own_key_and_sees_the_exam_with_their_role(
    api: Api, clean_database: str
) -> None:
    # Given an owner's invitation for a grader
    invited = api.invite("grader", label="Marker: Sam")
    assert INVITATION_CODE.match(invited["invitation_code"])
    assert (invited["role"], invited["label"]) == ("grader", "Marker: Sam")
    expires = datetime.fromisoformat(invited["expires_at"])
    assert timedelta(hours=167) < expires - datetime.now(UTC) <= timedelta(hours=168)
    # And the owner's open invitations list it, without its code
    assert [(i["role"], i["label"]) for i in _members(api)["invitations"]] == [("grader", "Marker: Sam")]
    assert "invitation_code" not in _members(api)["invitations"][0]

    # When another examiner redeems it with their own key
    grader = api.as_key(OTHER_EXAMINER)
    joined = grader.redeem(invited["invitation_code"])

    # Then they are a member: the exam answers with their role and what it allows
    assert joined.status == 200, joined.body
    assert (joined.body["exam_id"], joined.body["role"]) == (EXAM, "grader")
    assert "exam.delete" not in joined.body["allowed_actions"]
    assert "export.create" in joined.body["allowed_actions"]
    # And GET /exams lists the exam for each with their own role
    assert [(e["exam_id"], e["role"]) for e in grader.call("list_exams", "first_page").body["items"]] == [
        (EXAM, "grader")
    ]
    assert [(e["exam_id"], e["role"]) for e in api.call("list_exams", "first_page").body["items"]] == [(EXAM, "owner")]
    # And both read the members, each marked "you" where it is them, in the order they joined
    for member, me in ((api, "owner"), (grader, "grader")):
        listed = _members(member)
        assert [(m["role"], m["label"], m["you"]) for m in listed["items"]] == [
            ("owner", None, me == "owner"),
            ("grader", "Marker: Sam", me == "grader"),
        ]
        assert listed["invitations"] == []
    # And the database holds the code's SHA-256 alone
    with psycopg.connect(clean_database) as conn:
        stored = conn.execute("SELECT code_sha256, redeemed_at IS NOT NULL FROM invitation").fetchall()
    canonical = codes.normalize(invited["invitation_code"])
    assert canonical is not None
    assert stored == [(hashlib.sha256(canonical.encode()).hexdigest(), True)]


def test_an_invitation_is_used_once(api: Api) -> None:
    code = api.invite("co_examiner")["invitation_code"]
    assert api.as_key(OTHER_EXAMINER).redeem(code).status == 200

    # When a third examiner tries the same code (typed in lower case, without its hyphens)
    again = api.as_key(THIRD).redeem(code.lower().replace("-", ""))

    # Then it is gone, and they are no member
    assert again.status == 410, again.body
    assert again.body["type"] == "urn:exam-depository:problem:gone"
    assert "used already" in again.body["detail"]
    assert api.as_key(THIRD).call("get_exam", "by_id", path_params={"exam_id": EXAM}).status == 404


def test_an_expired_invitation_is_gone(api: Api, clean_database: str) -> None:
    code = api.invite("invigilator")["invitation_code"]
    with psycopg.connect(clean_database) as conn:
        conn.execute("UPDATE invitation SET expires_at = now() - interval '1 second'")

    expired = api.as_key(OTHER_EXAMINER).redeem(code)

    assert expired.status == 410, expired.body
    assert "expired" in expired.body["detail"]
    assert _members(api)["invitations"] == []  # no longer open


def test_an_unknown_code_is_not_found(api: Api) -> None:
    for code in ("7K3M-Q9TX-2WFD-8HNB-C4RZ", "not-a-code"):
        unknown = api.as_key(OTHER_EXAMINER).redeem(code)
        assert unknown.status == 404, unknown.body


def test_a_member_cannot_redeem_and_the_invitation_stays_usable(api: Api) -> None:
    # Given an invitation, and a grader already in
    api.as_key(OTHER_EXAMINER).join(api, "grader")
    code = api.invite("co_examiner")["invitation_code"]

    # When the owner, and then the grader, redeem it (a second role for a member already in)
    for member in (api, api.as_key(OTHER_EXAMINER)):
        refused = member.redeem(code)
        # Then each is refused, and nothing changed
        assert refused.status == 409, refused.body
        assert "stays unused" in refused.body["detail"]
    assert [m["role"] for m in _members(api)["items"]] == ["owner", "grader"]

    # And the one it was meant for still joins with it
    joined = api.as_key(THIRD).redeem(code)
    assert (joined.status, joined.body["role"]) == (200, "co_examiner")


def test_an_exam_id_one_already_holds_cannot_be_joined_nor_created(api: Api) -> None:
    # Given another examiner with an exam of their own with the same id
    other = api.as_key(OTHER_EXAMINER)
    other.create_exam(EXAM, title="Their physics")
    code = api.invite("grader")["invitation_code"]

    # When they redeem an invitation to the owner's exam of that id
    refused = other.redeem(code)

    # Then they are refused (an exam id names one exam to each member), and the invitation stays usable
    assert refused.status == 409, refused.body
    assert other.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body["title"] == "Their physics"
    assert api.as_key(THIRD).redeem(code).status == 200
    # And a member cannot create another exam with the id of one they joined
    taken = api.as_key(THIRD).call("create_exam", "valid", body=_exam_body(EXAM))
    assert taken.status == 409, taken.body


def _exam_body(exam_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "exam_id": exam_id,
        "title": "Physics",
        "opens_at": now.isoformat(),
        "due_at": (now + timedelta(hours=1)).isoformat(),
        "cutoff_at": (now + timedelta(hours=1)).isoformat(),
        "timezone": "UTC",
    }


def test_the_last_owner_can_neither_be_demoted_nor_removed_nor_leave(api: Api) -> None:
    # Given an owner and a co-examiner
    co_examiner = api.as_key(OTHER_EXAMINER)
    co_examiner.join(api, "co_examiner")
    owner_id, co_id = _me(api), _me(co_examiner)

    # Then the owner can neither step down nor leave
    for refused in (_change(api, owner_id, {"role": "co_examiner"}), _remove(api, owner_id)):
        assert refused.status == 409, refused.body
        assert refused.body["detail"] == "An exam always has an owner: make another member an owner first."
    # And the co-examiner cannot remove the owner, nor change anyone (only an owner manages members)
    forbidden = _remove(co_examiner, owner_id)
    assert forbidden.status == 403, forbidden.body
    assert (forbidden.body["role"], forbidden.body["action"]) == ("co_examiner", "member.manage")
    assert _change(co_examiner, co_id, {"role": "owner"}).status == 403

    # When the owner makes the co-examiner an owner, renamed
    promoted = _change(api, co_id, {"role": "owner", "label": "Dr Bea"})
    assert promoted.status == 200, promoted.body
    assert (promoted.body["role"], promoted.body["label"], promoted.body["you"]) == ("owner", "Dr Bea", False)

    # Then the first owner may leave, after which the exam no longer exists for them
    assert _remove(api, owner_id).status == 204
    assert api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).status == 404
    assert [(m["role"], m["you"]) for m in _members(co_examiner)["items"]] == [("owner", True)]
    # And the one owner left cannot leave either
    assert _remove(co_examiner, co_id).status == 409


def test_a_member_leaves_and_an_owner_removes_another(api: Api) -> None:
    grader, invigilator = api.as_key(OTHER_EXAMINER), api.as_key(THIRD)
    grader.join(api, "grader")
    invigilator.join(api, "invigilator")
    invigilator_id = _me(invigilator)

    # A grader may leave but not remove another
    assert _remove(grader, invigilator_id).status == 403
    assert _remove(grader, _me(grader)).status == 204
    assert grader.call("get_exam", "by_id", path_params={"exam_id": EXAM}).status == 404
    # The owner removes the invigilator; a member id not in the exam is not found
    assert _remove(api, invigilator_id).status == 204
    assert _remove(api, invigilator_id).status == 404
    assert [m["role"] for m in _members(api)["items"]] == ["owner"]
    # A member id is a UUID
    malformed = api.call("members", "leave", path_params={"exam_id": EXAM, "member_id": "12"})
    assert malformed.status == 422


def test_the_database_refuses_to_leave_an_exam_without_an_owner(api: Api, clean_database: str) -> None:
    # Given an exam whose one owner is its creator
    with psycopg.connect(clean_database) as conn:
        # When a statement removes the owner behind the application's back
        with pytest.raises(pg_errors.CheckViolation) as refused:
            conn.execute("DELETE FROM exam_member")
        assert refused.value.diag.constraint_name == "exam_keeps_an_owner"
        conn.rollback()
        with pytest.raises(pg_errors.CheckViolation):
            conn.execute("UPDATE exam_member SET role = 'grader'")
    # But deleting the exam takes its members with it
    assert api.call("delete_exam", "by_id", path_params={"exam_id": EXAM}).status == 204
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM exam_member").fetchone() == (0,)


def test_a_linked_key_keeps_its_examiners_memberships(api: Api, handler: Callable[[str], ModuleType]) -> None:
    # Given a grader of the exam, who then rotates their key (make link-key)
    api.as_key(OTHER_EXAMINER).join(api, "grader")
    rotated = "r0t4t3dk3y"
    administer = handler("administer")
    command = {"command": "link-key", "api_key_id": rotated, "same_examiner_as": OTHER_EXAMINER}
    administer.lambda_handler(command, LambdaContext())

    # Then the new key is the same member, with the same role
    exam = api.as_key(rotated).call("get_exam", "by_id", path_params={"exam_id": EXAM})
    assert (exam.status, exam.body["role"]) == (200, "grader")
    assert _me(api.as_key(rotated)) == _me(api.as_key(OTHER_EXAMINER))


# Routes of the exam with the action each asks for, as (function, case, extra path parameters).
ROUTES: dict[str, tuple[str, str, dict[str, str]]] = {
    "exam.read": ("get_exam", "by_id", {}),
    "exam.update": ("update_exam", "later_due", {}),
    "exam.close": ("close_exam", "now", {}),
    "paper.upload": ("request_paper_upload", "pdf", {}),
    "roster.read": ("list_students", "first_page", {}),
    "roster.download": ("list_students", "roster_csv", {}),
    "student.add": ("create_student", "valid", {}),
    "student.new_code": ("regenerate_upload_code", "by_nickname", {"nickname": "mobrien"}),
    "extension.change": ("set_extension", "valid", {"nickname": "mobrien"}),
    "accommodation.change": ("set_accommodation", "extra_time", {"nickname": "mobrien"}),
    "export.create": ("create_export", "start", {}),
    "member.read": ("members", "list", {}),
    "member.manage": ("members", "invite", {}),
    "student.delete": ("delete_student", "by_nickname", {"nickname": "mobrien"}),
    "exam.delete": ("delete_exam", "by_id", {}),  # last: it ends the exam
}
# What each role may do of the routes above (written out; the unit test holds the whole table).
ALLOWED = {
    "co_examiner": set(ROUTES) - {"exam.delete", "member.manage"},
    "grader": {"exam.read", "roster.read", "export.create", "member.read"},
    "invigilator": {"exam.read", "roster.read", "extension.change", "accommodation.change", "member.read"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_a_member_is_refused_what_their_role_does_not_allow_and_an_outsider_finds_nothing(api: Api, role: str) -> None:
    api.create_student()
    member, outsider = api.as_key(OTHER_EXAMINER), api.as_key(THIRD)
    member.join(api, role)
    outsider.create_exam("their-own")  # an examiner, of another exam

    for action, (function, case, params) in ROUTES.items():
        path = {"exam_id": EXAM, **params}
        answer = member.call(function, case, path_params=path)
        if action in ALLOWED[role]:
            assert answer.status not in (403, 404), (action, answer.body)
        else:
            assert answer.status == 403, (action, answer.body)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.body["type"] == "urn:exam-depository:problem:role-forbids"
            assert (answer.body["role"], answer.body["action"]) == (role, action)
            assert answer.body["detail"].startswith(f"As a{'n' if role == 'invigilator' else ''} ")
        assert outsider.call(function, case, path_params=path).status == 404, action


def test_an_owner_invites_within_the_limits(api: Api) -> None:
    for _ in range(20):
        api.invite("grader")
    refused = api.call("members", "invite", path_params={"exam_id": EXAM}, body={"role": "grader"})
    assert refused.status == 409, refused.body
    assert "open invitations" in refused.body["detail"]
    for body in ({"role": "examiner"}, {"role": "grader", "label": ""}, {"role": "grader", "extra": 1}):
        invalid = api.call("members", "invite", path_params={"exam_id": EXAM}, body=body)
        assert invalid.status == 422, (body, invalid.body)


def test_an_invitation_to_an_exam_one_is_no_member_of_is_not_found(api: Api) -> None:
    outsider = api.as_key(OTHER_EXAMINER)
    for exam_id in (EXAM, "no-such-exam"):
        missing = outsider.call("members", "invite", path_params={"exam_id": exam_id}, body={"role": "owner"})
        assert missing.status == 404, missing.body


def _log(url: str) -> list[tuple[Any, ...]]:
    """The exam's audit events after its creation: (actor, role, action, target, before, after, request id)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT a.actor, a.role, a.action, a.target, a.before, a.after, a.request_id
               FROM audit_event a JOIN exam e ON e.id = a.exam_pk
               WHERE e.slug = %s AND a.action LIKE 'member.%%' ORDER BY a.seq""",
            (EXAM,),
        ).fetchall()


def test_every_change_of_the_membership_is_in_the_exams_audit_log(api: Api, clean_database: str) -> None:
    # Given an owner who invites a grader, who joins
    invited = api.invite("grader", label="Sam")
    grader = api.as_key(OTHER_EXAMINER)
    assert grader.redeem(invited["invitation_code"]).status == 200
    owner_id, grader_id = _me(api), _me(grader)
    # When the owner makes them a co-examiner, and they then leave
    assert _change(api, grader_id, {"role": "co_examiner"}).status == 200
    assert _change(api, grader_id, {"role": "co_examiner"}).status == 200  # no change: no event
    assert _remove(grader, grader_id).status == 204

    # Then each step is an event naming who did it, in what role, from which request
    with psycopg.connect(clean_database) as conn:
        (invitation_pk,) = conn.execute("SELECT id FROM invitation").fetchone() or (None,)
    requests = {name: sample_event("members", name)["requestContext"]["requestId"] for name in ("invite", "redeem")}
    code_shown = invited["invitation_code"][:4] + "…"
    assert _log(clean_database) == [
        (
            owner_id,
            "owner",
            "member.invited",
            f"invitation:{invitation_pk}",
            None,
            {"role": "grader", "label": "Sam", "expires_at": invited["expires_at"], "code": code_shown},
            requests["invite"],
        ),
        (
            grader_id,
            "grader",
            "member.joined",
            f"member:{grader_id}",
            None,
            {"role": "grader", "label": "Sam", "invitation": f"invitation:{invitation_pk}"},
            requests["redeem"],
        ),
        (
            owner_id,
            "owner",
            "member.role_changed",
            f"member:{grader_id}",
            {"role": "grader"},
            {"role": "co_examiner"},
            sample_event("members", "change")["requestContext"]["requestId"],
        ),
        (
            grader_id,
            "co_examiner",
            "member.removed",
            f"member:{grader_id}",
            {"role": "co_examiner", "label": "Sam"},
            None,
            sample_event("members", "leave")["requestContext"]["requestId"],
        ),
    ]


def test_a_refused_change_leaves_no_event(api: Api, clean_database: str) -> None:
    refused = _remove(api, _me(api))
    assert refused.status == 409
    assert _log(clean_database) == []


def test_an_invitation_redeemed_while_its_exam_is_deleted_finds_no_exam(api: Api, clean_database: str) -> None:
    # Given an invitation, and a deletion of its exam in progress (it holds the exam's row lock,
    # as delete_exam does while S3 deletes the files)
    code = api.invite("grader")["invitation_code"]
    with psycopg.connect(clean_database) as deletion:
        deletion.execute("SELECT id FROM exam WHERE slug = %s FOR UPDATE", (EXAM,))

        # When the invitee redeems it meanwhile
        with ThreadPoolExecutor(1) as pool:
            redeeming = pool.submit(api.as_key(OTHER_EXAMINER).redeem, code)
            _wait_until_waiting_for_a_lock(clean_database)
            # And the deletion then removes the exam (its invitations with it) and commits
            deletion.execute("DELETE FROM exam WHERE slug = %s", (EXAM,))
            deletion.commit()
            answer = redeeming.result(timeout=60)

    # Then the redemption waited and found nothing: no deadlock, no member of a deleted exam
    assert answer.status == 404, answer.body
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM exam_member").fetchone() == (0,)


def test_a_member_demoted_while_their_change_waits_for_the_exam_is_refused_as_what_they_became(
    api: Api, clean_database: str
) -> None:
    # Given a second owner, and another change of the exam in progress (it holds the exam's lock)
    second = api.as_key(OTHER_EXAMINER)
    second.join(api, "owner")
    with psycopg.connect(clean_database) as other_change:
        other_change.execute("SELECT id FROM exam WHERE slug = %s FOR UPDATE", (EXAM,))

        # When the second owner invites someone meanwhile (their request waits for the lock)
        with ThreadPoolExecutor(1) as pool:
            inviting = pool.submit(
                second.call, "members", "invite", path_params={"exam_id": EXAM}, body={"role": "owner"}
            )
            _wait_until_waiting_for_a_lock(clean_database)
            # And the change in progress makes them a grader, and commits
            other_change.execute(
                """UPDATE exam_member SET role = 'grader'
                   WHERE examiner_id = (SELECT examiner_id FROM examiner_key WHERE api_key_id = %s)""",
                (OTHER_EXAMINER,),
            )
            other_change.commit()
            answer = inviting.result(timeout=60)

    # Then the invitation is refused to the grader they are by then: no grader invites an owner
    assert answer.status == 403, answer.body
    assert (answer.body["role"], answer.body["action"]) == ("grader", "member.manage")
    assert _members(api)["invitations"] == []


def _wait_until_waiting_for_a_lock(database_url: str) -> None:
    """Until a request of the product waits for a row lock (bounded: a state, never a sleep's length)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        wait_until(
            lambda: conn.execute(
                """SELECT 1 FROM pg_stat_activity
                   WHERE application_name = 'exam-depository' AND wait_event_type = 'Lock'"""
            ).fetchone(),
            timeout_s=60,
            what="the redemption waiting for the deletion's lock",
        )
