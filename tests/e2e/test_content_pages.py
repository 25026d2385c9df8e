"""What reaches a reviewer, as the pages show it (Debian's Chromium against the local stack, its
scanner the local ClamAV speaking GuardDuty's protocol): the upload page offers only the exam's
accepted types and says what a wrong file was, with the upload given back; an EICAR file followed
through its states on the student's page, the reviewer's and the console; a clean file offered
for download once it is found clean; the owner's release of a file that could not be scanned."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from playwright.sync_api import Page, Request, expect
from pypdf import PdfWriter

from local_stack.scanner import HOLD_FILE
from tests import files
from tests.browser import ARTIFACTS, axe_serious
from tests.e2e.conftest import Stack, open_upload_page
from tests.e2e.student_pages import DESKTOP, browser_tab
from tests.waiting import wait_until

# The EICAR test file, put together at run time: no scanner on a developer's machine quarantines
# the repository for holding it.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLEAN = b"%PDF-1.7 Ada's answers, nothing else " * 300
SCAN_WAIT_S = 60  # the scanner polls every 0.5 s; ClamAV takes well under a second a file


def _windows_program() -> bytes:
    """The start of a Windows program (PE): a DOS header pointing to the PE signature and a COFF
    header, as a compiler writes them."""
    dos = bytearray(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8".ljust(0x3C, b"\x00"))
    dos += struct.pack("<I", 0x80)
    dos += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    coff = struct.pack("<4sHHIIIHH", b"PE\x00\x00", 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    return bytes(dos.ljust(0x80, b"\x00")) + coff + bytes(2048)


def _password_protected_pdf() -> bytes:
    """A PDF only its password opens: what a scanner cannot look into (UNSUPPORTED)."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("only-the-student-knows")
    written = io.BytesIO()
    writer.write(written)
    return written.getvalue()


@contextmanager
def scanner_held(stack: Stack) -> Iterator[None]:
    """The local scanner scans nothing while held: every file recorded meanwhile stays `scanning`."""
    hold = stack.local_dir / HOLD_FILE
    hold.touch()
    try:
        yield
    finally:
        hold.unlink(missing_ok=True)


def _scan_of(stack: Stack, upload_code: str) -> str | None:
    current = stack.progress(upload_code)["current"]
    return current["scan"] if current else None


