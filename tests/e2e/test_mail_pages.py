"""The pages' share of mail, in a real headless Chromium (Debian's, driven by Playwright) against
the local stack: the upload page opened from an invitation's link holds the student's code and
forgets it from the address bar and the history; the console's Send upload codes… with its
progress and each student's state (it needs the stack's mail: the send-codes route, the sender,
the local mailroom)."""

from __future__ import annotations

import re
from pathlib import Path

from exam_depository.domain.messages import upload_link
from playwright.sync_api import Browser, expect

from tests.browser import ARTIFACTS, axe_serious
from tests.e2e.conftest import EXAM, Stack
from tests.e2e.student_pages import WIDTHS, browser_tab


def test_the_upload_page_takes_the_code_from_the_links_fragment_and_forgets_it(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str]
) -> None:
    # Given the link an invitation carries (the sender's own function makes it)
    student = stack.create_student(EXAM, "mail.link", first_name="Ana", last_name="Lee")
    link = upload_link(f"{stack.api}/", student["upload_code"])
    assert link.endswith(f"/#code={student['upload_code']}")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 from the link " * 200)

    with browser_tab(browser, console_errors, WIDTHS["390px"]) as page:
        page.goto(f"{stack.api}/verify")  # where the student was before they opened the link
        # When they open it
        page.goto(link)

        # Then the page holds their exam at once, and the code is in neither the address bar nor the history
        expect(page.locator("#attempts")).to_have_text(re.compile("You have 5 uploads left"))
        expect(page.locator("#status")).to_have_text("Your upload page, opened from your link.")
        assert page.url == f"{stack.api}/"
        assert page.evaluate("location.hash") == ""
        assert student["upload_code"] not in page.evaluate("history.state ?? ''")
        assert axe_serious(page) == []
        page.screenshot(path=ARTIFACTS / "mail-link-opened.png", full_page=True)
        page.go_back()
        expect(page).to_have_url(f"{stack.api}/verify")
        page.go_forward()
        expect(page).to_have_url(f"{stack.api}/")  # the entry the link made holds no code any more
        expect(page.get_by_label("Your upload code")).to_have_value("")

        # And the link opened again in this tab (only its fragment changes: the page is not loaded
        # again) is taken as well; the student hands in from it as from the code
        page.goto(link)
        expect(page.locator("#status")).to_have_text("Your upload page, opened from your link.")
        assert page.evaluate("location.hash") == ""
        page.get_by_label("Choose your file").set_input_files(answers)
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#status")).to_have_text("Your file is handed in.", timeout=20_000)
        assert page.url == f"{stack.api}/"


def test_a_link_whose_fragment_holds_no_code_is_said_in_words_and_forgotten(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    with browser_tab(browser, console_errors, WIDTHS["390px"]) as page:
        page.goto(f"{stack.api}/#code=%E0%A4%A")  # cut short by a mail program: not even its encoding reads

        expect(page.locator("#error")).to_have_text(re.compile("This link holds no upload code we can read"))
        assert page.url == f"{stack.api}/"
        expect(page.get_by_label("Your upload code")).to_have_value("")
        assert axe_serious(page) == []
