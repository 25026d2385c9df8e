"""The role × route matrix over HTTP: five keys (an exam's owner, co-examiner, grader and
invigilator, and a key that is no member of it) call every examiner route of the contract, the
roster's CSV as a route of its own. What each may do is written out below, literally: allowed
(neither 403 nor 404), refused for the role (403 role-forbids, naming the role), or not found
(404: the exam does not exist for a non-member). The routes that destroy run last, on exams of
their own. The matrix, as answered, goes to test-artifacts/role-matrix.md."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from local_stack.client import ApiClient
from local_stack.keys import mint
from tests.conftest import ROOT
from tests.contract import EXAMINER_ROUTES, LTI_EXAMINER_ROUTES
from tests.e2e.conftest import Stack

ROLES = ("owner", "co_examiner", "grader", "invigilator", "outsider")
OK, FORBIDDEN, ABSENT = "allowed", "403", "404"
Y, N, X = OK, FORBIDDEN, ABSENT  # so that each row reads as a row of the role table

# route (as the contract names it, the CSV and the two meanings of a member's deletion apart)
#   -> what owner, co_examiner, grader, invigilator and outsider get; an int is an exact status.
EXPECTED: dict[str, tuple[str | int, ...]] = {
    "POST /exams": (201, 201, 201, 201, 201),  # any key: each creates an exam of its own
    "GET /exams": (Y, Y, Y, Y, Y),
    "GET /exams/{exam_id}": (Y, Y, Y, Y, X),
    "PATCH /exams/{exam_id}": (Y, Y, N, N, X),
    "POST /exams/{exam_id}/paper": (Y, Y, N, N, X),
    "POST /exams/{exam_id}/students": (Y, Y, N, N, X),
    "POST /exams/{exam_id}/students/import": (Y, Y, N, N, X),
    "GET /exams/{exam_id}/students": (Y, Y, Y, Y, X),
    "GET /exams/{exam_id}/students (text/csv)": (Y, Y, N, N, X),
    "GET /exams/{exam_id}/students/{nickname}": (Y, Y, Y, Y, X),
    "POST /exams/{exam_id}/students/{nickname}/upload_code": (Y, Y, N, N, X),
    "PUT /exams/{exam_id}/students/{nickname}/email": (Y, Y, N, N, X),
    # The owner calls last, within 10 s of the co-examiner's send: 429 sending-too-often, which the
    # client retries after its Retry-After as the pages do, so that the owner is answered 202.
    "POST /exams/{exam_id}/students/send-codes": (Y, Y, N, N, X),
    "PUT /exams/{exam_id}/students/{nickname}/extension": (Y, Y, N, Y, X),
    "DELETE /exams/{exam_id}/students/{nickname}/extension": (Y, Y, N, Y, X),
    "POST /exams/{exam_id}/extensions/import": (Y, Y, N, Y, X),
    "PUT /exams/{exam_id}/students/{nickname}/accommodation": (Y, Y, N, Y, X),
    "POST /exams/{exam_id}/accommodations/import": (Y, Y, N, Y, X),
    "POST /exams/{exam_id}/exports": (Y, Y, Y, N, X),
    "GET /exams/{exam_id}/exports/{export_id}": (Y, Y, Y, N, X),
    "GET /exams/{exam_id}/audit": (Y, Y, N, N, X),
    "GET /exams/{exam_id}/members": (Y, Y, Y, Y, X),
    "POST /exams/{exam_id}/members/invitations": (Y, N, N, N, X),
    "PATCH /exams/{exam_id}/members/{member_id}": (Y, N, N, N, X),
    "DELETE /exams/{exam_id}/members/{member_id} (another member)": (Y, N, N, N, X),
    # A member redeeming an invitation to their own exam: 409, the invitation stays unused; a key
    # that is no member joins.
    "POST /members/invitations/{invitation_code}": (409, 409, 409, 409, 200),
    # Releasing a file that could not be scanned is the owner's alone; this file was scanned
    # clean, so the owner's release is refused for the file (409 not-releasable), not the role.
    "POST /exams/{exam_id}/submissions/{upload_id}/release": (409, N, N, N, X),
    # The destructive ones, last, each on an exam of its own
    "DELETE /exams/{exam_id}/students/{nickname}": (Y, Y, N, N, X),
    "POST /exams/{exam_id}/close": (Y, Y, N, N, X),
    "DELETE /exams/{exam_id}": (Y, N, N, N, X),
    # Leaving: any member may; the last owner may not (409), so the owner's answer is that.
    "DELETE /exams/{exam_id}/members/{member_id} (oneself: leaving)": (409, Y, Y, Y, X),
}
# The order the roles call a route in: the owner last, so that what an owner's call changes (a
# member removed, a student deleted) is still there when the others are refused.
CALL_ORDER = ("outsider", "invigilator", "grader", "co_examiner", "owner")
EXTENSIONS = "nickname,due_at,cutoff_at,extra_attempts\r\nann,{due},{due},1\r\n"
ACCOMMODATIONS = "nickname,extra_time_percent,extra_time_minutes\r\nann,25,0\r\n"

Call = Callable[[ApiClient, str], requests.Response]


def _contract_name(route: str) -> tuple[str, str]:
    method, path = route.split(" (", maxsplit=1)[0].split(" ", 1)
    return path, method.lower()


def test_the_matrix_names_every_examiner_route_of_the_contract() -> None:
    # LTI's routes need a platform and a session: tests/integration/test_lti_admin.py holds their refusals.
    assert {_contract_name(route) for route in EXPECTED} == EXAMINER_ROUTES - LTI_EXAMINER_ROUTES


class Team:
    """An exam and its four members, each with a key of their own, and a key that is no member."""

    def __init__(self, stack: Stack, exam_id: str, *, opens_in_s: float) -> None:
        secrets_file = stack.local_dir / "secrets.json"
        self.exam_id = exam_id
        self.clients = {role: ApiClient(stack.api, mint(secrets_file)["value"]) for role in ROLES}
        owner = self.clients["owner"]
        self.exam = owner.create_exam(exam_id, opens_in_s=opens_in_s, due_in_s=opens_in_s + 7200)
        for role in ("co_examiner", "grader", "invigilator"):
            self.clients[role].join(owner, exam_id, role)
        owner.create_student(exam_id, "ann", "Ann", "Archer")
        listed = owner.members(exam_id)
        assert listed.status_code == 200, listed.text
        self.member_ids: dict[str, str] = {item["role"]: item["member_id"] for item in listed.json()["items"]}

    def member_id(self, role: str) -> str:
        """A role's member id; the outsider's is one no member has."""
        return self.member_ids.get(role, "00000000-0000-4000-8000-000000000000")


def _later(instant: str, hours: int = 1) -> str:
    return (datetime.fromisoformat(instant) + timedelta(hours=hours)).isoformat()


def _csv(client: ApiClient, path: str, text: str) -> requests.Response:
    return client.session.post(
        client.url(path), data=text.encode(), headers=client._examiner({"Content-Type": "text/csv"}), timeout=120
    )


def _routes(team: Team) -> dict[str, Call]:
    """Each route of the main exam, as one call that a role makes with its client."""
    exam, due = team.exam_id, team.exam["due_at"]
    owner = team.clients["owner"]
    export = owner.start_export(exam)
    assert export.status_code == 202, export.text
    export_id = export.json()["export_id"]
    return {
        "POST /exams": lambda c, role: c.post_exam(_new_exam(f"{exam}-{role.replace('_', '-')}")),
        "GET /exams": lambda c, role: c.exams(),
        "GET /exams/{exam_id}": lambda c, role: c.exam(exam),
        "PATCH /exams/{exam_id}": lambda c, role: c.patch_exam(exam, {"title": f"Roles, as {role}"}),
        "POST /exams/{exam_id}/paper": lambda c, role: c.paper_form(exam, "paper.pdf"),
        "POST /exams/{exam_id}/students": lambda c, role: c.post_student(exam, f"add-{role}"),
        "POST /exams/{exam_id}/students/import": lambda c, role: c.import_roster(
            exam, f"nickname,first_name,last_name\r\nimp-{role},Imp,{role}\r\n"
        ),
        "GET /exams/{exam_id}/students": lambda c, role: c.students(exam),
        "GET /exams/{exam_id}/students (text/csv)": lambda c, role: c.roster_csv(exam),
        "GET /exams/{exam_id}/students/{nickname}": lambda c, role: c.student(exam, "ann"),
        "POST /exams/{exam_id}/students/{nickname}/upload_code": lambda c, role: c.new_upload_code(exam, "ann"),
        "PUT /exams/{exam_id}/students/{nickname}/email": lambda c, role: c.change_email(
            exam, "ann", f"ann.{role.replace('_', '-')}@example.org"
        ),
        "POST /exams/{exam_id}/students/send-codes": lambda c, role: c.send_codes(exam),
        "PUT /exams/{exam_id}/students/{nickname}/extension": lambda c, role: c.put_extension(
            exam, "ann", {"due_at": _later(due)}
        ),
        "DELETE /exams/{exam_id}/students/{nickname}/extension": lambda c, role: c.delete_extension(exam, "ann"),
        "POST /exams/{exam_id}/extensions/import": lambda c, role: c.import_extensions(
            exam, EXTENSIONS.format(due=_later(due))
        ),
        "PUT /exams/{exam_id}/students/{nickname}/accommodation": lambda c, role: c.put_accommodation(
            exam, "ann", {"extra_time_percent": 10}
        ),
        "POST /exams/{exam_id}/accommodations/import": lambda c, role: c.import_accommodations(exam, ACCOMMODATIONS),
        "POST /exams/{exam_id}/exports": lambda c, role: c.start_export(exam),
        "GET /exams/{exam_id}/exports/{export_id}": lambda c, role: c.export(exam, export_id),
        "GET /exams/{exam_id}/audit": lambda c, role: c.audit(exam),
        "GET /exams/{exam_id}/members": lambda c, role: c.members(exam),
        "POST /exams/{exam_id}/members/invitations": lambda c, role: c.invite(exam, "grader", f"by {role}"),
        "PATCH /exams/{exam_id}/members/{member_id}": lambda c, role: c.change_member(
            exam, team.member_id("spare"), {"label": f"Spare, labelled by {role}"}
        ),
        "DELETE /exams/{exam_id}/members/{member_id} (another member)": lambda c, role: c.remove_member(
            exam, team.member_id("spare")
        ),
        "POST /members/invitations/{invitation_code}": lambda c, role: c.redeem(_invitation(owner, exam)),
    }


def _new_exam(exam_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "exam_id": exam_id,
        "title": "A role's own exam",
        "opens_at": (now + timedelta(hours=1)).isoformat(),
        "due_at": (now + timedelta(hours=2)).isoformat(),
        "cutoff_at": (now + timedelta(hours=2)).isoformat(),
        "timezone": "Europe/Paris",
    }


def _invitation(owner: ApiClient, exam_id: str) -> str:
    invited = owner.invite(exam_id, "grader", "to redeem")
    assert invited.status_code == 201, invited.text
    return str(invited.json()["invitation_code"])


def _on_a_handed_in_file(stack: Stack, prefix: str) -> dict[str, tuple[Team, Call]]:
    """The routes about a file a student handed in, on an open exam of their own."""
    handed_in = Team(stack, f"{prefix}-files", opens_in_s=-60)
    owner = handed_in.clients["owner"]
    listed = owner.student(handed_in.exam_id, "ann")
    assert listed.status_code == 200, listed.text
    current = owner.hand_in(listed.json()["upload_code"], b"Ann's answers\n", "answers.txt")["current"]
    assert current["scan"] == "clean", current
    upload_id = current["upload_id"]
    return {
        "POST /exams/{exam_id}/submissions/{upload_id}/release": (
            handed_in,
            lambda c, role: c.release(handed_in.exam_id, upload_id, f"checked by hand, as {role}"),
        ),
    }


def _destructive(stack: Stack, prefix: str) -> dict[str, tuple[Team, Call]]:
    """The routes that destroy, each on an exam of its own (its team's keys are the team's)."""
    gone = Team(stack, f"{prefix}-students", opens_in_s=-60)
    for role in ROLES:
        gone.clients["owner"].create_student(gone.exam_id, f"gone-{role}")
    closed = Team(stack, f"{prefix}-closed", opens_in_s=-60)
    deleted = Team(stack, f"{prefix}-deleted", opens_in_s=-60)
    left = Team(stack, f"{prefix}-left", opens_in_s=-60)
    return {
        "DELETE /exams/{exam_id}/students/{nickname}": (
            gone,
            lambda c, role: c.delete_student(gone.exam_id, f"gone-{role}"),
        ),
        "POST /exams/{exam_id}/close": (closed, lambda c, role: c.close_exam(closed.exam_id)),
        "DELETE /exams/{exam_id}": (deleted, lambda c, role: c.delete_exam(deleted.exam_id)),
        "DELETE /exams/{exam_id}/members/{member_id} (oneself: leaving)": (
            left,
            lambda c, role: c.remove_member(left.exam_id, left.member_id(role)),
        ),
    }


def _outcome(response: requests.Response, role: str) -> str:
    """What a call got, as the matrix writes it; a 403 must be the role's, naming it."""
    if response.status_code == 403:
        problem = response.json()
        assert problem["type"] == "urn:exam-depository:problem:role-forbids", response.text
        assert problem["role"] == role, response.text
        assert role.replace("_", "-") in problem["detail"], problem["detail"]
        return FORBIDDEN
    if response.status_code == 404:
        return ABSENT
    return OK