def _sign_in(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.api}/examiner")
    page.get_by_label("Your examiner key").fill(stack.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#exams-title")).to_be_visible()


def _open_exam(page: Page, exam_id: str, title: str) -> None:
    """An exam of this test, opened through the list (the session's other exams come first)."""
    button = page.get_by_role("button", name=title, exact=True)
    more = page.get_by_role("button", name="More exams")
    expect(page.locator("#exams-table tbody tr").first).to_be_visible()
    for _ in range(20):
        if button.count() or not more.is_visible():
            break
        # Wait for the page of exams each click asks for: clicking again while one loads finds the
        # button busy, and hidden once the last page came.
        shown_before = page.locator("#exams-table tbody tr").count()
        more.click()
        expect(page.locator("#exams-table tbody tr")).not_to_have_count(shown_before)
    button.click()
    expect(page.locator("#exam-heading")).to_have_text(title)


def _choose(page: Page, name: str, content: bytes, mime_type: str) -> None:
    page.locator("#file").set_input_files({"name": name, "mimeType": mime_type, "buffer": content})


def _upload_posts(requests_seen: list[Request]) -> list[Request]:
    return [r for r in requests_seen if r.method == "POST" and "/submissions/" in r.url]


# --- accepted types ---------------------------------------------------------------------------


def test_the_upload_page_offers_only_the_accepted_types_and_says_what_a_wrong_file_was(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    # Given an exam that accepts PDFs only, and a student with three uploads
    stack.create_exam("types-pages", title="Types on the page", due_in_s=7200, accepted_types=["pdf"], max_attempts=3)
    student = stack.create_student("types-pages", "ty", "Ty", "Pe")
    code = student["upload_code"]
    accept = stack.progress(code)["exam"]["accept"]
    assert ".pdf" in accept

    with browser_tab(browser, console_errors, DESKTOP) as page:
        sent: list[Request] = []

        def seen(request: Request) -> None:  # Playwright marks its handlers: a bound builtin will not do
            sent.append(request)

        page.on("request", seen)
        open_upload_page(page, stack, code)

        # Then the picker offers only PDFs, and the form says so
        expect(page.locator("#accepts")).to_have_text("This exam accepts a PDF.")
        expect(page.locator("#file")).to_have_attribute("accept", accept)

        # When a program is chosen anyway ("All files"), it is refused before anything is sent
        _choose(page, "program.exe", _windows_program(), "application/x-msdownload")
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_have_text(
            "program.exe is not a type of file this exam accepts: it accepts a PDF. "
            "Nothing was sent, and no upload was used. Choose another file."
        )
        assert _upload_posts(sent) == []

        # And a PDF named so that Windows would run it (an HTA) is refused by its name, although
        # its browser declares a PDF: the name is what the reviewer's computer goes by
        _choose(page, "answer.hta", CLEAN, "application/pdf")
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_have_text(
            "answer.hta is not a type of file this exam accepts: it accepts a PDF. "
            "Nothing was sent, and no upload was used. Choose another file."
        )
        assert _upload_posts(sent) == []

        # When a program named like a PDF is uploaded, the recorder finds what it is, and the page
        # says so in words, the upload given back and the picker emptied
        _choose(page, "answers.pdf", _windows_program(), "application/pdf")
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_have_text(
            "This file is a Windows program, not a PDF. It was not handed in and does not count as an "
            "upload: choose the right file and upload it again.",
            timeout=30_000,
        )
        expect(page.locator("#attempts")).to_have_text(re.compile(r"\b3 uploads left"))
        assert page.locator("#file").evaluate("input => input.files.length") == 0
        rejected = stack.progress(code)["uploads"][-1]
        assert (rejected["status"], rejected["rejection_reason"], rejected["found_type"]) == (
            "rejected",
            "wrong-type",
            "windows-program",
        )
        assert stack.progress(code)["attempts_left"] == 3
        page.screenshot(path=ARTIFACTS / "upload-wrong-type.png", full_page=True)
        assert axe_serious(page) == []

        # And in German, the same sentence in German
        page.get_by_label("Language").select_option("de")
        expect(page.get_by_role("alert")).to_contain_text("Diese Datei ist ein Windows-Programm")

        # When the examiner changes the exam to Word documents while the page is open, the form
        # request is refused (415) and the page says what the exam accepts now
        page.get_by_label("Sprache").select_option("en")
        changed = stack.patch_exam("types-pages", {"accepted_types": ["word"]})
        assert changed.status_code == 200, changed.text
        _choose(page, "answers.pdf", CLEAN, "application/pdf")
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_have_text(
            "This exam accepts only a Word document (.docx). Nothing was sent, and no upload was used: "
            "choose a file of that type."
        )
        assert stack.progress(code)["attempts_left"] == 3


def test_a_word_document_with_macros_is_refused_with_how_to_hand_it_in(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    # Given an exam that accepts Word documents
    stack.create_exam("types-docm", title="Macros on the page", due_in_s=7200, accepted_types=["word"], max_attempts=3)
    code = stack.create_student("types-docm", "ma", "Ma", "Cro")["upload_code"]

    with browser_tab(browser, console_errors, DESKTOP) as page:
        open_upload_page(page, stack, code)

        # When the student uploads a Word document with macros named .docx
        _choose(
            page,
            "answers.docx",
            files.docm(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )
        page.get_by_role("button", name="Upload").click()

        # Then the page says it is not accepted and how to hand it in, the upload given back
        expect(page.get_by_role("alert")).to_have_text(
            "This file is a Word document with macros (.docm), which is not accepted: save it as a Word document "
            "(.docx) and upload it again. It was not handed in and does not count as an upload.",
            timeout=30_000,
        )
        rejected = stack.progress(code)["uploads"][-1]
        assert (rejected["rejection_reason"], rejected["found_type"]) == ("wrong-type", "docm")
        assert stack.progress(code)["attempts_left"] == 3
        page.screenshot(path=ARTIFACTS / "upload-docm.png", full_page=True)

        # And in French, in French
        page.get_by_label("Language").select_option("fr")
        expect(page.get_by_role("alert")).to_contain_text("Ce fichier est un document Word avec macros (.docm)")


def test_the_console_sets_and_changes_an_exams_accepted_types_and_pdf_checks(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    with browser_tab(browser, console_errors, DESKTOP, timezone_id="UTC") as page:
        sent: list[Request] = []

        def seen(request: Request) -> None:
            sent.append(request)

        page.on("request", seen)
        _sign_in(page, stack)

        # When an exam is created with PDFs alone, checked
        now = datetime.now(UTC)
        page.get_by_label("Title").first.fill("Typed in the console")
        page.get_by_label("Exam id").fill("console-types")
        for label, moment in (("Opens", now - timedelta(hours=1)), ("Due", now + timedelta(hours=2))):
            page.get_by_label(label).first.fill(moment.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Late uploads accepted until").first.fill(
            (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        )
        created = page.locator("#exam-types")
        expect(created.locator("legend")).to_have_text("Accepted types of file")
        created.get_by_label("PDF", exact=True).check()
        created.get_by_label(re.compile("^Check PDFs")).check()
        page.get_by_role("button", name="Create the exam").click()
        expect(page.locator("#exam-heading")).to_have_text("Typed in the console")

        # Then the API has them
        exam = stack.exam("console-types").json()
        assert (exam["accepted_types"], exam["check_pdfs"]) == (["pdf"], True)
        # And the change form shows them
        changing = page.locator("#edit-types")
        expect(changing.get_by_label("PDF", exact=True)).to_be_checked()
        expect(changing.get_by_label(re.compile("^Check PDFs"))).to_be_checked()

        # When Word replaces PDF while the PDF checks stay, the API's refusal is shown by the form
        changing.get_by_label("Word document (.docx)").check()
        changing.get_by_label("PDF", exact=True).uncheck()
        page.get_by_role("button", name="Save the changes").click()
        expect(page.locator("#error-text")).to_be_visible()
        expect(page.locator("#error + #edit-exam")).to_have_count(1)  # beside the form
        assert stack.exam("console-types").json()["accepted_types"] == ["pdf"]

        # When the PDF checks go too, the change is saved with those two fields alone
        changing.get_by_label(re.compile("^Check PDFs")).uncheck()
        page.get_by_role("button", name="Save the changes").click()
        expect(page.get_by_role("status")).to_have_text("The exam is changed.")
        exam = stack.exam("console-types").json()
        assert (exam["accepted_types"], exam["check_pdfs"]) == (["word"], False)
        patches = [r for r in sent if r.method == "PATCH" and r.url.endswith("/exams/console-types")]
        assert json.loads(patches[-1].post_data or "{}") == {"accepted_types": ["word"], "check_pdfs": False}
        assert axe_serious(page) == []


# --- the malware check, through every state -----------------------------------------------------


def test_an_eicar_file_is_followed_through_its_states_on_the_students_the_reviewers_and_the_console(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    # Given an exam and a student, and the scanner held
    stack.create_exam("scan-pages", title="Scans on the page", due_in_s=7200, max_attempts=5)
    student = stack.create_student("scan-pages", "ev", "Eve", "Icar")
    code = student["upload_code"]

    with browser_tab(browser, console_errors, DESKTOP) as page:
        with scanner_held(stack):
            # When the student hands in the EICAR file
            open_upload_page(page, stack, code)
            _choose(page, "answers.txt", EICAR, "text/plain")
            page.get_by_role("button", name="Upload").click()

            # Then it is handed in, and being checked
            expect(page.locator("#receipt-title")).to_have_text("Handed in on time", timeout=30_000)
            expect(page.get_by_role("status")).to_have_text("Your file is handed in. Checking it for malware…")
            expect(page.locator("#scan-state")).to_have_text("Checking your file for malware…")
            verification = page.locator("#receipt-code").inner_text()

            # And the reviewer's page says so, with no download
            reviewer = page.context.new_page()
            reviewer.goto(f"{stack.api}/verify")
            reviewer.get_by_label("Verification code").fill(verification)
            reviewer.get_by_role("button", name="Check the code").click()
            result = reviewer.locator("#result")
            expect(result).to_contain_text("being checked for malware")
            expect(result).to_contain_text("This file is still being checked for malware: try again in a minute.")
            expect(result.get_by_role("button", name="Download the file")).to_have_count(0)

        # When the scanner has run, the student's page (asking again by itself) says what it found
        expect(page.get_by_role("alert")).to_have_text(
            re.compile(
                r"^Malware was found in this file \(Eicar-Test-Signature[^)]*\)\. It is quarantined and "
                r"will not reach your examiner\. Upload a clean copy\.$"
            ),
            timeout=SCAN_WAIT_S * 1000,
        )
        expect(page.locator("#scan-state")).to_have_class("error")
        expect(page.locator("#attempts")).to_have_text(re.compile(r"\b4 uploads left"))
        page.screenshot(path=ARTIFACTS / "upload-threat.png", full_page=True)
        assert axe_serious(page) == []

        # And the reviewer's page, asked again, says the file is quarantined
        reviewer.get_by_role("button", name="Check the code").click()
        expect(result).to_contain_text("malware found")
        expect(result).to_contain_text("it is quarantined and cannot be downloaded")
        expect(result.get_by_role("button", name="Download the file")).to_have_count(0)
        reviewer.screenshot(path=ARTIFACTS / "verify-threat.png", full_page=True)
        assert axe_serious(reviewer) == []

        # And the console has a banner, a badge in the roster and the student's view, and offers
        # no download (the receipts stay)
        console = page.context.new_page()
        _sign_in(console, stack)
        _open_exam(console, "scan-pages", "Scans on the page")
        expect(console.locator("#scan-banner")).to_have_text(
            "Malware found in 1 file: it is quarantined and no one can download it."
        )
        expect(console.locator("#roster").get_by_text("threat", exact=True)).to_be_visible()
        console.get_by_role("button", name="Details of ev", exact=True).click()
        view = console.get_by_role("dialog")
        expect(view.locator("#student-current")).to_contain_text("threat")
        expect(view.locator("#student-current")).to_contain_text("The file is quarantined: no one can download it")
        expect(view.get_by_role("button", name="Download the answer")).to_have_count(0)
        expect(view.get_by_role("link", name=re.compile("Download the receipt"))).to_have_count(2)
        console.screenshot(path=ARTIFACTS / "console-scan.png", full_page=True)
        assert axe_serious(console) == []


def test_a_clean_file_is_offered_to_the_reviewer_once_it_is_found_clean(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    # Given a file handed in while the scanner is held
    stack.create_exam("clean-pages", title="Clean on the page", due_in_s=7200)
    student = stack.create_student("clean-pages", "cl", "Cle", "An")
    with scanner_held(stack):
        current = stack.hand_in(student["upload_code"], CLEAN, "answers.pdf", until_scanned=False)["current"]
        assert current["scan"] == "scanning"
        with browser_tab(browser, console_errors, DESKTOP) as page:
            page.goto(f"{stack.api}/verify")
            page.get_by_label("Verification code").fill(current["verification_code"])
            page.get_by_role("button", name="Check the code").click()
            # Then the reviewer is told to wait, and offered nothing
            expect(page.locator("#result")).to_contain_text("still being checked for malware")
            expect(page.get_by_role("button", name="Download the file")).to_have_count(0)

    # When the scanner has found it clean
    wait_until(lambda: _scan_of(stack, student["upload_code"]) == "clean", timeout_s=SCAN_WAIT_S, what="the clean scan")
    with browser_tab(browser, console_errors, DESKTOP) as page:
        page.goto(f"{stack.api}/verify")
        page.get_by_label("Verification code").fill(current["verification_code"])
        page.get_by_role("button", name="Check the code").click()
        # Then the reviewer downloads the very bytes
        expect(page.locator("#result")).to_contain_text("no malware found")
        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download the file").click()
        path = downloading.value.path()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(CLEAN).hexdigest()


# --- the owner's release ----------------------------------------------------------------------


def test_the_owner_releases_a_file_that_could_not_be_scanned_with_a_reason(
    browser: Any, console_errors: list[str], stack: Stack
) -> None:
    # Given a password-protected PDF handed in: the scanner cannot look into it
    stack.create_exam("release-pages", title="Release on the page", due_in_s=7200)
    student = stack.create_student("release-pages", "pw", "Pat", "Word")
    current = stack.hand_in(student["upload_code"], _password_protected_pdf(), "answers.pdf")["current"]
    assert current["scan"] == "unsupported"
    link = stack.session.get(stack.url(f"verifications/{current['verification_code']}/download_url"), timeout=30)
    assert link.status_code == 409, link.text

    with browser_tab(browser, console_errors, DESKTOP) as console:
        _sign_in(console, stack)
        _open_exam(console, "release-pages", "Release on the page")
        expect(console.locator("#scan-banner")).to_contain_text("1 file could not be scanned for malware")
        console.get_by_role("button", name="Details of pw", exact=True).click()
        view = console.get_by_role("dialog")
        files = view.locator("#student-current")
        expect(files).to_contain_text("could not be scanned")
        expect(view.get_by_role("button", name="Download the answer")).to_have_count(0)
        expect(files).to_contain_text("No one can download it until an owner releases it.")

        # When the owner asks to release it, the question names the file and wants a reason
        view.get_by_role("button", name="Release…").click()
        expect(view.locator("#release-what")).to_contain_text("Release answers.pdf without a malware check?")
        reason = view.get_by_label("Why you release it")
        expect(reason).to_be_focused()
        view.get_by_role("button", name="Release the file").click()
        expect(console.locator("#error-text")).to_have_text("Say why you release it.")
        # Escape leaves the question (not the student's view), the keyboard back on Release…
        console.keyboard.press("Escape")
        expect(view).to_be_visible()
        expect(view.get_by_role("button", name="Release…")).to_be_focused()
        console.keyboard.press("Enter")
        reason.fill("The student sent the password to the exams office; the file was opened there.")
        assert axe_serious(console) == []
        console.screenshot(path=ARTIFACTS / "console-release.png", full_page=True)
        view.get_by_role("button", name="Release the file").click()

        # Then the file is released and offered, and a reviewer's link is given
        expect(files).to_contain_text("released")
        expect(view.get_by_role("button", name="Download the answer")).to_be_visible()
        expect(files).to_contain_text("Released without a malware check on")
        expect(view.get_by_role("button", name="Release…")).to_have_count(0)
        released: requests.Response = stack.session.get(
            stack.url(f"verifications/{current['verification_code']}/download_url"), timeout=30
        )
        assert released.status_code == 200, released.text
        events = stack.audit("release-pages", action="submission.released").json()["items"]
        assert [e["after"]["reason"] for e in events] == [
            "The student sent the password to the exams office; the file was opened there."
        ]
