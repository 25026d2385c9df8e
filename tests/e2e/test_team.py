"""An exam run by a team, in the console (Debian's Chromium against the local stack): the owner
invites a grader, the grader joins with their own key in a browser of their own and sees a grader's
console, and the owner's audit log says who did what."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page, expect

from local_stack.client import ApiClient
from local_stack.keys import mint
from tests.browser import ARTIFACTS, axe_serious
from tests.e2e.conftest import Stack, record_problem

# The owner's laptop is in Berlin, the exam's zone is Lisbon: the audit view shows both.
ZONE = "Europe/Berlin"
KEY_STORE = "exam-depository-examiner-key"
ROSTER = "nickname,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\nbo,Bo,Ng,\n"
TITLE = "Marked by a team"
EXPORT_READY_MS = 60_000  # an export of one file on a shared machine, generously


@contextmanager
def _examiner_tab(browser: Browser, stack: Stack, key: str) -> Iterator[Page]:
    """One examiner's browser (a context of their own: their own sessionStorage), signed in with
    `key`; checked when it closes: no script error, no CSP refusal, the key never in a URL."""
    problems: list[str] = []
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id=ZONE, locale="en-GB", accept_downloads=True
    )
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, problems))
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{stack.api}/examiner")
    page.get_by_label("Your examiner key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    yield page
    context.close()
    assert [url for url in urls if key in url] == []
    assert problems == []


def _team_exam(owner: ApiClient) -> list[dict[str, Any]]:
    """An anonymous exam, open, with two students of whom Ada handed in: its students as the owner
    reads them (names and pseudonyms)."""
    owner.create_exam("team", title=TITLE, due_in_s=7200, timezone="Europe/Lisbon", anonymous=True)
    assert owner.import_roster("team", ROSTER).status_code == 201
    students: list[dict[str, Any]] = owner.students("team").json()["items"]
    ada = next(s for s in students if s["nickname"] == "ada")
    owner.hand_in(ada["upload_code"], b"%PDF-1.7 Ada's answers", filename="ada.pdf")
    return students


def _open_exam(page: Page) -> None:
    page.get_by_role("button", name=TITLE, exact=True).click()
    expect(page.locator("#exam-heading")).to_have_text(TITLE)


def _invite(owner: Page, role: str, label: str) -> str:
    """The owner's Members panel: an invitation made, its code read from the page (shown once)."""
    owner.get_by_role("button", name="Members").click()
    panel = owner.get_by_role("region", name="Members")
    expect(panel.get_by_role("row")).to_have_count(2)  # the heading's row and the owner's
    expect(panel.get_by_role("rowheader")).to_have_text(["You"])
    panel.get_by_label("Their role").select_option(label=role)
    panel.get_by_label("Their name or a note (optional)").fill(label)
    panel.get_by_role("button", name="Make the invitation").click()
    code = owner.locator("#invitation-code")
    expect(code).to_be_visible()
    expect(panel.locator("#open-invitations li")).to_contain_text([f"{role}, for {label}"])
    expect(panel.get_by_role("button", name="Copy the invitation code")).to_be_focused()
    panel.screenshot(path=ARTIFACTS / "console-members.png")
    return code.inner_text()


def _join(grader: Page, code: str) -> None:
    grader.get_by_role("button", name="Join an exam…").click()
    grader.get_by_label("Invitation code").fill(code)
    grader.get_by_role("button", name="Join", exact=True).click()
    expect(grader.locator("#exam-heading")).to_have_text(TITLE)
    expect(grader.locator("#status")).to_have_text(f"You joined “{TITLE}” as: Grader.")