def _holds(expected: str | int, response: requests.Response, role: str) -> bool:
    if isinstance(expected, int):
        return response.status_code == expected
    return _outcome(response, role) == expected


def test_every_role_gets_what_the_table_says_on_every_route(stack: Stack) -> None:
    prefix = f"roles-{secrets.token_hex(3)}"
    # Given an exam that opens in an hour (its paper can still be uploaded), its four members,
    # a member to manage, a student, and a key that is no member
    team = Team(stack, prefix, opens_in_s=3600)
    owner = team.clients["owner"]
    spare = ApiClient(stack.api, mint(stack.local_dir / "secrets.json")["value"])
    spare.join(owner, team.exam_id, "grader")
    known = set(team.member_ids.values())
    (team.member_ids["spare"],) = [
        item["member_id"] for item in owner.members(team.exam_id).json()["items"] if item["member_id"] not in known
    ]
    calls: dict[str, tuple[Team, Call]] = {route: (team, call) for route, call in _routes(team).items()}
    calls |= _on_a_handed_in_file(stack, prefix)
    calls |= _destructive(stack, prefix)
    assert list(calls) == list(EXPECTED)

    # When each role calls each route (the destructive ones last)
    answered: dict[str, dict[str, int]] = {}
    wrong: list[str] = []
    for route, (on, call) in calls.items():
        answered[route] = {}
        for role in CALL_ORDER:
            response = call(on.clients[role], role)
            answered[route][role] = response.status_code
            expected = EXPECTED[route][ROLES.index(role)]
            if not _holds(expected, response, role):
                wrong.append(
                    f"{route} as {role}: expected {expected}, got {response.status_code} {response.text[:200]}"
                )
    _write_matrix(answered)

    # Then every answer is the table's
    assert wrong == []


def _write_matrix(answered: dict[str, dict[str, int]]) -> None:
    lines = [
        "# Role matrix: every examiner route × role, as answered over HTTP",
        "",
        "Status codes from `tests/e2e/test_roles.py` on the local stack. 403 is `role-forbids` naming the",
        "role; 404 is the exam not existing for a key that is no member of it.",
        "",
        "| route | " + " | ".join(ROLES) + " |",
        "| --- | " + " | ".join(":-:" for _ in ROLES) + " |",
    ]
    for route, statuses in answered.items():
        lines.append(f"| `{route}` | " + " | ".join(str(statuses[role]) for role in ROLES) + " |")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "role-matrix.md").write_text("\n".join(lines) + "\n")
