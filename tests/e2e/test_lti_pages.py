"""The pages opened from a course (LTI), in Debian's Chromium against the local stack: a student's
landing with a one-time ticket (the code in no address), a teacher's landing with a session (the
console without a key, the session sent as a Bearer token), the deep-link picker driven by the
keyboard, an exam's LMS panel with a roster sync, the LMS connections of a key holder, and a
session that ended; axe on each.

The LMS side of these routes (`POST /lti/tickets`, `POST /lti/deep-links`, `GET /exams/{id}/lti`,
`POST …/lti/roster-sync`, `GET|POST /lti/registrations`, `POST /lti/registrations/dynamic`) and
the authorizer's judgement of a session are answered here by `LmsRoutes`, in the JSON the
design's contract gives them, in the browser (Playwright's routing): the exam, its roster and its
uploads are the stack's own. What this cannot prove: that the tool's functions answer so (their
integration and e2e tests, tests/e2e/test_lti.py, do), nor anything of the launch before the
landing (the login, the platform, the cookies: tests/e2e/test_lti.py)."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.browser import ARTIFACTS, axe_serious
from tests.e2e.conftest import Stack
from tests.e2e.student_pages import WIDTHS, browser_tab
from tests.e2e.test_console import ZONE, Console

PLATFORM = "https://lms.example.edu"  # the course's platform, as the session names it
RETURN_URL = "https://lms.example.edu/deep-link-return"  # where the picker posts the signed link
PROBLEM = "urn:exam-depository:problem:"


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def session_token(*, exam_id: str | None, name: str = "Ada Teacher", course: str = "Physics 101") -> str:
    """A session as a launch hands it over: a compact JWS whose claims the page reads for its
    header. Its signature is never checked in the browser (the authorizer judges it)."""
    claims = {
        "iss": "e2e/lti",
        "aud": "e2e/api",
        "sub": f"lti:{secrets.token_hex(16)}",
        "exam": exam_id,
        "platform": PLATFORM,
        "lti_user": "teacher-1",
        "name": name,
        "course": course,
        "jti": secrets.token_hex(8),
        "exp": int((datetime.now(UTC) + timedelta(hours=4)).timestamp()),
    }
    return f"{_b64({'alg': 'ES256', 'typ': 'lti-session+jwt'})}.{_b64(claims)}.{secrets.token_urlsafe(64)}"


def _problem(route: Route, status: int, kind: str, detail: str) -> None:
    body = {"type": PROBLEM + kind, "title": kind, "status": status, "detail": detail}
    route.fulfill(status=status, content_type="application/problem+json", body=json.dumps(body))


class LmsRoutes:
    """The tool's LMS routes and the authorizer's judgement of a session, answered in the browser
    as the contract says they answer; every other request goes to the stack as it was sent (a
    session's request with the stack's key instead, as the authorizer hands API Gateway its key)."""

    def __init__(self, page: Page, stack: Stack) -> None:
        self.stack = stack
        self.sessions: set[str] = set()
        self.tickets: dict[str, str] = {}  # ticket -> upload code, until used
        self.used_tickets: set[str] = set()
        self.from_lms: dict[str, str | None] = {}  # nickname -> left_course_at
        self.links: dict[str, list[dict[str, Any]]] = {}  # exam id -> its links
        self.registrations: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str, dict[str, str], str | None]] = []  # method, path, headers, body
        self.deep_links: list[dict[str, Any]] = []
        self.synced: list[str] = []
        page.route(f"{stack.api}/**", self._answer)
        page.route(f"{RETURN_URL}*", self._platform_return)
        self.returned: list[dict[str, list[str]]] = []

    def _answer(self, route: Route, request: Request) -> None:
        path = request.url.removeprefix(self.stack.api + "/").split("?")[0]
        headers = request.headers
        if path.startswith(("static/", "examiner")) or path in ("", "verify") or path.startswith("?"):
            route.continue_()
            return
        self.sent.append((request.method, path, dict(headers), request.post_data))
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if "authorization" in headers and bearer not in self.sessions:
            _problem(
                route, 401, "session-not-valid", "Your session from the course has ended: open the exam again there."
            )
            return
        answered = self._lti(route, request, path, as_key="authorization" not in headers)
        if answered:
            return
        forwarded = {name: value for name, value in headers.items() if name != "authorization"}
        if "authorization" in headers:
            forwarded["x-api-key"] = self.stack.key or ""
        if request.method == "GET" and re.fullmatch(r"exams/[^/]+(/students)?", path):
            self._with_lms_fields(route, forwarded)
            return
        route.continue_(headers=forwarded)

    def _with_lms_fields(self, route: Route, headers: dict[str, str]) -> None:
        """An exam's answer with the LMS actions its role has, a roster's with the LMS fields."""
        response = route.fetch(headers=headers)
        body = response.json()
        if "allowed_actions" in body:
            examiner = body["role"] in ("owner", "co_examiner")
            body["allowed_actions"] += ["lti.read", *(["lti.sync", "lti.link"] if examiner else [])]
        for student in body.get("items", []):
            student["from_lms"] = student["nickname"] in self.from_lms
            student["left_course_at"] = self.from_lms.get(student["nickname"])
        route.fulfill(response=response, json=body)

    def _lti(self, route: Route, request: Request, path: str, *, as_key: bool) -> bool:
        body = json.loads(request.post_data or "null")
        lms = re.fullmatch(r"exams/([^/]+)/lti(/roster-sync)?", path)
        if (request.method, path) == ("POST", "lti/tickets"):
            self._ticket(route, body["ticket"])
        elif (request.method, path) == ("POST", "lti/deep-links"):
            self._deep_link(route, body, as_key=as_key)
        elif lms:
            self._exam_lms(route, lms.group(1), sync=bool(lms.group(2)))
        elif path.startswith("lti/registrations"):
            self._registrations(route, request.method, path, body, as_key=as_key)
        else:
            return False
        return True

    def _ticket(self, route: Route, ticket: str) -> None:
        if ticket in self.used_tickets or ticket not in self.tickets:
            _problem(route, 410, "lti-ticket-used", "Open the exam again from your course.")
            return
        self.used_tickets.add(ticket)
        route.fulfill(status=200, json={"upload_code": self.tickets.pop(ticket)})

    def _deep_link(self, route: Route, body: dict[str, Any], *, as_key: bool) -> None:
        if as_key:
            _problem(route, 403, "session-required", "Placing an exam in a course needs a session from the LMS.")
            return
        self.deep_links.append(body)
        claims = {"iss": "client-1", "aud": PLATFORM, "exam": body["exam_id"]}
        jwt = f"{_b64({'alg': 'RS256'})}.{_b64(claims)}.sig"
        route.fulfill(status=200, json={"return_url": RETURN_URL, "jwt": jwt})

    def _exam_lms(self, route: Route, exam_id: str, *, sync: bool) -> None:
        if not sync:
            scores = {"queued": 1, "sending": 0, "sent": 3, "superseded": 1, "failed": 0}
            route.fulfill(status=200, json={"links": self.links.get(exam_id, []), "scores": scores})
            return
        self.synced.append(exam_id)
        report = _sync_report(self.links[exam_id][0])
        self.links[exam_id][0]["last_sync"] = report
        self.from_lms["kim"] = None
        route.fulfill(status=200, json={"links": [report]})

    def _registrations(self, route: Route, method: str, path: str, body: Any, *, as_key: bool) -> None:
        if not as_key:
            _problem(route, 403, "key-required", "Registering a platform needs an API key.")
        elif (method, path) == ("GET", "lti/registrations"):
            route.fulfill(status=200, json={"items": self.registrations})
        elif (method, path) == ("POST", "lti/registrations/dynamic"):
            url = f"{self.stack.api}/lti/register/{secrets.token_urlsafe(32)}"
            route.fulfill(status=201, json={"registration_url": url, "expires_at": "2026-12-06T10:00:00Z"})
        else:
            made = _registration(self.stack.api, body)
            self.registrations.insert(0, made)
            route.fulfill(status=201, json=made)

    def _platform_return(self, route: Route, request: Request) -> None:
        self.returned.append(parse_qs(request.post_data or ""))
        route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>Added</title><h1>Content added</h1>"
        )


def _sync_report(link: dict[str, Any]) -> dict[str, Any]:
    return {
        "sync_id": secrets.token_hex(8), "link_id": link["link_id"], "course": link["course"], "trigger": "console",
        "status": "done", "started_at": "2026-12-05T10:00:00Z", "finished_at": "2026-12-05T10:00:02Z", "members": 4,
        "added": [{"nickname": "kim", "first_name": "Kim", "last_name": "Park"}], "left": [{"nickname": "lu"}],
        "rejoined": [], "updated": 1, "unchanged": 2, "not_learners": 1, "emails_refused": 0, "detail": None,
    }  # fmt: skip


def _registration(api: str, body: dict[str, Any]) -> dict[str, Any]:
    tool = {
        "login_url": f"{api}/lti/login", "launch_url": f"{api}/lti/launch", "redirect_uris": [f"{api}/lti/launch"],
        "deep_linking_url": f"{api}/lti/launch", "jwks_url": f"{api}/lti/jwks.json", "domain": "127.0.0.1",
    }  # fmt: skip
    return {
        "registration_id": secrets.token_hex(16), "how": "manual", "platform_name": None, "active": True,
        "auth_audience": body.get("auth_audience"), "created_at": "2026-12-05T10:00:00Z", "tool": tool,
        **{name: body[name] for name in ("issuer", "client_id", "deployment_ids", "auth_login_url")},
        **{name: body[name] for name in ("auth_token_url", "key_set_url")},
    }  # fmt: skip


@pytest.fixture
def tab(browser: Browser, stack: Stack, console_errors: list[str]) -> Iterator[tuple[Page, LmsRoutes]]:
    with browser_tab(browser, console_errors, WIDTHS["desktop"], timezone_id=ZONE) as page:
        yield page, LmsRoutes(page, stack)


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


# --- a student from their course ----------------------------------------------------------------


def test_a_student_lands_from_their_course_with_no_code_to_type_and_none_in_any_address(
    tab: tuple[Page, LmsRoutes], stack: Stack, tmp_path: Path
) -> None:
    page, lms = tab
    stack.create_exam("lti-student", title="Physics 101: final", due_in_s=3 * 3600)
    student = stack.create_student("lti-student", "ann.lee", first_name="Ann", last_name="Lee")
    ticket = secrets.token_urlsafe(32)
    lms.tickets[ticket] = student["upload_code"]
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 from the course " * 200)

    page.goto(f"{stack.api}/verify")  # where the tab was before the launch
    page.goto(f"{stack.api}/?lti=1#ticket={ticket}")

    expect(page.locator("#exam-title")).to_have_text("Physics 101: final")
    expect(page.locator("#student-name")).to_contain_text("Ann Lee")
    expect(page.locator("#from-course")).to_have_text("Opened from your course.")
    expect(page.locator("#code-form")).to_be_hidden()
    assert page.url == f"{stack.api}/?lti=1"
    assert ticket not in page.evaluate("history.state ?? ''")
    assert axe_serious(page) == []
    _shot(page, "lti-student-landing")

    # A reload in the course's frame keeps the page (the code is in the tab, not in the address)
    page.reload()
    expect(page.locator("#exam-title")).to_have_text("Physics 101: final")
    expect(page.locator("#code-form")).to_be_hidden()
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#status")).to_have_text("Your file is handed in.", timeout=20_000)
    assert page.url == f"{stack.api}/?lti=1"

    # The back button holds no ticket, and the ticket used once opens nothing again
    page.go_back()
    expect(page).to_have_url(f"{stack.api}/verify")
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{stack.api}/?lti=1#ticket={ticket}")
    expect(page.locator("#error")).to_contain_text("This link from your course was used already.")
    assert page.url == f"{stack.api}/?lti=1"


def test_a_ticket_the_page_cannot_read_is_said_in_the_students_language(
    tab: tuple[Page, LmsRoutes], stack: Stack
) -> None:
    page, lms = tab
    page.goto(f"{stack.api}/?lti=1")
    page.get_by_label("Language").select_option("de")
    page.goto(f"{stack.api}/?lti=1#ticket=%E0%A4")

    expect(page.locator("#error")).to_contain_text("Diese Seite konnte nicht aus Ihrem Kurs geöffnet werden.")
    assert page.url == f"{stack.api}/?lti=1"
    assert [path for _, path, *_ in lms.sent if path == "lti/tickets"] == []
    assert axe_serious(page) == []


# --- a teacher from their course ----------------------------------------------------------------


def test_a_teacher_lands_in_the_console_on_the_exam_with_the_session_and_no_key(
    tab: tuple[Page, LmsRoutes], stack: Stack
) -> None:
    page, lms = tab
    stack.create_exam("lti-teacher", title="Physics 101: midterm")
    stack.create_student("lti-teacher", "kim", first_name="Kim", last_name="Park")
    stack.create_student("lti-teacher", "lu", first_name="Lu", last_name="Wang")
    lms.from_lms = {"lu": "2026-12-01T09:00:00Z"}
    lms.links["lti-teacher"] = [
        {
            "link_id": secrets.token_hex(16), "course": "Physics 101", "context_id": "phys-101", "deployment_id": "1",
            "platform": PLATFORM, "line_item": True, "roster_service": True, "created_at": "2026-12-01T08:00:00Z",
            "last_sync": None,
        }
    ]  # fmt: skip
    token = session_token(exam_id="lti-teacher")
    lms.sessions.add(token)

    page.goto(f"{stack.api}/examiner?lti=1#session={token}&exam=lti-teacher")

    expect(page.locator("#exam-heading")).to_have_text("Physics 101: midterm")
    expect(page.locator("#lti-signed-in")).to_have_text(
        re.compile(r"^Signed in from lms\.example\.edu as Ada Teacher \(Owner\) until .+\.$")
    )
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_label("Your examiner key")).to_be_hidden()
    assert page.url == f"{stack.api}/examiner?lti=1"
    assert token not in page.evaluate("history.state ?? ''")
    # The roster says who came from the course and who left it
    expect(page.locator('#roster tbody tr[data-nickname="lu"]')).to_contain_text("from the LMS")
    expect(page.locator('#roster tbody tr[data-nickname="lu"]')).to_contain_text("left the course on")
    expect(page.locator('#roster tbody tr[data-nickname="kim"]')).not_to_contain_text("from the LMS")
    # The exam's courses
    panel = page.locator("#lti-panel")
    expect(panel).to_contain_text("Physics 101 on lms.example.edu")
    expect(panel).to_contain_text("Gradebook column")
    expect(panel).to_contain_text("Gradebook: 4 sent · 1 waiting · 0 failed")
    expect(page.get_by_role("button", name="Courses in an LMS…")).to_be_hidden()  # shown at once instead
    assert axe_serious(page) == []
    _shot(page, "lti-teacher-landing")

    # Sync the class list now: the report, by name, and the roster drawn again
    page.get_by_role("button", name="Sync the class list now").click()
    expect(page.locator("#lti-sync-report")).to_contain_text("Added: Kim Park.")
    expect(page.locator("#lti-sync-report")).to_contain_text("4 in the course, 1 added, 1 left, 0 back, 1 updated")
    expect(page.locator('#roster tbody tr[data-nickname="kim"]')).to_contain_text("from the LMS")
    expect(page.locator("#lti-sync")).to_be_focused()
    assert lms.synced == ["lti-teacher"]
    assert axe_serious(page) == []
    page.locator("#lti-panel").screenshot(path=ARTIFACTS / "lti-panel.png")

    # Every request carried the session and no key; the key routes refuse a session
    api_calls = [(method, path, headers) for method, path, headers, _ in lms.sent]
    assert api_calls
    assert all(headers.get("authorization") == f"Bearer {token}" for _, _, headers in api_calls)
    assert all("x-api-key" not in headers for _, _, headers in api_calls)
    assert page.evaluate("sessionStorage.getItem('exam-depository-examiner-key')") is None

    # Signing out forgets the session
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Your examiner key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('lti-session')") is None


def test_a_session_that_ended_signs_the_teacher_out_with_the_reason(tab: tuple[Page, LmsRoutes], stack: Stack) -> None:
    page, _ = tab
    stack.create_exam("lti-ended", title="Ended session")
    page.goto(f"{stack.api}/examiner?lti=1#session={session_token(exam_id='lti-ended')}&exam=lti-ended")

    expect(page.get_by_role("alert")).to_have_text(re.compile("Your session from the course has ended"))
    expect(page.get_by_label("Your examiner key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('lti-session')") is None
    assert page.url == f"{stack.api}/examiner?lti=1"


def test_a_teacher_places_an_exam_in_the_course_with_the_keyboard_alone(
    tab: tuple[Page, LmsRoutes], stack: Stack
) -> None:
    page, lms = tab
    stack.create_exam("lti-pick", title="Placed from the picker")
    token = session_token(exam_id=None, course="Physics 101")
    lms.sessions.add(token)
    request_id = secrets.token_hex(16)

    page.goto(f"{stack.api}/examiner?lti=1#session={token}&pick={request_id}")

    heading = page.get_by_role("heading", name="Choose the exam for Physics 101")
    expect(heading).to_be_focused()
    choose = page.get_by_role("button", name="Choose Placed from the picker")
    expect(choose).to_be_visible()
    expect(page.get_by_role("button", name="Create an exam")).to_be_visible()
    assert axe_serious(page) == []
    _shot(page, "lti-picker")
    for _ in range(200):  # Tab through the picker's choices to this exam's, as a keyboard user does
        if choose.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(choose).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Content added")).to_be_visible()
    assert lms.deep_links == [{"request_id": request_id, "exam_id": "lti-pick"}]
    assert len(lms.returned) == 1
    assert list(lms.returned[0]) == ["JWT"]
    claims = json.loads(base64.urlsafe_b64decode(lms.returned[0]["JWT"][0].split(".")[1] + "=="))
    assert claims["exam"] == "lti-pick"


def test_create_an_exam_from_the_picker_then_choose_it_from_its_page(tab: tuple[Page, LmsRoutes], stack: Stack) -> None:
    page, lms = tab
    token = session_token(exam_id=None, course="Chemistry 2")
    lms.sessions.add(token)
    page.goto(f"{stack.api}/examiner?lti=1#session={token}&pick={secrets.token_hex(16)}")
    page.get_by_role("button", name="Create an exam").click()
    expect(page.get_by_role("textbox", name="Title", exact=True)).to_be_focused()
    stack.create_exam("lti-made-for-course", title="Made for the course")  # as the form would: tested in test_console
    page.goto(f"{stack.api}/examiner?lti=1")  # a reload keeps the session and the waiting request
    expect(page.get_by_role("heading", name="Choose the exam for Chemistry 2")).to_be_visible()
    Console(page, stack).open_exam("Made for the course")

    page.get_by_role("button", name="Choose this exam for Chemistry 2").click()

    expect(page.get_by_role("heading", name="Content added")).to_be_visible()
    assert [link["exam_id"] for link in lms.deep_links] == ["lti-made-for-course"]


# --- the LMS connections of a key holder ----------------------------------------------------------


def test_a_key_holder_connects_an_lms_dynamically_or_by_hand_and_sees_the_tools_addresses(
    tab: tuple[Page, LmsRoutes], stack: Stack
) -> None:
    page, lms = tab
    stack.create_exam("lti-key-panel", title="Not in a course")
    page.goto(f"{stack.api}/examiner")
    page.get_by_label("Your examiner key").fill(stack.key or "")
    page.get_by_role("button", name="Sign in").click()
    opener = page.get_by_role("button", name="LMS connections…")
    opener.click()
    expect(page.get_by_role("heading", name="LMS connections")).to_be_focused()
    expect(page.locator("#lti-registrations")).to_have_text("No LMS is connected yet.")
    expect(opener).to_have_attribute("aria-expanded", "true")

    page.get_by_role("button", name="Connect an LMS").click()
    url = page.get_by_label("Paste this address into your LMS's tool registration, once, within 24 hours:")
    expect(url).to_have_value(re.compile(rf"^{re.escape(stack.api)}/lti/register/[A-Za-z0-9_-]{{43}}$"))
    expect(url).to_be_focused()
    assert axe_serious(page) == []

    page.get_by_role("button", name="Register by hand…").click()
    page.get_by_label("Issuer (platform id)").fill("https://moodle.example.edu")
    page.get_by_label("Client id").fill("aBcD1234")
    page.get_by_label("Deployment ids, one a line").fill("3\n4")
    page.get_by_label("Authentication request URL").fill("https://moodle.example.edu/mod/lti/auth.php")
    page.get_by_label("Access token URL").fill("https://moodle.example.edu/mod/lti/token.php")
    page.get_by_label("Public keyset URL").fill("https://moodle.example.edu/mod/lti/certs.php")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.locator("#lti-registrations")).to_contain_text(
        "https://moodle.example.edu: client aBcD1234, registered by hand, deployments 3, 4"
    )
    expect(page.locator("#lti-tool").first).to_contain_text(f"{stack.api}/lti/login")
    expect(page.locator("#status")).to_have_text("https://moodle.example.edu is registered.")
    posted = [
        json.loads(body or "{}")
        for method, path, _, body in lms.sent
        if (method, path) == ("POST", "lti/registrations")
    ]
    assert posted == [
        {
            "issuer": "https://moodle.example.edu", "client_id": "aBcD1234", "deployment_ids": ["3", "4"],
            "auth_login_url": "https://moodle.example.edu/mod/lti/auth.php",
            "auth_token_url": "https://moodle.example.edu/mod/lti/token.php",
            "key_set_url": "https://moodle.example.edu/mod/lti/certs.php",
        }
    ]  # fmt: skip
    assert axe_serious(page) == []
    _shot(page, "lti-connections")

    # An exam's courses open from a button (they are not asked for at each opening)
    Console(page, stack).open_exam("Not in a course")
    asked = len([path for _, path, *_ in lms.sent if path == "exams/lti-key-panel/lti"])
    courses = page.get_by_role("button", name="Courses in an LMS…")
    courses.click()
    expect(page.get_by_role("heading", name="Courses in an LMS")).to_be_focused()
    expect(page.locator("#lti-panel")).to_contain_text("This exam is in no course yet.")
    expect(courses).to_have_attribute("aria-expanded", "true")
    assert (asked, len([path for _, path, *_ in lms.sent if path == "exams/lti-key-panel/lti"])) == (0, 1)
    assert axe_serious(page) == []
    courses.click()
    expect(page.locator("#lti-panel")).to_be_hidden()


def test_a_session_is_offered_no_lms_connections(tab: tuple[Page, LmsRoutes], stack: Stack) -> None:
    page, lms = tab
    token = session_token(exam_id=None)
    lms.sessions.add(token)
    page.goto(f"{stack.api}/examiner?lti=1#session={token}")

    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    expect(page.locator("#lti-signed-in")).to_contain_text("Signed in from lms.example.edu as Ada Teacher (teacher)")
    expect(page.get_by_role("button", name="LMS connections…")).to_have_count(0)
