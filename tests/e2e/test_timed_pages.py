"""A timed exam on the student's page, in Debian's Chromium against the local stack: what starting
means, said before it; the start confirmed in a dialog by keyboard alone; the question paper
downloaded; the warnings at 10, 5 and 1 minutes before the student's own due time (the page's
clock fast-forwarded past each); then an upload and its receipt. At 390 px and on a desktop, in
English and German, with axe-core at each state under the page's own CSP."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import ARTIFACTS
from tests.e2e.conftest import Stack, shown
from tests.e2e.student_pages import AXE, WIDTHS, browser_tab, facts, live_seen, tab_to
from tests.e2e.test_pages import CODE
from tests.waiting import wait_until

CATALOGUES = Path(__file__).parents[2] / "functions" / "serve_pages" / "static" / "i18n"
WORDS = {language: json.loads((CATALOGUES / f"{language}.json").read_text()) for language in ("en", "de")}
LOCALES = {"en": "en-GB", "de": "de-DE"}
ZONE = "Europe/Paris"  # the exam's
OWN_ZONE = "America/New_York"  # the student's, on the other side of the ocean
PAPER = b"%PDF-1.7 the question paper " * 400
PAPER_NAME = "Thermodynamics paper.pdf"
MINUTES = 20  # the exam's time limit; each student here has 25 % more: 25 minutes


def timed_exam_with_paper(stack: Stack, exam_id: str, nickname: str) -> dict[str, Any]:
    """A timed exam open for hours (20 minutes a student), its question paper uploaded before it
    opened, and a student with 25 % extra time; returns the student."""
    stack.create_exam(
        exam_id, opens_in_s=3600, due_in_s=4 * 3600, cutoff_in_s=4 * 3600 + 900,
        duration_minutes=MINUTES, title="Thermodynamics", timezone=ZONE,
    )  # fmt: skip
    student = stack.create_student(exam_id, nickname, "Zoë", "Müller")
    assert stack.put_accommodation(exam_id, nickname, {"extra_time_percent": 25}).status_code == 200
    form = stack.paper_form(exam_id, PAPER_NAME, hashlib.sha256(PAPER).hexdigest())
    assert form.status_code == 201, form.text
    assert stack.post_form(form.json(), PAPER, filename=PAPER_NAME).status_code in (200, 201, 204)
    wait_until(lambda: stack.exam(exam_id).json()["paper"], timeout_s=30, what="the question paper was recorded")
    # The examiner opens it early; the paper was in place before.
    opened = stack.patch_exam(exam_id, {"opens_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
    assert opened.status_code == 200, opened.text
    return student


def axe_violations(page: Page) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations in the page as it is now. Its source is evaluated
    by the test (DevTools), not added as a script of the page's: the page's CSP stays as served."""
    assert AXE.is_file(), "axe-core is missing: `make e2e` installs it into .tools/axe"
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in results["violations"]]
    return [v for v in found if v[1] in ("serious", "critical")]


def formatted(page: Page, code: str, iso: str, options: dict[str, str]) -> str:
    text: str = page.evaluate(
        "([locale, options, iso]) => new Intl.DateTimeFormat(locale, options).format(new Date(iso))",
        [LOCALES[code], options, iso],
    )
    return text


def percent(page: Page, code: str, share: float) -> str:
    text: str = page.evaluate(
        "([locale, share]) => new Intl.NumberFormat(locale, {style: 'percent'}).format(share)", [LOCALES[code], share]
    )
    return text


def receipt_claims(receipt: str) -> dict[str, Any]:
    payload = receipt.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


VARIANTS = [("en", "desktop"), ("en", "390px"), ("de", "390px")]


