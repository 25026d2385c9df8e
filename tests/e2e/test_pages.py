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

CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$")


def test_a_student_uploads_a_file_and_sees_the_verification_code(page: Page, stack: Stack, tmp_path: Path) -> None:
    student = stack.create_student(EXAM, "browser.upload")
    answers = tmp_path / "Réponses.pdf"
    answers.write_bytes(b"%PDF-1.7 answers " * 4000)

    open_upload_page(page, stack, student["upload_code"])
    expect(page.locator("#attempts")).to_have_text(re.compile("You have 5 uploads left"))
    page.screenshot(path=ARTIFACTS / "upload-1-code-entered.png", full_page=True)
    page.get_by_label("Choose your file").set_input_files(answers)
    page.get_by_role("button", name="Upload").click()

    receipt = page.locator("#receipt-code")
    expect(receipt).to_have_text(CODE, timeout=20_000)
    expect(page.locator("#status")).to_have_text("Your file is handed in.")
    page.screenshot(path=ARTIFACTS / "upload-2-verification-code.png", full_page=True)
    progress = stack.progress(student["upload_code"])
    assert progress["current"]["verification_code"] == receipt.inner_text()
    assert progress["current"]["filename"] == "Réponses.pdf"


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
    student = stack.create_student(EXAM, "browser.review")
    content = b"%PDF-1.7 the reviewed answers"
    form = stack.presign(student["upload_code"], "Final answers.pdf").json()
    assert stack.post_form(form, content).status_code == 204
    code = stack.wait_until_settled(student["upload_code"], form["upload_id"])["current"]["verification_code"]

    page.goto(f"{stack.api}/verify")
    page.get_by_label("Verification code").fill(code.lower())
    page.get_by_role("button", name="Check the code").click()

    expect(page.locator("#r-status")).to_have_text("current")
    expect(page.locator("#r-filename")).to_have_text("Final answers.pdf")
    expect(page.locator("#r-sha")).to_have_text(re.compile("^[0-9a-f]{64}$"))
    page.screenshot(path=ARTIFACTS / "verify-1-current.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the file").click()
    download = download_info.value
    assert download.suggested_filename == "Final answers.pdf"
    assert Path(download.path()).read_bytes() == content


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
    expect(page.locator("#receipt-detail")).to_contain_text("(after the due time)")
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

    kept = page.locator("#current-kept")
    expires = current["expires_at"]
    expect(kept).to_contain_text(f"Kept until {shown(page, expires, 'Europe/Paris', weekday=True)} (Europe/Paris)")
    expect(kept).to_contain_text("ask your examiner after that")
    expect(kept).to_contain_text(f"Your time: {shown(page, expires, 'America/New_York', weekday=True)}")
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
    expect(page.locator("#receipt-title")).to_have_text("A genuine receipt")
    expect(page.locator("#receipt-claims")).to_contain_text("browser.checks")
    page.screenshot(path=ARTIFACTS / "verify-2-genuine-receipt.png", full_page=True)

    header, claims, signature = receipt.split(".")
    page.get_by_label("Or a receipt").fill(f"{header}.{claims[:-3]}x{claims[-2:]}.{signature}")
    page.get_by_role("button", name="Check the receipt").click()
    expect(page.locator("#receipt-title")).to_have_text("Not a genuine receipt")
    expect(page.locator("#receipt-verdict")).to_have_text(re.compile("changed|not a receipt"))
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

    expect(page.locator("#receipt-title")).to_have_text("A genuine receipt")
    assert len(checks.sent) == 2
    assert "The service is busy — retrying in 1 s…" in status_seen(page)
    forget_the_answers_we_caused(console_errors, 503, 1)
