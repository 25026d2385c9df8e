"""LTI 1.3 end to end: the local stack (its tool, admin and worker functions, the authorizer as API
Gateway runs it, the jobs queue) and the test platform on loopback (an LMS at
`http://localhost:<port>`, another site than the tool at 127.0.0.1), driven in Debian's Chromium
and over HTTP. A platform registers by hand and dynamically; a teacher places the exam in the course
by deep linking; a learner launches from the course's iframe and hands in, and the platform's
gradebook receives the hand-in status; a teacher launches into the console; the class list is
synced with joiners and leavers; launches that are not what they claim are refused; key callers
are answered as before.

What it cannot prove: that a real LMS (Moodle, Canvas, Blackboard, Brightspace) accepts what the tool
sends; the platform here implements the specification's MUSTs the tool relies on (docs/LTI.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from exam_depository.domain import lti
from playwright.sync_api import Browser, FrameLocator, Page, Request, expect

from tests.browser import _ARGS as BROWSER_ARGS
from tests.browser import ARTIFACTS, CHROMIUM
from tests.e2e.conftest import Stack
from tests.lti_platform import keys
from tests.lti_platform.platform import INSTRUCTOR, LEARNER, Tool
from tests.lti_platform.registration import RegisteringPlatform
from tests.waiting import wait_until

EXAM_ID = "lti-physics"
TITLE = "Physics"
COURSE = "phys-101"
COURSE_TITLE = "Physics 101"
PROBLEM = "urn:exam-depository:problem:"
TIMEOUT_MS = 20_000


# Playwright launches Chromium with ThirdPartyStoragePartitioning disabled (its issue 32230), which
# Chrome ships enabled: the tool's frame in the course would then get no sessionStorage at all,
# where Chrome, Firefox and Safari give it a partitioned one. The course's browser is launched with
# Playwright's other disabled features only (a later --disable-features replaces the earlier).
PLAYWRIGHTS_OTHER_DISABLED_FEATURES = ",".join(
    (
        "AvoidUnnecessaryBeforeUnloadCheckSync",
        "DestroyProfileOnBrowserClose",
        "HttpsUpgrades",
        "HttpsFirstBalancedModeAutoEnable",
        "LensOverlay",
        "MediaRouter",
        "PaintHolding",
        "AvoidCorsURLLoaderRestartOnRedirect",
        "OptimizationHints",
        "NetworkTimeServiceQuerying",
        "AimEnabled",
        "PreconnectToSearch",
    )
)
# Chrome's third-party cookie phase-out (the frame's partitioned cookies kept, others not); the
# course (localhost) and the tool (127.0.0.1) are both loopback: no Local Network Access prompt
# stands between them, as none does between a public LMS and a public tool.
COURSE_BROWSER_ARGS = (
    "--test-third-party-cookie-phaseout",
    f"--disable-features={PLAYWRIGHTS_OTHER_DISABLED_FEATURES},LocalNetworkAccessChecks",
)


@pytest.fixture(scope="module")
def course_browser(browser: Browser) -> Iterator[Browser]:
    """Debian's Chromium as tests/browser.py launches it, with partitioned third-party storage."""
    launched = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*BROWSER_ARGS, *COURSE_BROWSER_ARGS],
    )
    yield launched
    launched.close()


@dataclass
class Lms:
    platform: RegisteringPlatform
    tool: Tool
    registration: dict[str, Any]


