"""The pages' share of mail, in a real headless Chromium (Debian's, driven by Playwright) against
the local stack: the upload page opened from an invitation's link holds the student's code and
forgets it from the address bar and the history; the console's Send upload codes… with its
progress and each student's state (it needs the stack's mail: the send-codes route, the sender,
the local mailroom)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from exam_depository.domain.messages import upload_link
from playwright.sync_api import Browser, Locator, expect

from local_stack.client import MailClient
from tests.browser import ARTIFACTS, axe_serious
from tests.e2e.conftest import EXAM, Stack
from tests.e2e.student_pages import WIDTHS, browser_tab
from tests.e2e.test_console import Console, _console_tab
from tests.waiting import wait_until


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


# --- the console: sending the codes, the batch's progress, each student's state ----------------

MAIL_EXAM = "mail-console"
MAIL_TITLE = "Mail from the console"
# The mailbox simulator's addresses (the local mailroom answers as SES's simulator does).
ROSTER = (
    "nickname,first_name,last_name,email\n"
    "ada,Ada,Lovelace,success+ada@simulator.amazonses.com\n"
    "bo,Bo,Ng,bounce@simulator.amazonses.com\n"
    "cy,Cy,Zhou,\n"
    "dee,Dee,Lee,success+family@simulator.amazonses.com\n"
    "eve,Eve,Lee,Success+Family@simulator.amazonses.com\n"
)
FINAL = {"delivered", "bounced", "complained", "failed"}


@pytest.fixture
def examiner(browser: Browser, stack: Stack, console_errors: list[str]) -> Iterator[Console]:
    """The console in a tab of its own, as the console's tests drive it."""
    with _console_tab(browser, stack, console_errors, {"width": 1280, "height": 900}) as tab:
        yield tab


def _states(stack: Stack) -> dict[str, str | None]:
    items = stack.students(MAIL_EXAM).json()["items"]
    return {item["nickname"]: item["email_state"] for item in items}


def _email_cell(examiner: Console, nickname: str) -> Locator:
    """What the roster says of the student's email, under their name."""
    return examiner.page.locator(f'#roster tr[data-nickname="{nickname}"] td.name div.mail')


def test_the_console_sends_the_codes_with_progress_and_shows_each_students_state(
    examiner: Console, stack: Stack, browser: Browser, console_errors: list[str], tmp_path: Path
) -> None:
    # Given an exam whose roster has addresses (one shared, one that bounces) and a student without one
    stack.create_exam(MAIL_EXAM, title=MAIL_TITLE, due_in_s=6 * 3600)
    imported = stack.import_roster(MAIL_EXAM, ROSTER)
    assert imported.status_code == 201, imported.text
    assert imported.json()["warnings"] == [{"line": 6, "field": "email", "message": "same address as line 5 (dee)"}]
    mail = MailClient(stack.info["s3_endpoint"], Path(stack.info["mailbox"]))
    examiner.sign_in()
    examiner.open_exam(MAIL_TITLE)
    expect(examiner.page.locator("#roster thead th").nth(1)).to_have_text("Name and email")
    expect(_email_cell(examiner, "cy")).to_contain_text("no address")
    expect(_email_cell(examiner, "ada")).to_contain_text("not emailed")
    expect(_email_cell(examiner, "dee")).to_contain_text("shared address")
    expect(_email_cell(examiner, "eve")).to_contain_text("shared address")

    # When the examiner sends the codes to everyone with an address not yet invited
    examiner.page.get_by_role("button", name="Send upload codes…").click()
    dialog = examiner.page.get_by_role("dialog", name="Send the upload codes by email")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Students with an address not yet invited: 4")).to_be_checked()
    expect(dialog.get_by_label("The 0 selected")).to_be_disabled()
    assert axe_serious(examiner.page) == []
    examiner.shot("send-codes")
    dialog.get_by_role("button", name="Send the emails").click()

    # Then it says what was queued and what was not, and shows the batch leaving
    expect(examiner.page.locator("#status")).to_have_text("4 queued. Not sent: 1 without an address.")
    expect(examiner.page.locator("#mail-progress-box")).to_be_visible()
    expect(examiner.page.locator("#mail-progress-text")).to_have_text(
        re.compile("^Every email of the batch has left"), timeout=60_000
    )
    assert examiner.page.locator("#mail-progress").evaluate("bar => bar.value === bar.max")
    wait_until(
        lambda: {state for nickname, state in _states(stack).items() if nickname != "cy"} <= FINAL,
        timeout_s=60,
        what="every email's state final",
    )
    assert _states(stack) == {"ada": "delivered", "bo": "bounced", "cy": None, "dee": "delivered", "eve": "delivered"}

    # And the roster, drawn again, shows each student's state
    examiner.page.reload()
    examiner.open_exam(MAIL_TITLE)
    expect(_email_cell(examiner, "ada")).to_contain_text("delivered")
    expect(_email_cell(examiner, "bo")).to_contain_text("bounced")
    expect(_email_cell(examiner, "cy")).to_contain_text("no address")
    expect(examiner.page.locator("#mail-counts")).to_contain_text("3 delivered · 1 bounced")
    assert axe_serious(examiner.page) == []
    examiner.shot("email-states")

    # And a second send within seconds is said in words, not sent
    examiner.page.get_by_role("button", name="Send upload codes…").click()
    dialog.get_by_role("button", name="Send the emails").click()
    expect(examiner.page.locator("#error")).to_contain_text(re.compile(r"Sent a moment ago: wait \d+ seconds\."))
    dialog.get_by_role("button", name="Cancel").click()

    # And the student's view shows the address, the state and the email; a bounced address is changed
    view = examiner.open_student("bo")
    expect(view.locator("#student-mail")).to_contain_text("bounce@simulator.amazonses.com")
    expect(view.locator("#student-messages")).to_contain_text("Upload code: bounced")
    view.get_by_role("button", name="Change…").click()
    view.get_by_label("Their address").fill("success+bo@simulator.amazonses.com")
    view.get_by_role("button", name="Save the address").click()
    expect(view.locator("#student-status")).to_have_text("The address is changed.")
    expect(view.locator("#student-mail-line")).to_contain_text("not emailed")
    assert axe_serious(examiner.page) == []
    view.get_by_role("button", name="Close").click()

    # And the link ada received opens her upload page, holding her code; her hand-in is receipted by email
    (invitation,) = mail.wait_for_messages(1, to="success+ada@simulator.amazonses.com")
    text = invitation.message.get_body(preferencelist=("plain",))
    assert text is not None
    found = re.search(r"(\S+#code=[0-9A-Z-]+)", text.get_content())
    assert found is not None
    answers = tmp_path / "ada.pdf"
    answers.write_bytes(b"%PDF-1.7 Ada's answers " * 300)
    with browser_tab(browser, console_errors, WIDTHS["desktop"]) as page:
        page.goto(found.group(1))
        expect(page.locator("#status")).to_have_text("Your upload page, opened from your link.")
        expect(page.locator("#exam-title")).to_have_text(MAIL_TITLE)
        assert "#" not in page.url
        page.get_by_label("Choose your file").set_input_files(answers)
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#status")).to_have_text("Your file is handed in.", timeout=20_000)
        code = page.locator("#receipt-code").inner_text()
    receipt = mail.wait_for_messages(2, to="success+ada@simulator.amazonses.com")[-1]
    assert "ada.pdf" in str(receipt.message["Subject"])
    assert code in receipt.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
