"""Every flow of the student's and reviewer's pages with the keyboard alone (Tab, Shift+Tab, Enter,
Space, Escape, arrows: no click), what their live regions give a screen reader to say, and
axe-core on each state they reach; in Debian's Chromium against the local stack, at 390 px and on
a desktop."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from local_stack.client import ApiClient
from local_stack.keys import mint
from tests.browser import ARTIFACTS
from tests.e2e.conftest import EXAM, Stack
from tests.e2e.student_pages import (
    DESKTOP,
    PHONE,
    WIDTHS,
    browser_tab,
    handed_in_on_time_then_due,
    live_seen,
    serious_violations,
    tab_to,
)
from tests.e2e.test_pages import CODE


def enter_code_by_keyboard(page: Page, stack: Stack, upload_code: str) -> None:
    page.goto(f"{stack.api}/")
    tab_to(page, page.get_by_label("Your upload code"))
    page.keyboard.type(upload_code)
    page.keyboard.press("Enter")
    expect(page.locator("#attempts")).to_be_visible()


def choose_by_keyboard(page: Page, label: str, path: Path) -> None:
    """A file input reached by Tab and opened with Space, as a keyboard user opens the picker."""
    tab_to(page, page.get_by_label(label))
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(path)


def focused_id(page: Page) -> str:
    found: str = page.evaluate("document.activeElement.id")
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_a_student_hands_in_copies_the_code_and_keeps_the_receipt_by_keyboard_alone(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    student = stack.create_student(EXAM, f"keyboard.upload.{width}")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 typed, never clicked " * 2000)

    with browser_tab(browser, console_errors, WIDTHS[width]) as page:
        enter_code_by_keyboard(page, stack, student["upload_code"])
        choose_by_keyboard(page, "Choose your file", answers)
        tab_to(page, page.get_by_role("button", name="Upload"))
        page.keyboard.press("Enter")

        code = page.locator("#receipt-code")
        expect(code).to_have_text(CODE, timeout=20_000)
        assert focused_id(page) == "receipt"  # the answer is where the keyboard now is
        tab_to(page, page.get_by_role("button", name="Copy the code"))
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("Code copied.")
        assert page.evaluate("navigator.clipboard.readText()") == code.inner_text()
        tab_to(page, page.get_by_role("link", name="Download your receipt"))
        with page.expect_download() as download_info:
            page.keyboard.press("Enter")

        # Progress and result went to the live region, for a screen reader to say as they came.
        said = [text for region, text in live_seen(page) if region == "status" and text]
        assert said[0] == "Looking up your code…"
        assert said.index("Preparing the upload…") < said.index("Uploading answers.pdf: 0%")
        assert said.index("Uploading answers.pdf: 0%") < said.index("Uploaded. Recording your file…")
        assert said[-2:] == ["Your file is handed in.", "Code copied."]
        assert [text for region, text in live_seen(page) if region == "error" and text] == []
        kept = Path(download_info.value.path()).read_text().strip()
    assert kept == stack.progress(student["upload_code"])["current"]["receipt"]


def test_a_late_replacement_is_confirmed_or_refused_by_keyboard_alone(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str]
) -> None:
    student = handed_in_on_time_then_due(stack, "keyboard-late", "keyboard.late")
    newer = tmp_path / "newer.pdf"
    newer.write_bytes(b"%PDF-1.7 a late thought")

    with browser_tab(browser, console_errors, PHONE) as page:
        enter_code_by_keyboard(page, stack, student["upload_code"])
        choose_by_keyboard(page, "Choose your file", newer)
        tab_to(page, page.get_by_role("button", name="Upload"))
        page.keyboard.press("Enter")

        dialog = page.get_by_role("dialog", name="Replace your on-time file with a late one?")
        expect(dialog).to_be_visible()
        assert focused_id(page) == "confirm-keep"  # the safe choice is the one Enter takes
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Nothing was sent: your on-time file answers.pdf is kept.")
        assert focused_id(page) == "upload-button"  # back where the student was

        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        page.keyboard.press("Tab")
        assert focused_id(page) == "confirm-replace"
        page.keyboard.press("Enter")
        expect(page.locator("#receipt-title")).to_have_text("Handed in late", timeout=20_000)
    assert stack.progress(student["upload_code"])["current"]["filename"] == "newer.pdf"


def test_the_language_is_switched_by_keyboard_alone(browser: Browser, stack: Stack, console_errors: list[str]) -> None:
    with browser_tab(browser, console_errors, PHONE) as page:
        page.goto(f"{stack.api}/verify")
        tab_to(page, page.get_by_label("Language"))
        page.keyboard.press("ArrowDown")  # English, then Deutsch

        expect(page.get_by_role("heading", level=1)).to_have_text("Eine abgegebene Datei prüfen")
        assert page.evaluate("document.documentElement.lang") == "de"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reviewer_looks_up_a_code_downloads_it_and_checks_a_receipt_file_by_keyboard_alone(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    student = stack.create_student(EXAM, f"keyboard.review.{width}", "Ann", "Lee")
    content = b"%PDF-1.7 reviewed by keyboard"
    current = stack.hand_in(student["upload_code"], content, "Keyboard answers.pdf")["current"]
    receipt_file = tmp_path / "receipt.jwt"
    receipt_file.write_text(current["receipt"] + "\n")

    with browser_tab(browser, console_errors, WIDTHS[width]) as page:
        page.goto(f"{stack.api}/verify")
        tab_to(page, page.get_by_label("Verification code"))
        page.keyboard.type(current["verification_code"].lower())
        page.keyboard.press("Enter")
        result = page.get_by_role("region", name="Ann Lee").first
        expect(result).to_be_visible()
        # The answer comes right after its form in the Tab order: its download is the next stop.
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.locator("#result").get_by_role("button", name="Download the file")).to_be_focused()
        with page.expect_download() as download_info:
            page.keyboard.press("Enter")
        assert Path(download_info.value.path()).read_bytes() == content

        choose_by_keyboard(page, "Receipt file", receipt_file)
        tab_to(page, page.get_by_role("button", name="Check the receipt"))
        page.keyboard.press("Enter")
        expect(page.locator("#receipt-result .verdict")).to_have_text(
            "A genuine receipt, signed by this deployment (local)."
        )
        said = [text for region, text in live_seen(page) if text]
        assert said[-1] == "A genuine receipt: Ann Lee, Keyboard answers.pdf, current file."
        assert "Found: Ann Lee, Keyboard answers.pdf, current file." in said


# --- accessibility: axe-core on each state the pages reach ---------------------------------------


@pytest.fixture(scope="module")
def scans() -> Iterator[dict[str, list[Any]]]:
    """Each state's serious and critical violations, written to test-artifacts/ at the end."""
    found: dict[str, list[Any]] = {}
    yield found
    lines = ["| page state | serious or critical violations |", "| --- | --- |"]
    lines += [f"| {state} | {len(violations) or 'none'} |" for state, violations in sorted(found.items())]
    (ARTIFACTS / "axe-results-pages.md").write_text("\n".join(lines) + "\n")