@pytest.fixture(scope="module")
def lms(stack: Stack) -> Iterator[Lms]:
    """The platform, the tool registered with it by hand and with the stack by the API (key), the
    exam and a course with a teacher and a learner."""
    platform = RegisteringPlatform().start()
    try:
        tool = platform.register_tool(
            stack.api,
            login_url=stack.info["lti_login_url"],
            launch_url=stack.info["lti_launch_url"],
            jwks_url=stack.info["lti_jwks_url"],
        )
        made = requests.post(
            stack.url("lti/registrations"),
            json=platform.registration_in(tool),
            headers={"x-api-key": stack.key or ""},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        stack.create_exam(EXAM_ID, title=TITLE, due_in_s=6 * 3600, cutoff_in_s=6 * 3600)
        platform.add_course(COURSE, COURSE_TITLE)
        platform.add_user("teacher", "Tom", "Teacher", "tom.teacher@example.edu")
        platform.add_member(COURSE, "teacher", [INSTRUCTOR])
        platform.add_user("ann", "Ann", "Lee", "ann.lee@example.edu")
        platform.add_member(COURSE, "ann", [LEARNER])
        yield Lms(platform, tool, made.json())
    finally:
        platform.stop()


@pytest.fixture(scope="module")
def placed(lms: Lms, course_browser: Browser, stack: Stack) -> dict[str, Any]:
    """The exam placed in the course by the teacher: the deep-linking request, the console's picker,
    the signed answer posted back to the platform (what the platform shows it made). The teacher
    is first made a co-examiner of the exam: the owner invites, the teacher's session redeems."""
    invited = stack.invite(EXAM_ID, "co_examiner")
    assert invited.status_code == 201, invited.text
    session = _session_of(lms.platform.forge_launch(lms.tool, "teacher", deep_link_context=COURSE).post())
    joined = requests.post(
        stack.url(f"members/invitations/{invited.json()['invitation_code']}"),
        headers={"Authorization": f"Bearer {session}"},
        timeout=30,
    )
    assert joined.status_code == 200, joined.text
    context = course_browser.new_context()
    page = context.new_page()
    try:
        page.goto(lms.platform.course_url(COURSE, "teacher"))
        page.get_by_role("button", name="Add Exam Depository").click()
        tool = page.frame_locator('iframe[name="tool"]')
        tool.get_by_role("button", name=f"Choose {TITLE}").click(timeout=TIMEOUT_MS)
        this = tool.get_by_role("button", name=f"Choose this exam for {COURSE_TITLE}")
        if this.count():
            this.click()
        items = tool.locator("#content-items")
        expect(items).to_be_attached(timeout=TIMEOUT_MS)
        page.screenshot(path=ARTIFACTS / "lti-deep-link-placed.png", full_page=True)
        [link] = json.loads(items.text_content() or "[]")
        return dict(link)
    finally:
        context.close()


def test_a_platform_registered_by_hand_gets_the_stacks_tool_urls(lms: Lms, stack: Stack) -> None:
    tool = lms.registration["tool"]
    assert tool["login_url"] == stack.info["lti_login_url"]
    assert tool["launch_url"] == stack.info["lti_launch_url"]
    assert tool["jwks_url"] == stack.info["lti_jwks_url"]
    assert lms.registration["how"] == "manual"
    listed = requests.get(stack.url("lti/registrations"), headers={"x-api-key": stack.key or ""}, timeout=30)
    assert lms.registration["registration_id"] in [r["registration_id"] for r in listed.json()["items"]]


def test_deep_linking_places_the_exam_with_its_link_and_gradebook_column(placed: dict[str, Any], lms: Lms) -> None:
    assert placed["title"] == TITLE
    assert placed["custom"]["exam_id"] == EXAM_ID
    assert re.fullmatch(r"[0-9a-f-]{36}", placed["custom"]["link"])
    assert placed["line_item"]["label"] == f"{TITLE}: hand-in"
    assert placed["url"] == lms.tool.launch_url


def test_a_learner_launches_from_the_course_hands_in_and_the_gradebook_hears_of_it(
    lms: Lms, placed: dict[str, Any], course_browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    context = course_browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    try:
        page.goto(lms.platform.course_url(COURSE, "ann"))
        page.get_by_role("button", name=TITLE).click()
        tool = page.frame_locator('iframe[name="tool"]')
        expect(tool.get_by_text("Opened from your course.")).to_be_visible(timeout=TIMEOUT_MS)
        expect(tool.get_by_label("Your upload code")).to_be_hidden()
        frame = _tool_frame(page)
        assert "#ticket" not in frame.url
        assert "ticket=" not in frame.url
        page.screenshot(path=ARTIFACTS / "lti-e2e-student-landing.png", full_page=True)
        _write_trace(stack)

        answers = tmp_path / "answers.pdf"
        answers.write_bytes(b"%PDF-1.7 handed in from the course")
        _choose_when_shown(tool, answers)
        tool.get_by_role("button", name="Upload").click()
        expect(tool.locator("#status")).to_have_text("Your file is handed in.", timeout=TIMEOUT_MS)
    finally:
        context.close()

    line_item = placed["line_item"]["id"]
    wait_until(lambda: lms.platform.scores(line_item), timeout_s=30, what="the platform received the score")
    [score] = lms.platform.scores(line_item)
    (ARTIFACTS / "ags-score.json").write_text(json.dumps(score, indent=2) + "\n")
    assert score["userId"] == "ann"
    assert (score["activityProgress"], score["gradingProgress"]) == ("Submitted", "PendingManual")
    assert "scoreGiven" not in score
    assert score["comment"] == "Handed in: answers.pdf (34 bytes), attempt 1 of 5."
    assert score["timestamp"] == score["submission"]["submittedAt"]
    assert _student(stack, "ann.lee")["from_lms"] is True

    # When the due time has passed (the window moved) and Ann hands in again, late
    now = datetime.now(UTC)
    moved = stack.patch_exam(EXAM_ID, {"due_at": (now - timedelta(minutes=1)).isoformat()})
    assert moved.status_code == 200, moved.text
    context = course_browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    try:
        page.goto(lms.platform.course_url(COURSE, "ann"))
        page.get_by_role("button", name=TITLE).click()
        tool = page.frame_locator('iframe[name="tool"]')
        later = tmp_path / "answers-v2.pdf"
        later.write_bytes(b"%PDF-1.7 second thoughts, late")
        _choose_when_shown(tool, later)
        tool.get_by_role("button", name="Upload").click()
        tool.get_by_role("button", name="Upload late and replace it").click(timeout=TIMEOUT_MS)
        expect(tool.locator("#receipt-title")).to_have_text("Handed in late", timeout=TIMEOUT_MS)
    finally:
        context.close()
    # Then the gradebook gets a second status, saying so, with a later timestamp
    wait_until(lambda: len(lms.platform.scores(line_item)) == 2, timeout_s=30, what="the late score arrived")
    second = lms.platform.scores(line_item)[1]
    assert second["comment"] == "Handed in late: answers-v2.pdf (30 bytes), attempt 2 of 5."
    assert second["timestamp"] > score["timestamp"]


def test_a_teacher_launches_into_the_console_with_a_session_and_no_key(
    lms: Lms, placed: dict[str, Any], course_browser: Browser
) -> None:
    context = course_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sent: list[dict[str, str]] = []

    def note(request: Request) -> None:
        if "/exams" in request.url:
            sent.append(request.headers)

    page.on("request", note)
    try:
        page.goto(lms.platform.course_url(COURSE, "teacher"))
        page.get_by_role("button", name=TITLE).click()
        tool = page.frame_locator('iframe[name="tool"]')
        expect(tool.get_by_text(re.compile(r"Signed in from .* as Tom Teacher"))).to_be_visible(timeout=TIMEOUT_MS)
        expect(tool.get_by_role("heading", name=TITLE).first).to_be_visible(timeout=TIMEOUT_MS)
        page.screenshot(path=ARTIFACTS / "lti-e2e-teacher-landing.png", full_page=True)
    finally:
        context.close()
    assert sent, "the console called the API"
    assert all(h.get("authorization", "").startswith("Bearer ") for h in sent)
    assert not any("x-api-key" in h for h in sent)


def test_a_roster_sync_adds_joiners_and_marks_leavers(lms: Lms, placed: dict[str, Any], stack: Stack) -> None:
    # Given the class list's URL learnt (a teacher's launch) and 5 learners, one of whom launched
    for n in range(1, 5):
        lms.platform.add_user(f"learner-{n}", "Learner", f"Number{n}", f"learner{n}@example.edu")
        lms.platform.add_member(COURSE, f"learner-{n}", [LEARNER])
    _launch_as(lms, "teacher")
    first = _sync(stack)
    assert sorted(a["nickname"] for a in first["added"]) == [f"learner.number{n}" for n in range(1, 5)]
    # When one leaves the course and two join
    lms.platform.drop_member(COURSE, "learner-1")
    for n in (5, 6):
        lms.platform.add_user(f"learner-{n}", "Learner", f"Number{n}", None)
        lms.platform.add_member(COURSE, f"learner-{n}", [LEARNER])
    second = _sync(stack)
    (ARTIFACTS / "nrps-sync.json").write_text(json.dumps({"first": first, "second": second}, indent=2) + "\n")
    assert sorted(a["nickname"] for a in second["added"]) == ["learner.number5", "learner.number6"]
    assert [x["nickname"] for x in second["left"]] == ["learner.number1"]
    left = _student(stack, "learner.number1")
    assert left["left_course_at"] is not None


@pytest.mark.parametrize(
    ("variation", "status", "kind"),
    [
        ("forged", 403, "signature"),
        ("expired", 403, "expired"),
        ("wrong-audience", 403, "wrong-audience"),
        ("unknown-deployment", 403, "deployment-unknown"),
        ("another-browser", 403, "state-other-browser"),
        ("replayed", 400, "state-unknown"),  # the same form again: its login is used already
        ("another-examiners-exam", 403, "exam-not-linked"),
    ],
)
def test_a_launch_that_is_not_what_it_claims_is_refused(
    lms: Lms, placed: dict[str, Any], variation: str, status: int, kind: str
) -> None:
    link = next(link for link in lms.platform.links_of(COURSE) if link.title == TITLE)
    claims: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if variation == "forged":
        options["key"] = keys.stranger()
    elif variation == "expired":
        options.update(exp_in=-600, iat_shift=-300)
    elif variation == "wrong-audience":
        claims.update(aud="another-tool", azp="another-tool")
    elif variation == "unknown-deployment":
        claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = "not-a-deployment"
    elif variation == "another-examiners-exam":
        claims["https://purl.imsglobal.org/spec/lti/claim/custom"] = {"exam_id": "e2e", "link": link.custom["link"]}
    forged = lms.platform.forge_launch(lms.tool, "ann", link, claims=claims, **options)
    if variation == "another-browser":
        answer = forged.post(requests.Session())
    elif variation == "replayed":
        assert forged.post().status_code == 303
        answer = forged.post()
    else:
        answer = forged.post()
    assert answer.status_code == status, answer.text[:500]
    assert f'data-type="{PROBLEM}lti-{kind}"' in answer.text


def test_key_callers_are_answered_as_before_and_a_session_cannot_register(
    lms: Lms, placed: dict[str, Any], stack: Stack
) -> None:
    session = _launch_as(lms, "teacher")
    refused = requests.post(
        stack.url("lti/registrations"),
        json=lms.platform.registration_in(lms.tool),
        headers={"Authorization": f"Bearer {session}"},
        timeout=30,
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == PROBLEM + "key-required"
    junk = requests.get(stack.url("exams"), headers={"Authorization": "Bearer not.a.session"}, timeout=30)
    assert junk.status_code == 401
    assert junk.json()["type"] == PROBLEM + "session-not-valid"
    sessions_key = json.loads((stack.local_dir / "secrets.json").read_text())["lti_sessions_key"]["value"]
    as_key = requests.get(stack.url("exams"), headers={"x-api-key": sessions_key}, timeout=30)
    assert as_key.status_code == 401
    assert requests.get(stack.url("exams"), headers={"x-api-key": stack.key or ""}, timeout=30).status_code == 200
    assert requests.get(stack.url("exams"), timeout=30).status_code == 403


def test_a_platform_registers_the_tool_dynamically_and_launches_through_it(
    lms: Lms, stack: Stack, course_browser: Browser
) -> None:
    offer = requests.post(stack.url("lti/registrations/dynamic"), headers={"x-api-key": stack.key or ""}, timeout=30)
    assert offer.status_code == 201, offer.text
    context = course_browser.new_context()
    page = context.new_page()
    try:
        page.goto(lms.platform.url(f"/admin/add-tool?{urlencode({'url': offer.json()['registration_url']})}"))
        expect(page.locator("#status")).to_have_text("registered", timeout=TIMEOUT_MS)
    finally:
        context.close()
    listed = requests.get(stack.url("lti/registrations"), headers={"x-api-key": stack.key or ""}, timeout=30).json()
    dynamic = [r for r in listed["items"] if r["how"] == "dynamic"]
    assert len(dynamic) == 1
    # A launch through it works (the exam placed in a course of that registration by hand)
    tool = lms.platform.tool_of(dynamic[0]["client_id"])
    lms.platform.add_course("chem-101", "Chemistry 101")
    lms.platform.add_member("chem-101", "teacher", [INSTRUCTOR])
    forged = lms.platform.forge_launch(tool, "teacher", deep_link_context="chem-101")
    answer = forged.post()
    assert answer.status_code == 303, answer.text[:500]
    assert "#session=" in answer.headers["Location"]


# --- helpers


def _write_trace(stack: Stack) -> None:
    """The last launch's check lines in the stack's log (by its correlation id), in order, as
    test-artifacts/lti-launch-trace.md: each check of the launch passed, in the order it runs."""
    lines = [
        json.loads(line) for line in (stack.local_dir / "stack.log").read_text().splitlines() if "lti_check" in line
    ]
    last = lines[-1]["correlation_id"]
    checks = [(line["lti_check"], line["passed"]) for line in lines if line["correlation_id"] == last]
    assert [name for name, _ in checks] == list(lti.CHECKS)
    assert all(passed for _, passed in checks)
    rows = "\n".join(
        f"| {n} | `{name}` | {'passed' if passed else 'refused'} |" for n, (name, passed) in enumerate(checks, 1)
    )
    (ARTIFACTS / "lti-launch-trace.md").write_text(
        f"# A learner's launch, check by check\n\nCorrelation id `{last}` (the stack's log, `lti_check` lines).\n\n"
        f"| # | check | result |\n| --- | --- | --- |\n{rows}\n"
    )


def _choose_when_shown(tool: FrameLocator, file: Path) -> None:
    """The file chosen once the upload form is shown: the page's script has then run and hears the
    choice. Playwright sets a file on a hidden input, and the input is in the page before its
    script: a file set then is never heard of, and Upload stays disabled (a student sees no form)."""
    choose = tool.get_by_label("Choose your file")
    expect(choose).to_be_visible(timeout=TIMEOUT_MS)
    choose.set_input_files(file)


def _tool_frame(page: Page) -> Any:
    frame = page.frame(name="tool")
    assert frame is not None
    return frame


def _launch_as(lms: Lms, user: str) -> str:
    """A launch by HTTP (cookie jar), as the browser makes it: the session its landing hands over."""
    link = next(link for link in lms.platform.links_of(COURSE) if link.title == TITLE)
    return _session_of(lms.platform.forge_launch(lms.tool, user, link).post())


def _session_of(landing: requests.Response) -> str:
    assert landing.status_code == 303, landing.text[:500]
    return parse_qs(urlsplit(landing.headers["Location"]).fragment)["session"][0]


def _sync(stack: Stack) -> dict[str, Any]:
    answer = requests.post(
        stack.url(f"exams/{EXAM_ID}/lti/roster-sync"), headers={"x-api-key": stack.key or ""}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    [report] = answer.json()["links"]
    assert report["status"] == "done", report
    return dict(report)


def _student(stack: Stack, nickname: str) -> dict[str, Any]:
    listed = stack.students(EXAM_ID).json()["items"]
    return dict(next(s for s in listed if s["nickname"] == nickname))
