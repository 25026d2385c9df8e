"""The pages opened from a course (LTI), in Debian's Chromium against the local stack and the test
platform (tests/lti_platform: lti1p3platform on loopback, its course page holding the tool in an
iframe on another site): a teacher places an exam in the course with the picker, by the keyboard;
a student lands on their upload page in the course's frame with nothing to type and no code in
any address; a teacher lands in the console on the exam with a session and no key, with the
exam's courses and a roster sync; where the browser refuses the tool's cookie in the frame (as
Safari does: simulated, by dropping the login's Set-Cookie and the frame's document.cookie), the
launch completes through the platform's storage frame, or, without one, in a new window; a key
holder's LMS connections; a session that ended. axe on each; screenshots in test-artifacts/.

Chromium runs with the third-party cookie phase-out (`--test-third-party-cookie-phaseout`): only
the tool's partitioned cookie may work in the frame. What this cannot prove: Safari's own storage
partitioning, or a real LMS's frame (docs/LTI.md says what was not tried)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, FrameLocator, Page, Request, Route, expect

from tests.browser import _ARGS as BROWSER_ARGS
from tests.browser import ARTIFACTS, AXE, CHROMIUM, axe_serious
from tests.e2e.conftest import Stack, record_problem
from tests.e2e.student_pages import DESKTOP
from tests.e2e.test_console import ZONE, Console
from tests.e2e.test_lti import COURSE_BROWSER_ARGS
from tests.lti_platform.platform import INSTRUCTOR, LEARNER, Tool
from tests.lti_platform.server import Platform, running_platform

AUTOFOCUS_REFUSED = "Blocked autofocusing on a <"
COURSE = "phys-101"
COURSE_TITLE = "Physics 101"
TEACHER = "t-ada"
# A browser that keeps nothing for a third-party frame: no cookie readable or writable by script
# (Safari), and sessionStorage refused as Chrome refuses it when third-party cookies are blocked.
NOTHING_KEPT_IN_FRAMES = """
if (window.top !== window) {
  Object.defineProperty(Document.prototype, "cookie", { get: () => "", set: () => {}, configurable: true });
  Object.defineProperty(window, "sessionStorage", {
    get: () => { throw new DOMException("Access is denied for this document.", "SecurityError"); },
    configurable: true,
  });
}
"""


@dataclass
class Lms:
    platform: Platform
    tool: Tool
    registration: dict[str, Any]


@pytest.fixture(scope="module")
def phaseout(browser: Browser) -> Iterator[Browser]:
    """Chromium with the third-party cookie phase-out and partitioned third-party storage, as Chrome
    ships it (Playwright turns the partitioning off: test_lti.py says why it is turned back on).
    Its Local Network Access checks are off too: they refuse a frame's script navigation between two
    loopback sites (the tool's frame going to the platform's /auth after the storage frame's answer),
    where on the internet the LMS and the tool are both public and those checks do not apply.
    Launched through the session's Playwright: a second one in the same process refuses to start."""
    launched = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=[*BROWSER_ARGS, *COURSE_BROWSER_ARGS]
    )
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def lms(stack: Stack) -> Iterator[Lms]:
    """The platform, registered with the tool by hand (its key holder being the stack's examiner),
    with a course and its teacher."""
    with running_platform() as platform:
        tool = platform.register_tool(stack.api)
        answer = stack.session.post(
            stack.url("lti/registrations"), json=platform.registration_in(tool), headers={"x-api-key": stack.key or ""}
        )
        assert answer.status_code == 201, answer.text
        platform.add_course(COURSE, COURSE_TITLE)
        platform.add_user(TEACHER, "Ada", "Teacher", "ada.teacher@example.edu")
        platform.add_member(COURSE, TEACHER, [INSTRUCTOR])
        yield Lms(platform, tool, answer.json())


@pytest.fixture
def context(phaseout: Browser, console_errors: list[str]) -> Iterator[BrowserContext]:
    context = phaseout.new_context(viewport=DESKTOP, timezone_id=ZONE, locale="en-GB", accept_downloads=True)
    context.on("page", lambda page: page.on("console", lambda message: record_problem(message, console_errors)))
    yield context
    context.close()
    # Chromium refuses a cross-origin frame's script the focus until the user has used the frame,
    # and says so: the pages' own focus moves (a panel's heading) are not errors of theirs.
    assert [error for error in console_errors if not error.startswith(AUTOFOCUS_REFUSED)] == []


def _tool(page: Page) -> FrameLocator:
    return page.frame_locator('iframe[name="tool"]')