@pytest.mark.parametrize(("language", "width"), VARIANTS)
def test_a_timed_student_starts_by_keyboard_downloads_the_paper_is_warned_near_the_end_and_hands_in(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], language: str, width: str
) -> None:
    words = WORDS[language]
    student = timed_exam_with_paper(stack, f"timed-page-{language}-{width}", f"timed.{language}.{width}")
    code = student["upload_code"]
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 answered within the time " * 100)
    shots = f"{language}-{width}"

    with browser_tab(browser, console_errors, WIDTHS[width], locale=LOCALES[language], timezone_id=OWN_ZONE) as page:
        page.clock.install()  # the page's clock runs as it would, until the test moves it on
        page.goto(f"{stack.api}/")
        tab_to(page, page.locator("#code"))
        page.keyboard.type(code)
        page.keyboard.press("Enter")

        # Before the start: how long, with the extra time, and no way to hand in yet.
        summary = page.locator("#timed-summary")
        minutes = words["time.part.minutes"]
        expect(summary).to_have_text(
            words["upload.timed.summary-extra"]
            .replace("{duration}", minutes.replace("{count}", str(MINUTES)))
            .replace("{extra}", percent(page, language, 0.25))
            .replace("{time}", minutes.replace("{count}", "25"))
        )
        start = page.get_by_role("button", name=words["upload.timed.start"])
        expect(start).to_be_visible()
        expect(page.locator("#file-form")).to_be_hidden()
        expect(page.locator("#paper")).to_be_hidden()
        assert stack.paper_link(code).status_code == 409  # no route gives the paper before the start
        assert axe_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        page.screenshot(path=ARTIFACTS / f"timed-1-before-start-{shots}.png", full_page=True)

        # The dialog, by keyboard alone: Escape changes nothing; the safe answer has the focus.
        tab_to(page, start)
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name=words["upload.start.title"])
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name=words["upload.start.cancel"])).to_be_focused()
        expect(dialog).to_contain_text(words["upload.start.clock"])
        expect(page.locator("#start-until")).to_contain_text(f"({ZONE}")
        expect(page.locator("#start-short")).to_be_hidden()  # 25 minutes fit before the exam's due time
        expect(page.locator("#start-paper")).to_have_text(words["upload.start.paper"])
        assert axe_violations(page) == []
        page.screenshot(path=ARTIFACTS / f"timed-start-dialog-{shots}.png")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(start).to_be_focused()
        assert stack.progress(code)["timing"]["started_at"] is None

        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        page.keyboard.press("Tab")
        expect(dialog.get_by_role("button", name=words["upload.start.confirm"])).to_be_focused()
        page.keyboard.press("Enter")

        # Started: the student's own window, on the server's clock; the paper is the next step.
        paper_button = page.get_by_role("button", name=words["upload.paper.download"])
        expect(paper_button).to_be_focused()
        progress = stack.progress(code)
        started_at, due_at = progress["timing"]["started_at"], progress["exam"]["due_at"]
        allowed = timedelta(seconds=progress["timing"]["time_allowed_seconds"])
        assert allowed == timedelta(minutes=25)
        assert datetime.fromisoformat(due_at) == datetime.fromisoformat(started_at) + allowed
        expect(page.locator("#window-state")).to_have_text(words["upload.window.running"])
        expect(page.locator("#started-exam")).to_have_text(f"{shown(page, started_at, ZONE, weekday=True)} ({ZONE})")
        expect(page.locator("#due-exam")).to_have_text(f"{shown(page, due_at, ZONE, weekday=True)} ({ZONE})")
        expect(page.locator("#file-form")).to_be_visible()
        expect(page.locator("#timed")).to_be_hidden()
        assert axe_violations(page) == []
        page.screenshot(path=ARTIFACTS / f"timed-2-after-start-{shots}.png", full_page=True)

        with page.expect_download() as download:
            page.keyboard.press("Enter")
        assert download.value.suggested_filename == PAPER_NAME
        assert Path(download.value.path()).read_bytes() == PAPER

        # Near the end: the page's clock moved on past each mark, and each warning said once.
        alert = page.get_by_role("alert")
        until = formatted(page, language, due_at, {"hour": "2-digit", "minute": "2-digit", "timeZoneName": "short"})
        left_ms = (datetime.fromisoformat(due_at) - datetime.now(UTC)) / timedelta(milliseconds=1)
        page.clock.fast_forward(int(left_ms) - 10 * 60_000 + 5_000)  # 9 min 55 s left
        for mark, form, then in ((10, "other", "05:00"), (5, "other", "04:00"), (1, "one", None)):
            warning = words[f"upload.warning.left.{form}"].replace("{count}", str(mark)).replace("{time}", until)
            expect(alert).to_have_text(warning)
            if then:
                page.clock.fast_forward(then)  # 4 min 55 s left, then 55 s
        said = [text for region, text in live_seen(page) if region == "time-warning" and text]
        assert len(said) == 3, said
        assert axe_violations(page) == []
        page.screenshot(path=ARTIFACTS / f"timed-3-near-the-end-{shots}.png", full_page=True)

        # Handed in within the time: on time, the receipt says when the time started and ended.
        page.locator("#file").set_input_files(answers)
        page.get_by_role("button", name=words["upload.file.upload"], exact=True).click()
        expect(page.locator("#receipt-code")).to_have_text(CODE, timeout=20_000)
        expect(page.locator("#receipt-title")).to_have_text(words["upload.handed-in.on-time"])
        assert axe_violations(page) == []
    current = stack.progress(code)["current"]
    assert current["late"] is False
    claims = receipt_claims(current["receipt"])
    assert (claims["started_at"], claims["due_at"]) == (started_at, due_at)


