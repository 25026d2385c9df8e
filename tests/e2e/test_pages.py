"""The pages in a real headless Chromium (Debian's, driven by Playwright) against the local stack."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser import ARTIFACTS
from tests.e2e.busy_service import (
    GATEWAY_THROTTLED,
    Answering,
    api_busy,
    fetches_sent_s,
    forget_the_answers_we_caused,
    retrying_quickly,
    s3_slow_down,
    status_seen,
)
from tests.e2e.conftest import EXAM, Stack, open_upload_page, record_problem, shown
from tests.e2e.student_pages import WIDTHS, browser_tab, facts, handed_in_on_time_then_due

CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_student_uploads_a_file_and_sees_the_verification_code_once(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    student = stack.create_student(EXAM, f"browser.upload.{width}")
    answers = tmp_path / "Réponses.pdf"
    answers.write_bytes(b"%PDF-1.7 answers " * 4000)

    with browser_tab(browser, console_errors, WIDTHS[width]) as page:
        open_upload_page(page, stack, student["upload_code"])
        expect(page.locator("#attempts")).to_have_text(re.compile("You have 5 uploads left"))
        upload_button = page.get_by_role("button", name="Upload")
        expect(upload_button).to_be_disabled()  # nothing chosen, nothing to send
        page.screenshot(path=ARTIFACTS / f"upload-1-code-entered-{width}.png", full_page=True)
        page.get_by_label("Choose your file").set_input_files(answers)
        upload_button.click()

        receipt = page.locator("#receipt-code")
        expect(receipt).to_have_text(CODE, timeout=20_000)
        expect(page.locator("#status")).to_have_text("Your file is handed in.")
        code = receipt.inner_text()
        # The file sent is no longer chosen: one more click cannot spend an attempt on it.
        assert page.get_by_label("Choose your file").evaluate("input => input.files.length") == 0
        expect(upload_button).to_be_disabled()
        # The verification code, its Copy and the receipt, once.
        expect(page.get_by_text(code, exact=True)).to_have_count(1)
        expect(page.get_by_role("button", name=re.compile("^Copy"))).to_have_count(1)
        expect(page.get_by_role("link", name=re.compile("receipt", re.IGNORECASE))).to_have_count(1)
        expect(page.locator("#receipt-title")).to_have_text("Handed in on time")
        assert facts(page.locator("#receipt"))["File"] == "Réponses.pdf"
        assert facts(page.locator("#receipt"))["Size"] == "66\u00a0KiB"  # 68,000 bytes
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        page.screenshot(path=ARTIFACTS / f"upload-after-success-en-{width}.png", full_page=True)
        # Choosing a new file is the deliberate act that makes Upload active again.
        page.get_by_label("Choose your file").set_input_files(answers)
        expect(upload_button).to_be_enabled()

    progress = stack.progress(student["upload_code"])
    assert progress["current"]["verification_code"] == code
    assert progress["current"]["filename"] == "Réponses.pdf"
    assert progress["attempts_used"] == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_after_the_due_time_an_on_time_file_is_kept_unless_the_student_confirms_a_late_replacement(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    student = handed_in_on_time_then_due(stack, f"page-on-time-{width}", "browser.on-time")
    newer = tmp_path / "newer.pdf"
    newer.write_bytes(b"%PDF-1.7 second thoughts")

    with browser_tab(browser, console_errors, WIDTHS[width]) as page:
        open_upload_page(page, stack, student["upload_code"])
        # On time is said as plainly as late would be, and what a new upload would do.
        expect(page.locator("#receipt-title")).to_have_text("Handed in on time")
        warning = page.locator("#late-warning")
        expect(warning).to_have_text(
            "The due time has passed. Your file answers.pdf was handed in on time: it is kept and counts. "
            "A new upload would replace it with a late one."
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        page.screenshot(path=ARTIFACTS / f"upload-after-the-due-time-en-{width}.png", full_page=True)

        page.get_by_label("Choose your file").set_input_files(newer)
        page.get_by_role("button", name="Upload").click()
        dialog = page.get_by_role("dialog", name="Replace your on-time file with a late one?")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("the on-time file is deleted")
        page.screenshot(path=ARTIFACTS / f"upload-confirm-late-replacement-en-{width}.png")
        dialog.get_by_role("button", name="Keep my on-time file").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#status")).to_have_text("Nothing was sent: your on-time file answers.pdf is kept.")
        assert stack.progress(student["upload_code"])["attempts_used"] == 1  # no form was asked for

        page.get_by_role("button", name="Upload").click()
        dialog.get_by_role("button", name="Upload late and replace it").click()
        expect(page.locator("#receipt-title")).to_have_text("Handed in late", timeout=20_000)
        expect(warning).to_have_text(
            "The due time has passed: a new upload replaces your late file, and is marked late too."
        )

    progress = stack.progress(student["upload_code"])
    assert (progress["current"]["filename"], progress["current"]["late"]) == ("newer.pdf", True)


def test_an_answer_lost_on_the_way_back_from_s3_is_found_on_retry_without_another_attempt(
    page: Page, stack: Stack, tmp_path: Path, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.lost")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 answers whose receipt was lost")
    dropped: list[str] = []

    def take_the_file_but_lose_the_answer(route: Route) -> None:
        if dropped:
            route.continue_()
            return
        route.fetch()  # S3 receives and stores the file...
        dropped.append(route.request.url)
        route.abort("connectionreset")  # ...and the browser never hears back

    page.route(f"{stack.info['s3_endpoint']}/**", take_the_file_but_lose_the_answer)
    open_upload_page(page, stack, student["upload_code"])
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("The network failed during the upload"))
    page.screenshot(path=ARTIFACTS / "upload-5-network-failed.png", full_page=True)

    page.get_by_role("button", name="Try again").click()

    expect(page.locator("#receipt-code")).to_have_text(CODE, timeout=20_000)
    console_errors.remove("Failed to load resource: net::ERR_CONNECTION_RESET")  # the one this test caused
    progress = stack.progress(student["upload_code"])
    assert dropped, "the first POST was answered normally"
    assert progress["attempts_used"] == 1
    assert len(progress["uploads"]) == 1  # no second form was asked for


def test_an_oversize_file_is_stopped_before_upload(page: Page, stack: Stack, tmp_path: Path) -> None:
    student = stack.create_student(EXAM, "browser.large")
    large = tmp_path / "scan.pdf"
    large.write_bytes(b"x" * (3 * 1024 * 1024 + 1))

    open_upload_page(page, stack, student["upload_code"])
    page.get_by_label("Choose your file").set_input_files(large)
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"This file is 3,145,729 bytes; the limit is 3 MiB \(3,145,728 bytes\)")
    )
    page.screenshot(path=ARTIFACTS / "upload-3-too-large.png", full_page=True)
    assert stack.progress(student["upload_code"])["uploads"] == []  # no form was even requested


def test_an_unknown_code_gets_a_clear_message(page: Page, stack: Stack) -> None:
    open_upload_page(page, stack, "0000-0000-0000-0000-0000")

    expect(page.get_by_role("alert")).to_have_text("We don't know this upload code. Check it and try again.")
    page.screenshot(path=ARTIFACTS / "upload-4-unknown-code.png", full_page=True)


def test_a_reviewer_checks_a_code_and_downloads_the_file(page: Page, stack: Stack) -> None:
    student = stack.create_student(EXAM, "browser.review", "Ann", "Lee")
    content = b"%PDF-1.7 the reviewed answers"
    form = stack.presign(student["upload_code"], "Final answers.pdf").json()
    assert stack.post_form(form, content).status_code == 204
    stack.wait_until_settled(student["upload_code"], form["upload_id"])
    # A file is offered for download once its malware scan found it clean.
    code = stack.wait_until_scanned(student["upload_code"])["current"]["verification_code"]

    page.goto(f"{stack.api}/verify")
    page.get_by_label("Verification code").fill(code.lower())
    page.get_by_role("button", name="Check the code").click()

    result = page.get_by_role("region", name="Ann Lee")
    expect(result).to_be_visible()
    shown = facts(result)
    assert (shown["Status"], shown["File"], shown["Verification code"]) == ("current file", "Final answers.pdf", code)
    assert re.fullmatch("[0-9a-f]{64}", shown["SHA-256"])
    expect(page.locator("#announce")).to_have_text("Found: Ann Lee, Final answers.pdf, current file.")
    page.screenshot(path=ARTIFACTS / "verify-1-current.png", full_page=True)
    with page.expect_download() as download_info:
        result.get_by_role("button", name="Download the file").click()
    download = download_info.value
    assert download.suggested_filename == "Final answers.pdf"
    assert Path(download.path()).read_bytes() == content


@pytest.mark.parametrize("width", WIDTHS)
def test_a_code_and_a_receipt_are_answered_in_one_presentation_each_by_its_form(
    browser: Browser, stack: Stack, console_errors: list[str], width: str
) -> None:
    student = stack.create_student(EXAM, f"browser.both.{width}", "Zoë", "Müller")
    current = stack.hand_in(student["upload_code"], b"%PDF-1.7 " + b"x" * 180_000, "Antworten.pdf")["current"]

    with browser_tab(browser, console_errors, WIDTHS[width], timezone_id="Europe/Berlin") as page:
        page.goto(f"{stack.api}/verify")
        page.get_by_label("Or a receipt").fill(current["receipt"])
        page.get_by_role("button", name="Check the receipt").click()
        receipt_result = page.locator("#receipt-result")
        expect(receipt_result).to_be_visible()
        page.get_by_label("Verification code").fill(current["verification_code"])
        page.get_by_role("button", name="Check the code").click()
        code_result = page.locator("#result")
        expect(code_result).to_be_visible()

        by_code, by_receipt = facts(code_result), facts(receipt_result)
        handed_in = page.evaluate(
            """iso => new Intl.DateTimeFormat("en-GB", {year: "numeric", month: "short", day: "numeric",
                hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"})
                .format(new Date(iso))""",
            current["submitted_at"],
        )
        # The same facts alike, whichever way they were asked for; the receipt adds what it alone states.
        assert {name: by_receipt[name] for name in by_code} == by_code
        assert by_code["Size"] == "176\u00a0KiB"
        assert by_code["Handed in"] == f"{handed_in} on time"
        assert by_code["Exam"] == "End-to-end tests"
        assert (by_receipt["Nickname"], by_receipt["Upload"]) == (f"browser.both.{width}", "1 of 5")
        for result in (code_result, receipt_result):
            expect(result.get_by_role("heading")).to_have_text("Zoë Müller")  # the name, not the nickname
            expect(result.get_by_role("button", name="Download the file")).to_be_visible()
        assert receipt_result.inner_text().lower().count("genuine") == 1
        # Each answer right below its own form.
        for form, result in (("#verify-form", code_result), ("#receipt-form", receipt_result)):
            asked, answered = page.locator(form).bounding_box(), result.bounding_box()
            assert asked is not None
            assert answered is not None
            assert 0 <= answered["y"] - (asked["y"] + asked["height"]) < 120
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
        page.screenshot(path=ARTIFACTS / f"verify-results-en-{width}.png", full_page=True)


def test_the_docs_page_renders_swagger_ui_from_the_project(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.api}/docs")

    expect(page.get_by_text("/exams/{exam_id}/students/import").first).to_be_visible(timeout=20_000)
    page.screenshot(path=ARTIFACTS / "docs.png")


@pytest.fixture
def new_york_page(browser: Browser, console_errors: list[str]) -> Iterator[Page]:
    """A student in New York sitting an exam set in Paris: the page must show both times."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="America/New_York")
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    yield page
    context.close()
    assert console_errors == []


def test_the_upload_page_before_opening_near_the_deadline_and_after_a_late_upload(
    new_york_page: Page, stack: Stack, tmp_path: Path
) -> None:
    page = new_york_page
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 handed in late")

    # Before the exam opens: when, in both zones, and no way to upload yet
    stack.create_exam("page-early", opens_in_s=5400, due_in_s=9000, title="Thermodynamics", timezone="Europe/Paris")
    early = stack.create_student("page-early", "browser.early")
    open_upload_page(page, stack, early["upload_code"])
    expect(page.locator("#window-state")).to_contain_text("This exam opens on")
    expect(page.locator("#window-state")).to_contain_text("your time:")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^Opens in 1 h (29|30) min\.$"))
    expect(page.locator("#file-form")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "upload-6-not-open-yet.png", full_page=True)

    # Near the deadline: a countdown on the server's clock, the deadline in Paris and New York
    stack.create_exam("page-soon", due_in_s=240, cutoff_in_s=900, title="Thermodynamics", timezone="Europe/Paris")
    soon = stack.create_student("page-soon", "browser.soon")
    open_upload_page(page, stack, soon["upload_code"])
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^[34] min \d+ s left until the due time\.$"))
    expect(page.locator("#due-exam")).to_contain_text("(Europe/Paris)")
    expect(page.locator("#due-local")).to_contain_text("Your time:")
    expect(page.locator("#late-warning")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "upload-7-near-the-deadline.png", full_page=True)

    # After the due time: warned before, marked late after
    stack.create_exam("page-late", due_in_s=-60, cutoff_in_s=900, title="Thermodynamics", timezone="Europe/Paris")
    late = stack.create_student("page-late", "browser.late")
    open_upload_page(page, stack, late["upload_code"])
    expect(page.locator("#late-warning")).to_be_visible()
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#receipt-title")).to_have_text("Handed in late", timeout=20_000)
    expect(page.locator("#receipt")).to_have_class(re.compile(r"\blate\b"))
    page.screenshot(path=ARTIFACTS / "upload-8-after-a-late-upload.png", full_page=True)
    assert stack.progress(late["upload_code"])["current"]["late"] is True


def test_a_closed_exam_says_so_and_offers_no_upload(page: Page, stack: Stack) -> None:
    stack.create_exam("page-closed", opens_in_s=-7200, due_in_s=3600)
    student = stack.create_student("page-closed", "browser.closed")
    assert stack.close_exam("page-closed").status_code == 200

    open_upload_page(page, stack, student["upload_code"])

    expect(page.locator("#window-state")).to_contain_text("This exam closed on")
    expect(page.locator("#file-form")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "upload-9-closed.png", full_page=True)


def test_the_upload_page_says_until_when_the_file_on_record_is_kept(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, timezone_id="America/New_York", locale="en-GB"
    )
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    stack.create_exam("page-kept", due_in_s=3600, title="Kept", timezone="Europe/Paris")
    student = stack.create_student("page-kept", "browser.kept")
    current = stack.hand_in(student["upload_code"], b"%PDF-1.7 kept for a while")["current"]

    open_upload_page(page, stack, student["upload_code"])

    expires = current["expires_at"]
    expect(page.locator("#current-kept")).to_have_text(
        f"{shown(page, expires, 'Europe/Paris', weekday=True)} (Europe/Paris). Ask your examiner after that."
    )
    expect(page.locator("#current-kept-local")).to_have_text(
        f"Your time: {shown(page, expires, 'America/New_York', weekday=True)}"
    )
    assert list(facts(page.locator("#receipt")))[-1] == "Kept until"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=ARTIFACTS / "upload-11-kept-until.png", full_page=True)
    context.close()
    assert console_errors == []


def test_a_file_that_arrives_after_the_exam_was_closed_is_refused_and_said_why(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    stack.create_exam("page-closed-meanwhile", due_in_s=3600)
    student = stack.create_student("page-closed-meanwhile", "browser.meanwhile")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 sent as the examiner closed the exam")
    closed: list[int] = []

    def close_the_exam_first(route: Route) -> None:
        # The form was issued; the examiner closes the exam before the bytes reach S3.
        if not closed:
            closed.append(stack.close_exam("page-closed-meanwhile").status_code)
        route.continue_()

    page.route(f"{stack.info['s3_endpoint']}/**", close_the_exam_first)
    open_upload_page(page, stack, student["upload_code"])
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("alert")).to_contain_text("after your upload started", timeout=20_000)
    expect(page.get_by_role("alert")).to_contain_text("the exam was closed")
    expect(page.locator("#window-state")).to_contain_text("This exam closed on")
    page.screenshot(path=ARTIFACTS / "upload-12-after-cutoff.png", full_page=True)
    assert closed == [200]
    (upload,) = stack.progress(student["upload_code"])["uploads"]
    assert (upload["status"], upload["rejection_reason"]) == ("rejected", "after_cutoff")


def test_the_upload_page_hashes_the_file_and_offers_the_receipt_to_keep(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    student = stack.create_student(EXAM, "browser.receipt")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 answers with a receipt " * 100)

    open_upload_page(page, stack, student["upload_code"])
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#receipt-code")).to_have_text(CODE, timeout=20_000)
    page.screenshot(path=ARTIFACTS / "upload-10-receipt-offered.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download your receipt").click()

    download = download_info.value
    current = stack.progress(student["upload_code"])["current"]
    assert download.suggested_filename == f"receipt-{current['verification_code']}.jwt"
    assert Path(download.path()).read_text().strip() == current["receipt"]
    assert current["sha256"] == hashlib.sha256(answers.read_bytes()).hexdigest()
    (upload,) = stack.progress(student["upload_code"])["uploads"]
    assert upload["status"] == "recorded"


def test_a_reviewer_checks_a_receipt_and_a_changed_one_is_refused(page: Page, stack: Stack) -> None:
    student = stack.create_student(EXAM, "browser.checks")
    receipt = stack.hand_in(student["upload_code"], b"%PDF-1.7 receipt to check")["current"]["receipt"]

    page.goto(f"{stack.api}/verify")
    page.get_by_label("Or a receipt").fill(receipt)
    page.get_by_role("button", name="Check the receipt").click()
    result = page.locator("#receipt-result")
    expect(result.locator(".verdict")).to_have_text("A genuine receipt, signed by this deployment (local).")
    assert facts(result)["Nickname"] == "browser.checks"
    expect(page.locator("#announce")).to_have_text(re.compile("^A genuine receipt: "))
    page.screenshot(path=ARTIFACTS / "verify-2-genuine-receipt.png", full_page=True)

    header, claims, signature = receipt.split(".")
    page.get_by_label("Or a receipt").fill(f"{header}.{claims[:-3]}x{claims[-2:]}.{signature}")
    page.get_by_role("button", name="Check the receipt").click()
    expect(result.get_by_role("heading")).to_have_text("Not a genuine receipt")
    expect(result.locator("p[lang=en]")).to_have_text(re.compile("changed|not a receipt"))  # the API's words
    expect(page.locator("#announce")).to_have_text("Not a genuine receipt.")
    page.screenshot(path=ARTIFACTS / "verify-3-changed-receipt.png", full_page=True)


# --- a busy or starting service: the pages wait and retry, and say so -------------------------

LOOKUP = re.compile(r".*/submissions/[0-9A-Z]{20}$")  # the code's lookup and the upload's status polls


def test_a_starting_service_is_retried_after_its_retry_after_and_the_student_sees_the_exam(
    page: Page, stack: Stack, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.starting")
    retrying_quickly(page)
    lookups = Answering(page, LOOKUP, "GET", [api_busy("service-starting"), api_busy("service-starting")])

    open_upload_page(page, stack, student["upload_code"])

    expect(page.locator("#attempts")).to_have_text(re.compile("You have 5 uploads left"))
    assert len(lookups.sent) == 3
    # Never sooner than Retry-After (1 s), whatever the backoff of a tenth of a second says: by the
    # page's own clock, as it sent them (when the test is handed each one adds the machine's delays).
    sent = fetches_sent_s(page, LOOKUP, "GET")
    assert len(sent) == 3
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(sent))
    seen = status_seen(page)
    assert seen.count("The service is starting up — retrying in 1 s…") == 2, seen
    assert not [text for text in seen if "error" in text.lower()]
    expect(page.get_by_role("alert")).to_be_hidden()
    forget_the_answers_we_caused(console_errors, 503, 2)


def test_a_busy_gateway_s3_and_api_delay_the_upload_but_it_ends_with_the_code(
    page: Page, stack: Stack, tmp_path: Path, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.busy")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 handed in to a busy service " * 100)
    retrying_quickly(page)
    forms = Answering(page, LOOKUP, "POST", [GATEWAY_THROTTLED])
    uploads = Answering(page, f"{stack.info['s3_endpoint']}/**", "POST", [s3_slow_down(stack.api.rstrip("/"))] * 2)
    polls = Answering(page, LOOKUP, "GET", [api_busy("service-busy")])
    polls.after = lambda: len(uploads.sent) == 3  # the first status poll after S3 took the file

    open_upload_page(page, stack, student["upload_code"])
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#receipt-code")).to_have_text(CODE, timeout=20_000)
    expect(page.locator("#status")).to_have_text("Your file is handed in.")
    assert (len(forms.sent), len(uploads.sent)) == (2, 3)
    assert polls.answers == []  # a poll was answered busy, and polling went on
    seen = status_seen(page)
    assert len([text for text in seen if text.startswith("The service is busy — retrying in ")]) == 4, seen
    assert not [text for text in seen if "error" in text.lower()]
    progress = stack.progress(student["upload_code"])
    assert progress["attempts_used"] == 1
    assert len(progress["uploads"]) == 1  # the throttled request made no form; S3's retries used the one
    forget_the_answers_we_caused(console_errors, 503, 3)  # (a 4xx is not logged as a problem)


def test_a_service_busy_past_the_bound_is_said_with_what_to_do_and_try_again_works(
    page: Page, stack: Stack, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.bound")
    retrying_quickly(page, maxAttempts=3)
    lookups = Answering(page, LOOKUP, "GET", [api_busy("service-busy")] * 3)

    open_upload_page(page, stack, student["upload_code"])

    alert = page.get_by_role("alert")
    expect(alert).to_have_text("The service is still busy. Try again in a minute or two.")
    assert len(lookups.sent) == 3
    expect(page.locator("#status")).to_have_text("")
    page.screenshot(path=ARTIFACTS / "upload-13-still-busy.png", full_page=True)
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#attempts")).to_have_text(re.compile("You have 5 uploads left"))
    expect(alert).to_be_hidden()
    assert len(lookups.sent) == 4
    forget_the_answers_we_caused(console_errors, 503, 3)


def test_a_retry_after_beyond_the_bound_is_said_at_once_not_waited_for(
    page: Page, stack: Stack, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.long")
    retrying_quickly(page)  # the bound is the page's own: two minutes
    lookups = Answering(page, LOOKUP, "GET", [api_busy("service-starting", retry_after_s=300)])

    open_upload_page(page, stack, student["upload_code"])

    expect(page.get_by_role("alert")).to_have_text("The service is still starting up. Try again in about 5 minutes.")
    assert len(lookups.sent) == 1
    assert not [text for text in status_seen(page) if "retrying" in text]  # not for a wait it will not make
    forget_the_answers_we_caused(console_errors, 503, 1)


def test_a_reviewer_checking_a_receipt_waits_out_a_busy_service(
    page: Page, stack: Stack, console_errors: list[str]
) -> None:
    receipt = stack.hand_in(stack.create_student(EXAM, "browser.review-busy")["upload_code"], b"%PDF-1.7 r")
    retrying_quickly(page)
    checks = Answering(page, re.compile(r".*/receipts/verify$"), "POST", [api_busy("service-busy")])

    page.goto(f"{stack.api}/verify")
    page.get_by_label("Or a receipt").fill(receipt["current"]["receipt"])
    page.get_by_role("button", name="Check the receipt").click()

    expect(page.locator("#receipt-result .verdict")).to_contain_text("A genuine receipt")
    assert len(checks.sent) == 2
    assert "The service is busy — retrying in 1 s…" in status_seen(page)
    forget_the_answers_we_caused(console_errors, 503, 1)