def _tool_frame(page: Page) -> Frame:
    frame = page.frame(name="tool")
    assert frame is not None
    return frame


def _learner(lms: Lms, user_id: str, given: str, family: str) -> None:
    lms.platform.add_user(user_id, given, family, f"{user_id}@example.edu")
    lms.platform.add_member(COURSE, user_id, [LEARNER])


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def open_picker(page: Page, lms: Lms) -> FrameLocator:
    """The teacher adds the tool to the course: the console's picker in the course's frame."""
    page.goto(lms.platform.course_url(COURSE, TEACHER))
    page.get_by_role("button", name="Add Exam Depository").click()
    tool = _tool(page)
    expect(tool.get_by_role("heading", name=f"Choose the exam for {COURSE_TITLE}")).to_be_visible()
    return tool


def create_as_teacher(page: Page, stack: Stack, exam_id: str, title: str, *, due_in_s: float = 3600) -> None:
    """An exam of the teacher's own, made with the session the picker holds (as its "Create an
    exam" would), then the picker again: the teacher adds the tool once more (a reload of the
    frame would forget the session where the browser keeps no storage for the frame)."""
    frame = _tool_frame(page)
    session = frame.evaluate("sessionStorage.getItem('lti-session')")
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=due_in_s)).isoformat()
    opens = (now - timedelta(minutes=1)).isoformat()
    body = {"exam_id": exam_id, "title": title, "timezone": ZONE, "opens_at": opens, "due_at": due, "cutoff_at": due}
    made = stack.session.post(stack.url("exams"), json=body, headers={"Authorization": f"Bearer {session}"})
    assert made.status_code == 201, made.text
    page.get_by_role("button", name="Add Exam Depository").click()
    expect(_tool(page).get_by_role("button", name=f"Choose {title}", exact=True)).to_be_visible()


def place(context: BrowserContext, lms: Lms, stack: Stack, exam_id: str, title: str, *, due_in_s: float = 3600) -> None:
    """The teacher makes an exam and places it in the course (the picker, by mouse)."""
    page = context.new_page()
    tool = open_picker(page, lms)
    create_as_teacher(page, stack, exam_id, title, due_in_s=due_in_s)
    tool.get_by_role("button", name=f"Choose {title}", exact=True).click()
    expect(tool.get_by_role("heading", name=f"Added to {COURSE_TITLE}")).to_be_visible()
    page.close()


# --- deep linking: the picker, by the keyboard ---------------------------------------------------