STATES = [
    "upload-after-success",
    "upload-after-the-due-time",
    "upload-confirm-late-replacement",
    "upload-in-german",
    "verify-results",
    "verify-not-genuine",
]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("state", STATES)
def test_no_serious_accessibility_violation_in_any_state_of_the_pages(
    browser: Browser,
    stack: Stack,
    tmp_path: Path,
    console_errors: list[str],
    scans: dict[str, list[Any]],
    state: str,
    width: str,
) -> None:
    nickname = f"axe.{STATES.index(state)}.{width}"
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 scanned")
    # The scan is injected as a script the pages' own CSP would refuse: this tab alone bypasses it.
    locale = "de-DE" if state == "upload-in-german" else "en-GB"
    with browser_tab(browser, console_errors, WIDTHS[width], locale=locale, bypass_csp=True) as page:
        if state.startswith("upload-") and state != "upload-after-success":
            student = handed_in_on_time_then_due(stack, f"axe-{state}-{width}", nickname)
            page.goto(f"{stack.api}/")
            page.locator("#code").fill(student["upload_code"])
            page.locator("#code").press("Enter")
            expect(page.locator("#late-warning")).to_be_visible()
            if state == "upload-confirm-late-replacement":
                page.locator("#file").set_input_files(answers)
                page.locator("#upload-button").press("Enter")
                expect(page.locator("#confirm-late")).to_be_visible()
        elif state == "upload-after-success":
            student = stack.create_student(EXAM, nickname)
            enter_code_by_keyboard(page, stack, student["upload_code"])
            page.get_by_label("Choose your file").set_input_files(answers)
            page.get_by_role("button", name="Upload").press("Enter")
            expect(page.locator("#receipt-code")).to_have_text(CODE, timeout=20_000)
        else:
            current = stack.hand_in(stack.create_student(EXAM, nickname)["upload_code"], b"%PDF-1.7 v")["current"]
            page.goto(f"{stack.api}/verify")
            page.get_by_label("Verification code").fill(current["verification_code"])
            page.get_by_label("Verification code").press("Enter")
            expect(page.locator("#result")).to_be_visible()
            receipt = current["receipt"] if state == "verify-results" else current["receipt"][:-4] + "AAAA"
            page.get_by_label("Or a receipt").fill(receipt)
            page.get_by_role("button", name="Check the receipt").press("Enter")
            expect(page.locator("#receipt-result")).to_be_visible()

        violations = serious_violations(page)
        scans[f"{state} ({width})"] = violations
        assert violations == []