def test_a_start_the_exams_due_time_cuts_short_is_said_and_no_start_is_offered_after_it(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    words = WORDS["en"]
    # Three hours a student, but the exam is due in 70 minutes.
    stack.create_exam("timed-short", due_in_s=70 * 60, cutoff_in_s=80 * 60, duration_minutes=180, timezone=ZONE)
    short = stack.create_student("timed-short", "timed.short")
    stack.create_exam("timed-over", opens_in_s=-3600, due_in_s=-60, cutoff_in_s=600, duration_minutes=180)
    over = stack.create_student("timed-over", "timed.over")

    with browser_tab(browser, console_errors, WIDTHS["390px"], timezone_id=ZONE) as page:
        page.goto(f"{stack.api}/")
        page.locator("#code").fill(short["upload_code"])
        page.locator("#code").press("Enter")
        page.get_by_role("button", name=words["upload.timed.start"]).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        expect(page.locator("#start-short")).to_have_text(
            re.compile(r"^The exam's due time comes first: you would have only 1 h (9|10) min\.$")
        )
        expect(page.locator("#start-paper")).to_be_hidden()  # this exam has no paper
        assert axe_violations(page) == []
        page.screenshot(path=ARTIFACTS / "timed-4-cut-short-390px.png")
        page.keyboard.press("Escape")

        page.locator("#code").fill(over["upload_code"])
        page.locator("#code").press("Enter")
        expect(page.locator("#window-state")).to_have_text(words["upload.window.no-time-left"])
        expect(page.locator("#timed")).to_be_hidden()
        expect(page.locator("#file-form")).to_be_hidden()
        page.screenshot(path=ARTIFACTS / "timed-5-no-time-left-390px.png", full_page=True)
    assert stack.start(over["upload_code"]).json()["type"].endswith(":no-time-left")
    assert stack.progress(short["upload_code"])["timing"]["started_at"] is None


def test_an_untimed_exams_paper_is_offered_from_its_opening_without_a_start(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("untimed-paper", opens_in_s=3600, due_in_s=7200, title="Optics", timezone=ZONE)
    student = stack.create_student("untimed-paper", "untimed.paper")
    form = stack.paper_form("untimed-paper", PAPER_NAME, hashlib.sha256(PAPER).hexdigest())
    assert form.status_code == 201, form.text
    assert stack.post_form(form.json(), PAPER, filename=PAPER_NAME).status_code in (200, 201, 204)
    wait_until(
        lambda: stack.exam("untimed-paper").json()["paper"], timeout_s=30, what="the question paper was recorded"
    )

    with browser_tab(browser, console_errors, WIDTHS["desktop"], timezone_id=ZONE) as page:
        page.goto(f"{stack.api}/")
        page.locator("#code").fill(student["upload_code"])
        page.locator("#code").press("Enter")
        expect(page.locator("#window-state")).to_contain_text("This exam opens on")
        expect(page.locator("#paper")).to_be_hidden()  # not before the opening

        opened = stack.patch_exam("untimed-paper", {"opens_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
        assert opened.status_code == 200, opened.text
        page.reload()
        page.locator("#code").fill(student["upload_code"])
        page.locator("#code").press("Enter")
        expect(page.locator("#timed")).to_be_hidden()  # nothing to start
        expect(page.locator("#file-form")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("button", name=WORDS["en"]["upload.paper.download"]).click()
        assert Path(download.value.path()).read_bytes() == PAPER


def test_the_reviewer_page_says_when_a_timed_student_started_and_their_own_due_time(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    words = WORDS["en"]
    stack.create_exam("timed-reviewed", due_in_s=4 * 3600, duration_minutes=90, timezone=ZONE)
    student = stack.create_student("timed-reviewed", "timed.reviewed", "Ann", "Lee")
    started = stack.start(student["upload_code"]).json()
    current = stack.hand_in(student["upload_code"], b"%PDF-1.7 within the time")["current"]

    with browser_tab(browser, console_errors, WIDTHS["desktop"], timezone_id=OWN_ZONE) as page:
        page.goto(f"{stack.api}/verify")
        page.get_by_label("Verification code").fill(current["verification_code"])
        page.get_by_role("button", name="Check the code").click()
        page.get_by_label("Or a receipt").fill(current["receipt"])
        page.get_by_role("button", name="Check the receipt").click()
        code_result, receipt_result = page.locator("#result"), page.locator("#receipt-result")
        expect(receipt_result.locator(".verdict")).to_be_visible()

        seconds = {"year": "numeric", "month": "short", "day": "numeric", "hour": "2-digit", "minute": "2-digit"}
        seconds |= {"second": "2-digit", "timeZoneName": "short"}
        for result in (code_result, receipt_result):
            shown_facts = facts(result)
            assert shown_facts[words["facts.started"]] == formatted(page, "en", started["started_at"], seconds)
            assert shown_facts[words["facts.due"]] == formatted(page, "en", started["due_at"], seconds)
        assert axe_violations(page) == []
        page.screenshot(path=ARTIFACTS / "timed-6-verified-desktop.png", full_page=True)