def test_a_teacher_places_an_exam_in_the_course_with_the_keyboard_alone(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    page = context.new_page()
    open_picker(page, lms)
    create_as_teacher(page, stack, "lti-pick", "Placed from the picker")

    tool = _tool(page)
    heading = tool.get_by_role("heading", name=f"Choose the exam for {COURSE_TITLE}")
    expect(heading).to_be_focused()
    expect(tool.locator("#lti-signed-in")).to_contain_text(
        f"Signed in from localhost:{lms.platform.port} as Ada Teacher"
    )
    choose = tool.get_by_role("button", name="Choose Placed from the picker", exact=True)
    expect(tool.get_by_role("button", name="Create an exam")).to_be_visible()
    assert _tool_frame(page).evaluate("location.hash") == ""
    assert axe_serious(page) == []
    frame = _tool_frame(page)
    assert axe_serious_in(frame) == []
    _shot(page, "lti-picker")
    for _ in range(300):  # through the picker's choices to this exam's, as a keyboard user goes
        if choose.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(choose).to_be_focused()
    page.keyboard.press("Enter")

    expect(tool.get_by_role("heading", name=f"Added to {COURSE_TITLE}")).to_be_visible()
    links = [link for link in lms.platform.links_of(COURSE) if link.custom.get("exam_id") == "lti-pick"]
    assert len(links) == 1
    assert links[0].title == "Placed from the picker"
    assert lms.platform.line_item(links[0].line_item_id or "").label == "Placed from the picker: hand-in"


def axe_serious_in(frame: Frame) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations inside one frame (the tool's, in the course)."""
    frame.evaluate("() => {\n" + AXE.read_text() + "\n}")
    results: dict[str, Any] = frame.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [node["target"] for node in v["nodes"]])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# --- a student in the course's frame ---------------------------------------------------------------


def test_a_student_lands_in_the_courses_frame_with_no_code_to_type_and_none_in_any_address(
    context: BrowserContext, lms: Lms, stack: Stack, tmp_path: Path
) -> None:
    place(context, lms, stack, "lti-student", "Physics 101: final", due_in_s=3 * 3600)
    _learner(lms, "s-ann", "Ann", "Lee")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 from the course " * 200)
    page = context.new_page()
    addresses: list[str] = []
    page.on("request", lambda request: addresses.append(request.url))

    page.goto(lms.platform.course_url(COURSE, "s-ann"))
    page.get_by_role("button", name="Physics 101: final", exact=True).click()

    tool = _tool(page)
    expect(tool.locator("#exam-title")).to_have_text("Physics 101: final")
    expect(tool.locator("#student-name")).to_contain_text("Ann Lee")
    expect(tool.locator("#from-course")).to_have_text("Opened from your course.")
    expect(tool.locator("#code-form")).to_be_hidden()
    frame = _tool_frame(page)
    assert frame.url == f"{stack.api}/?lti=1"
    code = frame.evaluate("sessionStorage.getItem('exam-depository-course-code')")
    assert code
    assert [url for url in addresses if code in url and "/submissions/" not in url] == []
    assert axe_serious_in(frame) == []
    _shot(page, "lti-student-landing")

    # The student hands in from the frame; a reload there keeps the page (the frame's own storage)
    tool.get_by_label("Choose your file").set_input_files(answers)
    tool.get_by_role("button", name="Upload").click()
    expect(tool.locator("#status")).to_have_text("Your file is handed in.", timeout=20_000)
    frame.evaluate("location.reload()")
    expect(tool.locator("#exam-title")).to_have_text("Physics 101: final")
    expect(tool.locator("#code-form")).to_be_hidden()


def test_a_ticket_whose_answer_was_lost_is_not_sent_again(
    context: BrowserContext, lms: Lms, stack: Stack, console_errors: list[str]
) -> None:
    """A ticket works once: after an answer lost on the way back, the page does not send it again
    (it would only be refused as used) and says to open the exam from the course again."""
    place(context, lms, stack, "lti-lost", "Lost answer")
    _learner(lms, "s-cy", "Cy", "Diaz")
    page = context.new_page()
    sent: list[str] = []

    def lose_the_answer(route: Route, request: Request) -> None:
        sent.append(request.url)
        route.fetch()  # the ticket reaches the tool, which uses it
        route.abort()  # and its answer never reaches the page

    page.route(f"{stack.api}/lti/tickets", lose_the_answer)
    page.goto(lms.platform.course_url(COURSE, "s-cy"))
    page.get_by_role("button", name="Lost answer", exact=True).click()
    expect(_tool(page).get_by_text("This page could not be opened from your course.")).to_be_visible()
    assert sent == [f"{stack.api}/lti/tickets"]
    # The one error Chromium logs is the answer this test threw away.
    console_errors.remove("Failed to load resource: net::ERR_FAILED")


def test_where_the_frame_may_keep_no_cookie_the_platforms_storage_carries_the_launch(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    place(context, lms, stack, "lti-storage", "Storage frame")
    _learner(lms, "s-bo", "Bo", "Chen")
    page = context.new_page()
    page.add_init_script(NOTHING_KEPT_IN_FRAMES)
    page.route(f"{stack.api}/lti/login*", _without_set_cookie)

    page.goto(lms.platform.course_url(COURSE, "s-bo", storage=True))
    page.get_by_role("button", name="Storage frame", exact=True).click()

    tool = _tool(page)
    expect(tool.locator("#exam-title")).to_have_text("Storage frame")
    expect(tool.locator("#student-name")).to_contain_text("Bo Chen")
    storage = page.frame(name="post_message_forwarding")
    assert storage is not None
    log = storage.evaluate("window.ltiStorageLog")
    asked = [entry["received"]["subject"] for entry in log]
    assert asked == ["lti.put_data", "lti.get_data"]
    assert {entry["origin"] for entry in log} == {stack.api}
    assert log[1]["replied"]["value"] == log[0]["received"]["value"]  # the state, kept for the tool's origin
    assert axe_serious_in(_tool_frame(page)) == []

    # The code was kept in the frame's memory alone: a reload there asks for the course's link again
    _tool_frame(page).evaluate("location.reload()")
    expect(tool.locator("#status")).to_have_text(
        "To hand in from your course, open the exam there again, or type your upload code."
    )
    expect(tool.get_by_label("Your upload code")).to_be_visible()


def test_without_cookies_or_storage_the_launch_opens_in_a_new_window(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    place(context, lms, stack, "lti-window", "New window")
    _learner(lms, "s-cy", "Cy", "Zhou")
    page = context.new_page()
    page.add_init_script(NOTHING_KEPT_IN_FRAMES)
    page.route(f"{stack.api}/lti/login*", _without_set_cookie)

    page.goto(lms.platform.course_url(COURSE, "s-cy"))
    page.get_by_role("button", name="New window", exact=True).click()

    tool = _tool(page)
    expect(tool.get_by_text("Your browser blocks what this page needs inside the course.")).to_be_visible()
    assert axe_serious_in(_tool_frame(page)) == []
    _shot(page, "lti-new-window")
    with context.expect_page() as opened:
        tool.get_by_role("button", name="Open in a new window").click()
    window = opened.value
    expect(window.locator("#exam-title")).to_have_text("New window")
    expect(window.locator("#student-name")).to_contain_text("Cy Zhou")
    assert window.url == f"{stack.api}/?lti=1"
    assert axe_serious(window) == []


def _without_set_cookie(route: Route, request: Request) -> None:
    """The login's answer as a browser that keeps no cookie for the frame receives it."""
    response = route.fetch()
    headers = {name: value for name, value in response.headers.items() if name.lower() != "set-cookie"}
    route.fulfill(response=response, headers=headers)


# --- a teacher in the course's frame ---------------------------------------------------------------


def test_a_teacher_lands_in_the_console_on_the_exam_with_a_session_and_syncs_the_class_list(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    place(context, lms, stack, "lti-teacher", "Physics 101: midterm")
    for user, given, family in (("s-kim", "Kim", "Park"), ("s-lu", "Lu", "Wang")):
        _learner(lms, user, given, family)
    page = context.new_page()
    sent: list[dict[str, str]] = []
    page.on("request", lambda request: sent.append(request.headers) if "/exams" in request.url else None)

    page.goto(lms.platform.course_url(COURSE, TEACHER))
    page.get_by_role("button", name="Physics 101: midterm", exact=True).click()

    tool = _tool(page)
    expect(tool.locator("#exam-heading")).to_have_text("Physics 101: midterm")
    expect(tool.locator("#lti-signed-in")).to_have_text(
        re.compile(rf"^Signed in from localhost:{lms.platform.port} as Ada Teacher \(Owner\) until .+\.$")
    )
    expect(tool.get_by_role("button", name="Sign out")).to_be_visible()
    frame = _tool_frame(page)
    assert frame.url == f"{stack.api}/examiner?lti=1"
    panel = tool.locator("#lti-panel")
    expect(panel).to_contain_text(f"{COURSE_TITLE} on localhost:{lms.platform.port}")
    expect(panel).to_contain_text("Gradebook column")
    assert axe_serious_in(frame) == []
    _shot(page, "lti-teacher-landing")

    # The class list: everyone in the course who is a learner comes onto the roster, from the LMS
    tool.get_by_role("button", name="Sync the class list now").click()
    expect(tool.locator("#lti-sync-report")).to_contain_text("Kim Park")
    expect(tool.locator("#roster tbody tr[data-nickname]").filter(has_text="Kim")).to_contain_text("from the LMS")
    expect(tool.locator("#lti-sync")).to_be_focused()
    lms.platform.drop_member(COURSE, "s-lu")
    tool.get_by_role("button", name="Sync the class list now").click()
    expect(tool.locator("#lti-sync-report")).to_contain_text("1 left")
    expect(tool.locator("#roster tbody tr[data-nickname]").filter(has_text="Lu")).to_contain_text("left the course on")
    assert axe_serious_in(frame) == []
    tool.locator("#lti-panel").screenshot(path=ARTIFACTS / "lti-panel.png")

    # Every request of the console carried the session and no key
    assert sent
    assert all(headers.get("authorization", "").startswith("Bearer ") for headers in sent)
    assert all("x-api-key" not in headers for headers in sent)


def test_a_teacher_in_a_frame_that_may_keep_nothing_has_the_console_all_the_same(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    place(context, lms, stack, "lti-nothing-kept", "Nothing kept")
    page = context.new_page()
    page.add_init_script(NOTHING_KEPT_IN_FRAMES)
    page.route(f"{stack.api}/lti/login*", _without_set_cookie)

    page.goto(lms.platform.course_url(COURSE, TEACHER, storage=True))
    page.get_by_role("button", name="Nothing kept", exact=True).click()

    tool = _tool(page)
    expect(tool.locator("#exam-heading")).to_have_text("Nothing kept")
    expect(tool.locator("#lti-signed-in")).to_contain_text("as Ada Teacher (Owner)")
    expect(tool.locator("#lti-panel")).to_contain_text(COURSE_TITLE)
    assert _tool_frame(page).evaluate("sessionStorage instanceof Storage") is False  # the tab's memory


def test_a_session_that_ended_signs_the_teacher_out_with_the_reason(context: BrowserContext, stack: Stack) -> None:
    stack.create_exam("lti-ended", title="Ended session")
    page = context.new_page()
    page.goto(f"{stack.api}/examiner?lti=1#session=not.a-session.{secrets.token_urlsafe(32)}&exam=lti-ended")

    expect(page.get_by_role("alert")).to_have_text(re.compile("Your session from the LMS has ended or is not valid"))
    expect(page.get_by_label("Your examiner key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('lti-session')") is None
    assert page.url == f"{stack.api}/examiner?lti=1"


def test_a_session_leaves_the_address_before_the_lms_part_of_the_console_loads(
    context: BrowserContext, stack: Stack, console_errors: list[str]
) -> None:
    """The session is a 4-hour bearer credential: it leaves the address bar and the history at
    once, even when lti.js never comes (a network failure, a blocked script)."""
    page = context.new_page()
    page.route(f"{stack.api}/static/lti.js", lambda route: route.abort())
    page.goto(f"{stack.api}/examiner?lti=1#session=a.b.{secrets.token_urlsafe(32)}&exam=lti-none")

    expect(page.get_by_role("alert")).to_contain_text("The network failed.")
    assert page.url == f"{stack.api}/examiner?lti=1"
    # The one error Chromium logs is the script this test refused.
    console_errors.remove("Failed to load resource: net::ERR_FAILED")


# --- the LMS connections of a key holder -------------------------------------------------------------


def test_a_key_holder_connects_an_lms_and_sees_the_tools_addresses(
    context: BrowserContext, lms: Lms, stack: Stack
) -> None:
    stack.create_exam("lti-key-panel", title="Not in a course")
    page = context.new_page()
    page.goto(f"{stack.api}/examiner")
    page.get_by_label("Your examiner key").fill(stack.key or "")
    page.get_by_role("button", name="Sign in").click()
    opener = page.get_by_role("button", name="LMS connections…")
    opener.click()
    expect(page.get_by_role("heading", name="LMS connections")).to_be_focused()
    expect(page.locator("#lti-registrations")).to_contain_text(
        f"{lms.platform.issuer}: client {lms.tool.client_id}, registered by hand, deployments {lms.tool.deployment_id}"
    )
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#lti-tool")).to_contain_text(f"{stack.api}/lti/login")

    page.get_by_role("button", name="Connect an LMS").click()
    url = page.get_by_label("Paste this address into your LMS's tool registration, once, within 24 hours:")
    expect(url).to_have_value(re.compile(r"/lti/register/[A-Za-z0-9_-]+$"))
    expect(url).to_be_focused()
    assert axe_serious(page) == []

    page.get_by_role("button", name="Register by hand…").click()
    page.get_by_label("Issuer (platform id)").fill("https://moodle.example.edu")
    page.get_by_label("Client id").fill(f"client-{secrets.token_hex(4)}")
    page.get_by_label("Deployment ids, one a line").fill("3\n4")
    page.get_by_label("Authentication request URL").fill("https://moodle.example.edu/mod/lti/auth.php")
    page.get_by_label("Access token URL").fill("https://moodle.example.edu/mod/lti/token.php")
    page.get_by_label("Public keyset URL").fill("https://moodle.example.edu/mod/lti/certs.php")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.locator("#status")).to_have_text("https://moodle.example.edu is registered.")
    expect(page.locator("#lti-registrations")).to_contain_text("registered by hand, deployments 3, 4")
    assert axe_serious(page) == []
    _shot(page, "lti-connections")

    # An exam's courses open from a button (most exams are in none)
    Console(page, stack).open_exam("Not in a course")
    courses = page.get_by_role("button", name="Courses in an LMS…")
    expect(page.locator("#lti-panel")).to_be_hidden()
    courses.click()
    expect(page.get_by_role("heading", name="Courses in an LMS")).to_be_focused()
    expect(page.locator("#lti-panel")).to_contain_text("This exam is in no course yet.")
    expect(courses).to_have_attribute("aria-expanded", "true")
    assert axe_serious(page) == []
    courses.click()
    expect(page.locator("#lti-panel")).to_be_hidden()