def test_the_scan_finds_a_violation_where_there_is_one(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    with browser_tab(browser, console_errors, DESKTOP, bypass_csp=True) as page:
        page.goto(f"{stack.api}/")
        page.evaluate("document.querySelector('main').append(document.createElement('input'))")  # no label

        assert [(rule, impact) for rule, impact, _ in serious_violations(page)] == [("label", "critical")]


# --- the examiner's console: its main flow by keyboard alone -----------------------------------


def type_local_time(page: Page, when: datetime) -> None:
    """A time into the focused datetime-local input as a person types it: month, day and year (each
    segment moves on by itself once full), Tab to the hour, hour and minutes, then A or P. The
    segments are those of the en-US format (Chromium's time field keeps AM/PM whatever the
    context's locale)."""
    page.keyboard.type(when.strftime("%m%d%Y"))
    page.keyboard.press("Tab")
    page.keyboard.type(when.strftime("%I%M") + when.strftime("%p")[0])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_console_s_main_flow_by_keyboard_alone(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(berlin).replace(second=0, microsecond=0)
    roster = tmp_path / "roster.csv"
    roster.write_text("nickname,first_name,last_name\nkb.ada,Ada,Lovelace\nkb.bo,Bo,Ng\n")
    title = f"Keyboard exam {width}"
    # An examiner of their own: the list Tab goes through before the form is theirs alone, not as
    # long as the exams the session's other tests made.
    examiner = ApiClient(stack.api, mint(stack.local_dir / "secrets.json")["value"])

    with browser_tab(browser, console_errors, WIDTHS[width], locale="en-US", timezone_id="Europe/Berlin") as page:
        page.goto(f"{stack.api}/examiner")
        tab_to(page, page.get_by_label("Your examiner key"))
        page.keyboard.type(examiner.key or "")
        page.keyboard.press("Enter")

        # Create an exam: every field typed, the form sent with Enter on its button.
        tab_to(page, page.get_by_label("Title").first)
        page.keyboard.type(title)
        for label, when in (
            ("Opens", now - timedelta(hours=1)),
            ("Due", now + timedelta(days=1)),
            ("Late uploads accepted until", now + timedelta(days=1, hours=1)),
        ):
            tab_to(page, page.locator("#create-exam").get_by_label(label, exact=True))
            type_local_time(page, when)
        tab_to(page, page.get_by_role("button", name="Create the exam"))
        page.keyboard.press("Enter")
        expect(page.locator("#exam-heading")).to_have_text(title)

        # Import a roster: the file input opened with Space, the import sent with Enter.
        tab_to(page, page.get_by_label("A roster (CSV)"))
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(roster)
        tab_to(page, page.get_by_role("button", name="Import the roster"))
        page.keyboard.press("Enter")
        expect(page.locator("#import-summary")).to_have_text("Added 2 students.")

        # Open a student, and leave their view with Escape, back where the keyboard was.
        details = page.get_by_role("button", name="Details of kb.bo")
        tab_to(page, details, backwards=True)
        page.keyboard.press("Enter")
        view = page.get_by_role("dialog")
        expect(view.get_by_role("heading", level=2)).to_have_text(re.compile("Bo Ng"))
        page.keyboard.press("Escape")
        expect(view).to_be_hidden()
        expect(details).to_be_focused()
    created = examiner.exam(f"keyboard-exam-{width}").json()
    assert created["title"] == title
    assert datetime.fromisoformat(created["opens_at"]) == now - timedelta(hours=1)