def test_an_owner_invites_a_grader_who_sees_a_graders_console_and_the_audit_log_says_so(
    browser: Browser, stack: Stack
) -> None:
    secrets = stack.local_dir / "secrets.json"
    owner_key, grader_key = mint(secrets)["value"], mint(secrets)["value"]  # each list holds this exam alone
    students = _team_exam(ApiClient(stack.api, owner_key))
    pseudonyms = sorted(s["pseudonym"] for s in students)

    with _examiner_tab(browser, stack, owner_key) as owner, _examiner_tab(browser, stack, grader_key) as grader:
        # The owner invites a grader from the console's Members panel.
        _open_exam(owner)
        expect(owner.locator("#exam-role")).to_have_text("Owner")
        code = _invite(owner, "Grader", "Marker Mo")

        # The grader, with a key of their own in a browser of their own, joins with the code.
        expect(grader.locator("#no-exams")).to_be_visible()
        _join(grader, code)

        # A grader's console: a Grader badge; no Delete, no roster CSV, nothing that changes the
        # exam; in an anonymous exam, pseudonyms alone.
        expect(grader.locator("#exam-role")).to_have_text("Grader")
        grader.get_by_role("button", name="← All exams").click()
        expect(grader.locator("#exams-table tbody .badge.role")).to_have_text(["Grader"])
        _open_exam(grader)
        for hidden in ("Delete this exam…", "Download the roster with upload codes (CSV)", "Close now…", "Audit log"):
            expect(grader.get_by_role("button", name=hidden)).to_have_count(0)
        for form in ("#edit-exam", "#add-student", "#import-form", "#extensions-import-form", "#paper-form"):
            expect(grader.locator(form)).to_be_hidden()
        expect(grader.locator("#roster thead th").first).to_have_text("Pseudonym")
        expect(grader.locator("#roster tbody tr")).to_have_count(2)
        for pseudonym in pseudonyms:
            expect(grader.get_by_role("button", name=f"Details of {pseudonym}", exact=True)).to_be_visible()
        expect(grader.locator("#search-hint")).to_have_text("By pseudonym, in the whole roster.")
        shown = grader.locator("#exam-view").inner_text()
        assert [name for name in ("Ada", "Lovelace", "Bo Ng", "ada@example.org") if name in shown] == []
        expect(grader.get_by_role("button", name=f"Extra time for {pseudonyms[0]}")).to_have_count(0)
        grader.screenshot(path=ARTIFACTS / "console-grader.png", full_page=True)
        assert axe_serious(grader) == []

        # The grader may collect the answers: an export, started from the console, is prepared.
        grader.get_by_role("button", name="Prepare the ZIP").click()
        expect(grader.locator("#export-progress")).to_contain_text("Ready", timeout=EXPORT_READY_MS)

        # The owner makes the grader an invigilator; the grader's page still offers the export:
        # the API refuses it for the role, and the grader is told so and stays signed in.
        owner.get_by_role("button", name="Members").click()  # closes the panel
        expect(owner.get_by_role("region", name="Members")).to_have_count(0)
        expect(owner.get_by_role("button", name="Members")).to_be_focused()
        owner.get_by_role("button", name="Members").click()
        owner.get_by_label("Role of Marker Mo").select_option(label="Invigilator")
        expect(owner.locator("#status")).to_have_text("Marker Mo is now: Invigilator.")
        expect(owner.get_by_label("Role of Marker Mo")).to_be_focused()

        grader.get_by_role("button", name="Prepare the ZIP").click()
        alert = grader.get_by_role("alert")
        expect(alert).to_contain_text("invigilator")
        expect(grader.locator("#exam-view")).to_be_visible()
        expect(grader.get_by_label("Your examiner key")).to_be_hidden()
        assert grader.evaluate(f"sessionStorage.getItem('{KEY_STORE}')") == grader_key

        # The owner's audit log: newest first, the invitation, the joining, the export and the
        # role's change, each by whom, in words.
        owner.get_by_role("button", name="Audit log").click()
        log = owner.get_by_role("region", name="Audit log")
        expect(log.get_by_role("heading", name="Audit log")).to_be_focused()
        rows = log.locator("tbody tr")
        expect(rows.first).to_be_visible()
        events = [(row.locator("td.who").inner_text(), row.locator("td.what").inner_text()) for row in rows.all()]
        wanted = [
            ("You", "Changed a member's role"),
            ("Marker Mo", "Started an export"),
            ("Marker Mo", "Joined the exam"),
            ("You", "Invited a member"),
        ]
        assert [event for event in events if event in wanted] == wanted
        # A student is named by pseudonym: the owner's reads of the roster are disclosures logged so.
        assert "Lovelace" not in log.inner_text()
        expect(log.locator("tbody tr th .hint").first).to_contain_text("Your time:")  # Lisbon's, then Berlin's

        log.screenshot(path=ARTIFACTS / "audit-view.png")
        assert axe_serious(owner) == []

        log.get_by_label("Action").select_option(label="Started an export")
        log.get_by_role("button", name="Show").click()
        expect(rows).to_have_count(1)
        expect(rows.locator("td.who")).to_have_text("Marker Mo")

        # The whole log, as CSV, oldest first.
        with owner.expect_download() as downloaded:
            log.get_by_role("button", name="Download the whole log (CSV)").click()
        assert downloaded.value.suggested_filename == "team-audit.csv"
        table = list(csv.DictReader(io.StringIO(downloaded.value.path().read_text())))
        assert [row["seq"] for row in table] == [str(n) for n in range(1, len(table) + 1)]
        assert {"member.invited", "member.joined", "export.created", "member.role_changed"} <= {
            row["action"] for row in table
        }

        # Escape closes the panel; the keyboard goes back to the button that opened it.
        owner.keyboard.press("Escape")
        expect(log).to_have_count(0)
        expect(owner.get_by_role("button", name="Audit log")).to_be_focused()

        # The invigilator leaves the exam from their Members panel (no owner's controls there);
        # the owner's list of members is then the owner alone.
        grader.get_by_role("button", name="Members").click()
        members = grader.get_by_role("region", name="Members")
        # The owner was given no name (they made the exam): a short id of theirs stands for it.
        expect(members.get_by_role("rowheader")).to_have_text(
            [re.compile(r"^A member without a name \(\w{8}\)$"), "You"]
        )
        expect(members.get_by_role("combobox")).to_have_count(0)
        expect(members.get_by_role("button", name="Make the invitation")).to_have_count(0)
        members.get_by_role("button", name="Leave this exam…").click()
        expect(grader.get_by_role("button", name="Stay")).to_be_focused()
        grader.get_by_role("button", name="Leave the exam").click()
        expect(grader.locator("#status")).to_have_text(f"You left “{TITLE}”.")
        expect(grader.locator("#no-exams")).to_be_visible()
        owner.get_by_role("button", name="Members").click()
        expect(owner.get_by_role("region", name="Members").get_by_role("rowheader")).to_have_text(["You"])

        # A co-examiner invited and joined over the API, removed by the owner in the console, who
        # is asked first (the keyboard on the safe answer).
        _joined_over_the_api(stack, owner_key, "co_examiner", "Cy")
        owner.get_by_role("button", name="Members").click()
        owner.get_by_role("button", name="Members").click()
        members = owner.get_by_role("region", name="Members")
        expect(members.get_by_role("rowheader")).to_have_text(["You", "Cy"])
        expect(members.get_by_label("Role of Cy")).to_have_value("co_examiner")
        members.get_by_role("button", name="Remove… Cy").click()
        expect(members.locator(".confirm")).to_contain_text("Remove Cy (Co-examiner) from this exam?")
        expect(members.get_by_role("button", name="Keep Cy")).to_be_focused()
        members.get_by_role("button", name="Remove Cy").click()
        expect(owner.locator("#status")).to_have_text("Cy is no longer a member of this exam.")
        expect(members.get_by_role("rowheader")).to_have_text(["You"])


def _joined_over_the_api(stack: Stack, owner_key: str, role: str, label: str) -> None:
    """Another examiner (a key of their own) in the team exam, as `role`, through the API alone."""
    invited = stack.session.post(
        stack.url("exams/team/members/invitations"),
        json={"role": role, "label": label},
        headers={"x-api-key": owner_key},
    )
    assert invited.status_code == 201, invited.text
    code = invited.json()["invitation_code"]
    joined = stack.session.post(
        stack.url(f"members/invitations/{code}"), headers={"x-api-key": mint(stack.local_dir / "secrets.json")["value"]}
    )
    assert joined.status_code == 200, joined.text
