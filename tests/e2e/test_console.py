"""The examiner's console (GET /examiner) in Debian's Chromium against the local stack: an exam run
from the browser as an examiner would, over the same API as curl."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, Request, Route, ViewportSize, expect

from local_stack.client import ApiClient
from local_stack.keys import mint
from tests.browser import ARTIFACTS
from tests.conftest import ROOT
from tests.e2e.busy_service import (
    GATEWAY_QUOTA_EXCEEDED,
    GATEWAY_QUOTA_UNTYPED,
    Answering,
    api_busy,
    api_renewing_credentials,
    api_unavailable,
    forget_the_answers_we_caused,
    retrying_quickly,
    status_seen,
)
from tests.e2e.conftest import EXAM, Stack, open_upload_page, record_problem, shown

# The examiner's laptop is in Berlin: the console's times are Berlin times, the API's are UTC.
ZONE = "Europe/Berlin"
KEY_STORE = "exam-depository-examiner-key"
AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


class Console:
    """One examiner's browser tab on /examiner, and what it sent."""

    def __init__(self, page: Page, stack: Stack) -> None:
        self.page = page
        self.stack = stack
        self.requests: list[Request] = []
        self.dialogs: list[str] = []
        page.on("request", self._sent)
        page.on("dialog", self._dialog)

    def _sent(self, request: Request) -> None:
        self.requests.append(request)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)  # a script of the data's ran
        dialog.dismiss()

    def open(self) -> None:
        self.page.goto(f"{self.stack.api}/examiner")

    def sign_in(self, key: str | None = None) -> None:
        self.open()
        self.page.get_by_label("Your examiner key").fill(key or self.stack.key or "")
        self.page.get_by_role("button", name="Sign in").click()

    def exam_in_list(self, title: str) -> Locator:
        """The exam's button in the list of exams, after as many "More exams" as it takes: the
        session's other tests made exams too, and the list shows 50 at a time, oldest first."""
        button = self.page.get_by_role("button", name=title, exact=True)
        more = self.page.get_by_role("button", name="More exams")
        expect(self.page.locator("#exams-table tbody tr").first).to_be_visible()
        for _ in range(20):
            if button.count() or not more.is_visible():
                break
            shown_before = self.page.locator("#exams-table tbody tr").count()
            more.click()
            expect(self.page.locator("#exams-table tbody tr")).not_to_have_count(shown_before)
        return button

    def open_exam(self, title: str) -> None:
        self.exam_in_list(title).click()
        expect(self.page.locator("#exam-heading")).to_have_text(title)
        expect(self.page.locator("#exam-view")).to_be_visible()

    def open_student(self, nickname: str) -> Locator:
        """One student's dialog, opened from their nickname in the roster."""
        self.page.get_by_role("button", name=f"Details of {nickname}", exact=True).click()
        view = self.page.get_by_role("dialog")
        expect(view).to_be_visible()
        expect(view.locator("#student-who")).to_contain_text(nickname)
        return view

    def shot(self, name: str, *, full_page: bool = True) -> None:
        # A full-page screenshot resizes the viewport and back. After it, the page says it is
        # scrolled to one place while Chromium keeps the place it was at before, and goes back to
        # it at the next mouse press: a click right after a shot pressed its button, the page
        # moved, and the release landed on the form (no click, no POST /exams). It failed so when
        # test_pages.py ran first: its exams made the console's page taller than the window.
        # Scrolling back to where the page was before the shot puts the two in step.
        scrolled = self.page.evaluate("[window.scrollX, window.scrollY]")
        self.page.screenshot(path=ARTIFACTS / f"console-{name}.png", full_page=full_page)
        self.page.evaluate("([x, y]) => window.scrollTo(x, y)", scrolled)

    def stored_key(self) -> Any:
        return self.page.evaluate(f"sessionStorage.getItem('{KEY_STORE}')")


@contextmanager
def _console_tab(
    browser: Browser, stack: Stack, console_errors: list[str], viewport: ViewportSize
) -> Iterator[Console]:
    """The console in a tab of its own, in Berlin; checked when it closes."""
    context = browser.new_context(viewport=viewport, timezone_id=ZONE, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))
    console = Console(page, stack)
    yield console
    context.close()
    # The key travels in a header only: never in a URL, and no script other than ours ran.
    assert stack.key
    assert [r.url for r in console.requests if stack.key in r.url] == []
    assert console.dialogs == []
    assert console_errors == []


@pytest.fixture
def console(browser: Browser, stack: Stack, console_errors: list[str]) -> Iterator[Console]:
    with _console_tab(browser, stack, console_errors, {"width": 1280, "height": 900}) as console:
        yield console


def _local_field(moment: datetime) -> str:
    """What a person types in a datetime-local field: the wall-clock time in the laptop's zone."""
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def _whole_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def test_a_wrong_key_is_refused_and_not_kept(console: Console) -> None:
    console.sign_in("not-a-key-anyone-has")

    expect(console.page.get_by_role("alert")).to_have_text(re.compile("The service refused your key"))
    expect(console.page.get_by_label("Your examiner key")).to_be_visible()
    assert console.stored_key() is None
    console.shot("1-wrong-key")


def test_the_console_loads_from_its_own_origin_alone_and_stays_light(console: Console, stack: Stack) -> None:
    loaded: list[tuple[str, int, int]] = []

    def weigh(request: Request) -> None:
        response = request.response()
        body = response.body() if response else b""
        loaded.append((request.url, len(body), len(gzip.compress(body))))

    console.page.on("requestfinished", weigh)
    console.open()
    console.page.wait_for_load_state("networkidle")

    assert {url.rsplit("/", 1)[-1] for url, _, _ in loaded} == {"examiner", "app.css", "retry.js", "examiner.js"}
    assert all(url.startswith(stack.api + "/") for url, _, _ in loaded)  # no CDN, no font service
    # What travels on AWS: API Gateway compresses every answer over 1 KiB (MinimumCompressionSize)
    # for a browser that accepts gzip, as every browser does; the local gateway does not.
    weight = sum(size for _, size, _ in loaded)
    travels = sum(gzipped for _, _, gzipped in loaded)
    (ARTIFACTS / "console-weight.txt").write_text(
        "".join(f"{size:>7} {gzipped:>7} gzipped {url.removeprefix(stack.api)}\n" for url, size, gzipped in loaded)
        + f"{weight:>7} {travels:>7} gzipped, bytes in all\n"
    )
    assert travels < 32 * 1024


# --- an exam run from the console, one step a test ---------------------------------------------

ROSTER = "nickname,first_name,last_name,email\nada,Ada,Lovelace,\nbo,Bo,Ng,\ncy,Cy,Zhou,cy@example.org\n"
BAD_ROSTER = "nickname,first_name,last_name,email\nada,Ada,Lovelace,\nbad nick,Bo,Ng,\ncy,Cy,,cy@example.org\n"
ADA_ANSWERS = b"%PDF-1.7 Ada's answers " * 500


def _exam_with_roster(stack: Stack, exam_id: str, title: str) -> dict[str, dict[str, Any]]:
    """An exam as an examiner creates it in the console (open since half an hour, due in two hours,
    late uploads for half an hour more, three uploads each), with ROSTER imported: its students
    by nickname. Made through the API: each test that changes an exam has one of its own."""
    stack.create_exam(
        exam_id,
        title=title,
        opens_in_s=-1800,
        due_in_s=7200,
        cutoff_in_s=9000,
        timezone="Europe/Lisbon",
        max_attempts=3,
    )
    assert stack.import_roster(exam_id, ROSTER).status_code == 201
    return {student["nickname"]: student for student in stack.students(exam_id).json()["items"]}


HANDED_IN = "Physics — handed in"


@pytest.fixture(scope="module")
def handed_in(stack: Stack) -> dict[str, dict[str, Any]]:
    """An exam in which Ada handed in ada.pdf and Bo and Cy have not yet: its students by nickname.
    Shared by the tests that only read it (the filter, the roster, an export, signing out)."""
    roster = _exam_with_roster(stack, "console-handed-in", HANDED_IN)
    stack.hand_in(roster["ada"]["upload_code"], ADA_ANSWERS, filename="ada.pdf")
    return roster


def _import_roster(page: Page, roster: Path) -> None:
    page.get_by_label("A roster (CSV)").set_input_files(roster)
    page.get_by_role("button", name="Import the roster").click()


def test_signing_in_keeps_the_key_in_the_tab_and_out_of_the_page(console: Console, stack: Stack) -> None:
    page = console.page
    console.sign_in()

    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    assert console.stored_key() == stack.key
    assert stack.key not in page.content()  # not in the page's HTML either


def test_an_exam_is_created_with_its_window_typed_in_the_laptops_zone(console: Console, stack: Stack) -> None:
    page = console.page
    console.sign_in()
    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()

    # Create an exam, its window typed in Berlin time.
    now = datetime.now(UTC)
    opens, due, cutoff = (_whole_minute(now + timedelta(minutes=m)) for m in (-30, 120, 150))
    page.get_by_label("Title").first.fill("Physics — December")
    expect(page.get_by_label("Exam id")).to_have_value("physics-december")  # suggested from the title
    page.get_by_label("Exam id").fill("console-physics")
    page.get_by_label("Opens").first.fill(_local_field(opens))
    page.get_by_label("Due").first.fill(_local_field(due))
    page.get_by_label("Late uploads accepted until").first.fill(_local_field(cutoff))
    page.get_by_label("The exam's time zone").select_option("Europe/Lisbon")
    page.get_by_label("Uploads per student").first.fill("3")
    expect(page.locator("legend").first).to_contain_text(ZONE)  # the zone the times are typed in
    console.shot("2-create-exam")
    page.get_by_role("button", name="Create the exam").click()

    expect(page.locator("#exam-heading")).to_have_text("Physics — December")
    created = stack.exam("console-physics").json()
    assert [datetime.fromisoformat(created[f]) for f in ("opens_at", "due_at", "cutoff_at")] == [opens, due, cutoff]
    assert (created["timezone"], created["max_attempts"], created["anonymous"]) == ("Europe/Lisbon", 3, False)
    expect(page.locator("#exam-window")).to_contain_text("CET")  # dates carry their zone


def test_a_roster_with_bad_rows_shows_each_with_its_line_and_creates_nothing(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    stack.create_exam("console-roster-refused", title="Roster refused")
    console.sign_in()
    console.open_exam("Roster refused")
    bad = tmp_path / "roster-bad.csv"
    bad.write_text(BAD_ROSTER)

    _import_roster(console.page, bad)

    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("nothing was created")
    expect(alert.locator("li")).to_have_count(2)
    expect(alert.locator("li").nth(0)).to_contain_text("Line 3, nickname")
    expect(alert.locator("li").nth(1)).to_contain_text("Line 4, last_name")
    console.shot("3-roster-refused")
    assert stack.students("console-roster-refused").json()["items"] == []


def test_a_corrected_roster_lists_the_new_students_with_their_codes(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    # Given a roster refused for its bad rows
    stack.create_exam("console-roster", title="Roster imported")
    console.sign_in()
    console.open_exam("Roster imported")
    page = console.page
    bad = tmp_path / "roster-bad.csv"
    bad.write_text(BAD_ROSTER)
    _import_roster(page, bad)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("nothing was created")

    # When the corrected one is imported
    good = tmp_path / "roster.csv"
    good.write_text(ROSTER)
    _import_roster(page, good)

    # Then the new students are listed with their codes.
    expect(page.locator("#import-summary")).to_have_text("Added 3 students.")
    expect(alert).to_be_hidden()
    expect(page.locator("#import-created li")).to_have_count(3)
    expect(page.locator("#roster tbody tr")).to_have_count(3)
    expect(page.locator("#count-none")).to_have_text("3")
    console.shot("4-roster-imported")
    roster = {s["nickname"]: s for s in stack.students("console-roster").json()["items"]}
    expect(page.locator("#import-created")).to_contain_text(roster["ada"]["upload_code"])


def test_a_hand_in_from_another_browser_updates_the_summary_without_a_reload(
    console: Console, browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    roster = _exam_with_roster(stack, "console-live", "Handed in while watched")
    console.sign_in()
    console.open_exam("Handed in while watched")
    page = console.page
    expect(page.locator("#count-none")).to_have_text("3")
    page.evaluate("window.stillTheSamePage = true")

    # A student hands in from another browser; the summary follows without a reload.
    student = browser.new_context(viewport={"width": 390, "height": 844})
    upload = student.new_page()
    answers = tmp_path / "ada.pdf"
    answers.write_bytes(ADA_ANSWERS)
    open_upload_page(upload, stack, roster["ada"]["upload_code"])
    upload.get_by_label("Choose your file").set_input_files(answers)
    upload.get_by_role("button", name="Upload").click()
    expect(upload.locator("#receipt-code")).to_be_visible(timeout=20_000)
    student.close()

    expect(page.locator("#count-handed-in")).to_have_text("1", timeout=20_000)
    expect(page.locator("#count-none")).to_have_text("2")
    expect(page.locator("#roster-stale")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    console.shot("5-summary-updated")
    page.get_by_role("button", name="Refresh the list").click()
    ada = page.locator("#roster tbody tr", has_text="Lovelace")
    expect(ada).to_contain_text("on time")
    expect(ada).to_contain_text("1 of 3")


def test_the_filter_shows_who_has_not_handed_in_yet(console: Console, handed_in: dict[str, dict[str, Any]]) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page

    page.get_by_label("Show", exact=True).select_option("none")

    expect(page.locator("#roster tbody tr")).to_have_count(2)
    expect(page.locator("#roster tbody")).not_to_contain_text("Lovelace")


def test_an_extension_given_from_the_table_moves_one_students_due_time_until_removed(
    console: Console, stack: Stack
) -> None:
    _exam_with_roster(stack, "console-extension", "Extended")
    console.sign_in()
    console.open_exam("Extended")
    page = console.page

    # An extension for one student, from the table.
    page.get_by_role("button", name="Give extension to bo").click()
    extended_due = _whole_minute(datetime.now(UTC) + timedelta(hours=26))
    expect(page.get_by_label(re.compile("Their due time"))).to_be_focused()
    page.get_by_label(re.compile("Their due time")).fill(_local_field(extended_due))
    page.get_by_label("Extra uploads").fill("1")
    # The form opened under bo's row, not somewhere else on the page.
    form_row = page.locator("#roster tbody tr.form-row")
    expect(form_row.locator("#extension-form")).to_be_visible()
    assert form_row.evaluate("row => row.previousElementSibling.dataset.nickname") == "bo"
    expect(page.locator("#extension-title")).to_contain_text("bo (Bo Ng)")
    console.shot("6-extension")
    page.get_by_role("button", name="Give the extension").click()
    bo = page.locator('#roster tbody tr[data-nickname="bo"]')
    expect(bo).to_contain_text("0 of 4")
    expect(bo.locator("td.extension")).to_contain_text("+1 upload")
    expect(form_row).to_have_count(0)
    expect(bo.get_by_role("button", name="Remove extension of bo")).to_be_visible()
    extension = stack.student("console-extension", "bo").json()["extension"]
    assert datetime.fromisoformat(extension["due_at"]) == extended_due
    assert extension["extra_attempts"] == 1

    page.get_by_role("button", name="Remove extension of bo").click()
    expect(bo.locator("td").nth(4)).to_have_text("—")  # the Extension column
    assert stack.student("console-extension", "bo").json()["extension"] is None


def test_extensions_from_a_csv_are_given_in_the_files_own_offsets(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    _exam_with_roster(stack, "console-extensions", "Extended by file")
    console.sign_in()
    console.open_exam("Extended by file")
    page = console.page
    extended_due = _whole_minute(datetime.now(UTC) + timedelta(hours=26))
    extensions = tmp_path / "extensions.csv"
    extensions.write_text(f"nickname,due_at,extra_attempts\ncy,{extended_due.isoformat()},2\n")

    page.get_by_label("Extensions (CSV)").set_input_files(extensions)
    page.get_by_role("button", name="Import the extensions").click()

    expect(page.locator("#status")).to_have_text("Gave 1 extension.")
    expect(page.locator("#roster tbody tr", has_text="Zhou")).to_contain_text("0 of 5")


def test_the_roster_downloads_with_every_upload_code_for_a_mail_merge(
    console: Console, handed_in: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page

    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download the roster")).click()

    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert {(r["nickname"], r["upload_code"]) for r in rows} == {(n, s["upload_code"]) for n, s in handed_in.items()}
    assert saved.suffix == ".csv"


def test_an_export_shows_its_progress_and_its_zip_holds_the_files_handed_in(
    console: Console, handed_in: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page

    # Collect: an export, its progress, its ZIP.
    page.get_by_role("button", name="Prepare the ZIP").click()
    expect(page.locator("#export-progress")).to_contain_text("Ready: 1 of 1 files", timeout=60_000)
    console.shot("7-export-ready")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the ZIP").click()

    archive = tmp_path / "answers.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.testzip() is None
        names = zipped.namelist()
        assert [zipped.read(n) for n in names if n.endswith("ada.pdf")] == [ADA_ANSWERS]
        manifest = [n for n in names if n.lower().startswith("manifest")]
        assert len(manifest) == 1


def test_signing_out_forgets_the_key_and_the_exam_on_the_page(
    console: Console, handed_in: dict[str, dict[str, Any]]
) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page
    expect(page.locator("#roster tbody tr")).to_have_count(3)

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_label("Your examiner key")).to_be_visible()
    assert console.stored_key() is None
    expect(page.locator("#roster tbody tr")).to_have_count(0)
    console.shot("8-signed-out")


def test_an_expired_export_says_so(console: Console, stack: Stack) -> None:
    stack.create_exam("console-expired", title="Expired export")
    stack.hand_in(stack.create_student("console-expired", "late.one")["upload_code"], b"%PDF-1.7 x")
    console.sign_in()
    console.open_exam("Expired export")
    console.page.get_by_role("button", name="Prepare the ZIP").click()
    expect(console.page.locator("#export-progress")).to_contain_text("Ready", timeout=60_000)

    with psycopg.connect(stack.info["database_url"]) as conn:
        conn.execute("UPDATE export SET expires_at = now() - interval '1 second'")
    console.page.get_by_role("button", name="Download the ZIP").click()

    expect(console.page.locator("#export-progress")).to_have_text(re.compile("has expired"))
    expect(console.page.get_by_role("button", name="Download the ZIP")).to_be_hidden()
    console.shot("9-export-expired")


def test_a_name_made_of_markup_is_shown_as_text(console: Console, stack: Stack) -> None:
    markup = "<img src=x onerror=alert(1)>"
    stack.create_exam("console-markup", title="<b>Markup</b> exam")
    stack.create_student("console-markup", "mallory", first_name=markup, last_name="<script>alert(2)</script>")
    console.sign_in()
    console.open_exam("<b>Markup</b> exam")

    row = console.page.locator("#roster tbody tr", has_text="mallory")
    # the name as text (under it, what became of the student's email: no address)
    expect(row.locator("td").first).to_have_text(f"{markup} <script>alert(2)</script>no address")
    assert console.page.locator("#roster img, #roster script, #exam-heading b").count() == 0
    console.page.wait_for_timeout(500)  # an onerror would have fired by now
    console.shot("10-markup-as-text")
    # The fixture fails the test if a dialog opened.


def test_the_window_is_changed_and_the_exam_deleted_after_naming_what_is_lost(console: Console, stack: Stack) -> None:
    stack.create_exam("console-delete", title="To delete")
    stack.hand_in(stack.create_student("console-delete", "gone")["upload_code"], b"%PDF-1.7 y")
    console.sign_in()
    console.open_exam("To delete")
    page = console.page
    later = _whole_minute(datetime.now(UTC) + timedelta(hours=5))
    page.locator("#edit-due").fill(_local_field(later))
    page.locator("#edit-cutoff").fill(_local_field(later))
    page.get_by_role("button", name="Save the changes").click()
    expect(page.locator("#status")).to_have_text("The exam is changed.")
    assert datetime.fromisoformat(stack.exam("console-delete").json()["due_at"]) == later

    page.get_by_role("button", name="Delete this exam…").click()
    expect(page.locator("#delete-what")).to_contain_text("1 student")
    expect(page.locator("#delete-what")).to_contain_text("the files of the 1 student who handed in")
    expect(page.get_by_role("button", name="Keep it")).to_be_focused()
    console.shot("11-delete-confirmation")
    page.get_by_role("button", name="Delete it for good").click()

    expect(page.locator("#status")).to_have_text("Deleted “To delete”.")
    expect(page.get_by_role("button", name="To delete", exact=True)).to_have_count(0)
    assert stack.exam("console-delete").status_code == 404


def test_a_roster_of_5000_pages_by_500_and_fits_a_phone(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-big", title="Big lecture")
    roster = "nickname,first_name,last_name\n" + "".join(f"s{i:04d},Student,Number {i}\n" for i in range(5000))
    assert stack.import_roster("console-big", roster).status_code == 201
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id=ZONE)
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    console = Console(page, stack)
    console.sign_in()
    console.open_exam("Big lecture")

    rows = page.locator("#roster tbody tr")
    expect(rows).to_have_count(500)
    expect(page.locator("#count-students")).to_have_text("5000")
    expect(page.locator("#page-position")).to_have_text("Students 1–500, more after.")
    # At 390 px the page does not scroll sideways: the table scrolls in its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    console.shot("12-phone-5000-students")
    for _ in range(9):
        page.get_by_role("button", name="Next 500").click()
    expect(page.locator("#page-position")).to_have_text("Students 4501–5000.")
    expect(rows.first).to_contain_text("s4500")
    expect(page.get_by_role("button", name="Next 500")).to_be_hidden()
    page.get_by_role("button", name="Previous 500").click()
    expect(rows.first).to_contain_text("s4000")
    context.close()
    assert console_errors == []


# --- keeping the files, collecting them in time, closing an exam ----------------------------


def _expire_files_in(stack: Stack, exam_id: str, hours: int) -> None:
    """What a retention of a day would do: the exam's files kept only `hours` more."""
    with psycopg.connect(stack.info["database_url"]) as conn:
        conn.execute(
            """UPDATE submission x SET expires_at = now() + make_interval(hours => %s)
               FROM student s JOIN exam e ON e.id = s.exam_id WHERE x.student_id = s.id AND e.slug = %s""",
            (hours, exam_id),
        )


def test_each_file_says_until_when_it_is_kept_and_the_exam_when_its_files_go(console: Console, stack: Stack) -> None:
    stack.create_exam("console-kept", title="Kept files", timezone="Europe/Lisbon", due_in_s=7200)
    kept = stack.hand_in(stack.create_student("console-kept", "kept")["upload_code"], b"%PDF-1.7 kept")["current"]
    stack.create_student("console-kept", "nofile")
    exam = stack.exam("console-kept").json()
    assert exam["files_deleted_from"] == kept["expires_at"]  # the only file
    console.sign_in()
    console.open_exam("Kept files")
    page = console.page

    # In the roster, in the laptop's zone like the other times of the console.
    expect(page.get_by_role("columnheader", name="Kept until")).to_be_visible()
    column = [h.strip() for h in page.locator("#roster thead th").all_inner_texts()].index("Kept until") - 1
    row = page.locator('#roster tbody tr[data-nickname="kept"]')
    expect(row.locator("td").nth(column)).to_have_text(shown(page, kept["expires_at"], ZONE), use_inner_text=True)
    expect(page.locator('#roster tbody tr[data-nickname="nofile"]').locator("td").nth(column)).to_have_text("—")
    # Beside the export, the exam's first deletion, in the exam's zone too when it differs.
    files = page.locator("#files-deleted")
    expect(files).to_contain_text(f"Files are deleted from {shown(page, exam['files_deleted_from'], ZONE)}")
    expect(files).to_contain_text(shown(page, exam["files_deleted_from"], "Europe/Lisbon"))
    expect(page.locator("#start-export")).to_be_visible()
    # Open for two more hours, its files kept for days yet: no export is due.
    expect(page.locator("#export-due")).to_be_hidden()
    console.shot("13-kept-until")


def test_an_export_due_is_said_until_a_zip_prepared_after_the_cutoff_is_downloaded(
    console: Console, stack: Stack
) -> None:
    page = console.page
    # Open, but the files go in less than two days: export before then.
    stack.create_exam("console-soon", title="Files go soon", due_in_s=7200)
    stack.hand_in(stack.create_student("console-soon", "soon")["upload_code"], b"%PDF-1.7 soon")
    _expire_files_in(stack, "console-soon", 30)
    # Closed: past its cut-off, its files kept for days.
    stack.create_exam("console-past", title="Past its cut-off", due_in_s=7200)
    stack.hand_in(stack.create_student("console-past", "past")["upload_code"], b"%PDF-1.7 past")
    assert stack.close_exam("console-past").status_code == 200
    # Nothing handed in: nothing to export.
    stack.create_exam("console-empty", title="Nothing handed in", due_in_s=7200)
    stack.create_student("console-empty", "empty")
    assert stack.close_exam("console-empty").status_code == 200
    console.sign_in()

    console.open_exam("Files go soon")
    due = page.locator("#export-due")
    expect(due).to_be_visible()
    expect(due).to_contain_text("less than 48 hours")
    expect(due).to_contain_text("Prepare the ZIP")
    console.shot("14-export-due-soon")
    # A ZIP prepared while students may still hand in is not the last word.
    page.get_by_role("button", name="Prepare the ZIP").click()
    expect(page.locator("#export-progress")).to_contain_text("Ready: 1 of 1 files", timeout=60_000)
    with page.expect_download():
        page.get_by_role("button", name="Download the ZIP").click()
    expect(due).to_contain_text("prepared before the cut-off")

    page.get_by_role("button", name="All exams").click()
    console.open_exam("Past its cut-off")
    expect(due).to_be_visible()
    expect(due).to_contain_text("past its cut-off")
    expect(due).to_contain_text("download it before")
    console.shot("15-export-due-closed")
    page.get_by_role("button", name="Prepare the ZIP").click()
    expect(page.locator("#export-progress")).to_contain_text("Ready: 1 of 1 files", timeout=60_000)
    expect(due).to_be_visible()  # prepared is not downloaded
    with page.expect_download():
        page.get_by_role("button", name="Download the ZIP").click()
    expect(due).to_be_hidden()

    page.get_by_role("button", name="All exams").click()
    console.open_exam("Nothing handed in")
    expect(due).to_be_hidden()


def test_closing_an_exam_ends_every_window_now_and_forms_already_issued_stop_counting(
    console: Console, stack: Stack
) -> None:
    created = stack.create_exam("console-close", title="Leaked paper", due_in_s=3600)
    student = stack.create_student("console-close", "early")
    extended = _whole_minute(datetime.now(UTC) + timedelta(hours=3))
    assert stack.put_extension("console-close", "early", {"due_at": extended.isoformat()}).status_code == 200
    form = stack.form(student["upload_code"])  # issued before the close: S3 takes it for 10 minutes
    console.sign_in()
    console.open_exam("Leaked paper")
    page = console.page

    page.get_by_role("button", name="Close now…").click()
    what = page.locator("#close-what")
    expect(what).to_contain_text("every student's window ends now, extensions included")
    expect(what).to_contain_text("forms already issued stop counting")
    expect(page.get_by_role("button", name="Keep it open")).to_be_focused()
    console.shot("16-close-confirmation")
    assert stack.exam("console-close").json()["cutoff_at"] == created["cutoff_at"]  # nothing sent yet
    page.get_by_role("button", name="Close it now").click()

    expect(page.locator("#status")).to_contain_text("“Leaked paper” is closed")
    closed = stack.exam("console-close").json()
    assert datetime.fromisoformat(closed["cutoff_at"]) <= datetime.now(UTC)
    expect(page.locator("#exam-window")).to_contain_text(f"due {shown(page, closed['due_at'], ZONE)}")
    expect(page.locator("#edit-cutoff")).to_have_value(_local_field(datetime.fromisoformat(closed["cutoff_at"])))
    expect(page.locator("#close-confirm")).to_be_hidden()
    assert stack.student("console-close", "early").json()["cutoff_at"] == closed["cutoff_at"]
    # The form issued before: S3 still takes the bytes, and the recorder refuses them.
    assert stack.post_form(form, b"%PDF-1.7 after the close").status_code == 204
    (upload,) = stack.wait_until_settled(student["upload_code"], form["upload_id"])["uploads"]
    assert (upload["status"], upload["rejection_reason"]) == ("rejected", "after_cutoff")


def _lose_the_first_request(page: Page, url_pattern: str) -> list[str]:
    """The first request to a matching URL is lost on the network (the connection reset), the
    others go through; returns the URLs lost."""
    lost: list[str] = []

    def lose_the_first(route: Route) -> None:
        if lost:
            route.continue_()
        else:
            lost.append(route.request.url)
            route.abort("connectionreset")

    page.route(re.compile(url_pattern), lose_the_first)
    return lost


def test_a_close_lost_on_the_network_is_said_beside_the_action_and_tried_again(
    console: Console, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-close-net", title="Closed on a bad network")
    lost = _lose_the_first_request(console.page, r".*/exams/console-close-net/close$")
    console.sign_in()
    console.open_exam("Closed on a bad network")
    console.page.get_by_role("button", name="Close now…").click()
    console.page.get_by_role("button", name="Close it now").click()

    alert = console.page.get_by_role("alert")
    expect(alert).to_contain_text("The network failed")
    # Beside the action it is about, like the console's other errors.
    assert console.page.evaluate("document.getElementById('error').nextElementSibling.id") == "close-box"
    assert datetime.fromisoformat(stack.exam("console-close-net").json()["cutoff_at"]) > datetime.now(UTC)  # still open
    console.page.get_by_role("button", name="Try again").click()

    expect(console.page.locator("#status")).to_contain_text("is closed")
    expect(alert).to_be_hidden()
    assert datetime.fromisoformat(stack.exam("console-close-net").json()["cutoff_at"]) <= datetime.now(UTC)
    assert len(lost) == 1
    console_errors.remove("Failed to load resource: net::ERR_CONNECTION_RESET")  # the one this test caused


def test_a_busy_service_is_waited_out_and_a_change_that_timed_out_is_left_to_the_examiner(
    console: Console, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-busy", title="Busy deadline")
    page = console.page
    retrying_quickly(page)
    lists = Answering(
        page, re.compile(r".*/exams\?limit=.*"), "GET", [api_busy("service-starting"), api_busy("service-busy")]
    )
    # The database is full, then API Gateway stops waiting for the function (its own 504 words).
    timed_out = {
        "status": 504,
        "content_type": "application/json",
        "body": json.dumps({"message": "Endpoint request timed out"}),
    }
    closes = Answering(page, re.compile(r".*/exams/console-busy/close$"), "POST", [api_busy("service-busy"), timed_out])

    console.sign_in()
    console.open_exam("Busy deadline")
    assert len(lists.sent) == 3
    page.get_by_role("button", name="Close now…").click()
    page.get_by_role("button", name="Close it now").click()

    # A 503 made no change: sent again by itself. After a 504 the change may be made: the examiner decides.
    expect(page.get_by_role("alert")).to_contain_text("took too long to answer: the change may or may not be made")
    assert len(closes.sent) == 2
    assert datetime.fromisoformat(stack.exam("console-busy").json()["cutoff_at"]) > datetime.now(UTC)
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#status")).to_contain_text("is closed")
    assert len(closes.sent) == 3
    seen = status_seen(page)
    assert "The service is starting up — retrying in 1 s…" in seen
    assert seen.count("The service is busy — retrying in 1 s…") == 2, seen
    assert not [text for text in seen if "error" in text.lower()]
    forget_the_answers_we_caused(console_errors, 503, 3)
    forget_the_answers_we_caused(console_errors, 504, 1)


def test_a_change_refused_while_the_database_password_rotates_is_sent_again_and_said_busy(
    console: Console, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-rotating", title="Rotated password")
    page = console.page
    retrying_quickly(page)
    # The database refused the function's password, and the secret read afresh still had the old one.
    renewing = api_renewing_credentials()
    closes = Answering(page, re.compile(r".*/exams/console-rotating/close$"), "POST", [renewing])

    console.sign_in()
    console.open_exam("Rotated password")
    page.get_by_role("button", name="Close now…").click()
    page.get_by_role("button", name="Close it now").click()

    # Nothing was done: the close is sent again by itself, after Retry-After, and the page says busy.
    expect(page.locator("#status")).to_contain_text("is closed")
    assert len(closes.sent) == 2
    assert datetime.fromisoformat(stack.exam("console-rotating").json()["cutoff_at"]) <= datetime.now(UTC)
    seen = status_seen(page)
    assert f"The service is busy — retrying in {renewing['headers']['Retry-After']} s…" in seen, seen
    assert not [text for text in seen if "error" in text.lower()]
    expect(page.get_by_role("alert")).to_be_hidden()
    forget_the_answers_we_caused(console_errors, 503, 1)


def test_an_export_answered_service_unavailable_is_left_to_the_examiner_not_sent_again(
    console: Console, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-unavailable", title="Queue down")
    stack.hand_in(stack.create_student("console-unavailable", "q")["upload_code"], b"%PDF-1.7 q")
    page = console.page
    retrying_quickly(page)
    # The API committed the export's row, then could not queue it: sent again, it would make another.
    unavailable = api_unavailable()
    exports = Answering(page, re.compile(r".*/exams/console-unavailable/exports$"), "POST", [unavailable])

    console.sign_in()
    console.open_exam("Queue down")
    page.get_by_role("button", name="Prepare the ZIP").click()

    expect(page.get_by_role("alert")).to_contain_text(json.loads(unavailable["body"])["detail"])
    assert len(exports.sent) == 1
    assert not [text for text in status_seen(page) if "retrying" in text]
    page.get_by_role("button", name="Try again").click()  # the examiner decides
    expect(page.locator("#export-progress")).to_contain_text("Ready: 1 of 1 files", timeout=60_000)
    assert len(exports.sent) == 2
    forget_the_answers_we_caused(console_errors, 503, 1)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (GATEWAY_QUOTA_EXCEEDED, "has used up its request quota for the period"),
        (GATEWAY_QUOTA_UNTYPED, "Limit Exceeded"),  # API Gateway's own words, without the template's
    ],
    ids=["template", "untyped"],
)
def test_a_key_over_its_quota_is_told_so_at_once_not_retried(
    console: Console, stack: Stack, answer: dict[str, Any], said: str
) -> None:
    page = console.page
    retrying_quickly(page)
    # Even a GET, which may always be sent again: no wait within the retries' bound renews a quota.
    lists = Answering(page, re.compile(r".*/exams\?limit=.*"), "GET", [answer])

    console.sign_in()

    expect(page.get_by_role("alert")).to_contain_text(said)
    assert len(lists.sent) == 1
    assert not [text for text in status_seen(page) if "retrying" in text]


# --- what a careless network, a DST night and a quick double click do -----------------------


def test_a_lost_progress_answer_is_retried_and_the_export_still_finishes(
    console: Console, stack: Stack, console_errors: list[str]
) -> None:
    stack.create_exam("console-flaky", title="Flaky network")
    stack.hand_in(stack.create_student("console-flaky", "f")["upload_code"], b"%PDF-1.7 f")
    lost = _lose_the_first_request(console.page, r".*/exams/console-flaky/exports/[0-9a-f-]+$")
    console.sign_in()
    console.open_exam("Flaky network")
    console.page.get_by_role("button", name="Prepare the ZIP").click()

    expect(console.page.locator("#export-progress")).to_contain_text("Ready: 1 of 1 files", timeout=60_000)
    assert len(lost) == 1
    expect(console.page.get_by_role("button", name="Prepare the ZIP")).to_be_enabled()
    console_errors.remove("Failed to load resource: net::ERR_CONNECTION_RESET")  # the one this test caused


def test_saving_a_new_title_keeps_the_window_to_the_second(console: Console, stack: Stack) -> None:
    created = stack.create_exam("console-seconds", title="Seconds", due_in_s=7200.5, cutoff_in_s=9000.25)
    console.sign_in()
    console.open_exam("Seconds")
    console.page.locator("#edit-title").fill("Seconds, renamed")
    console.page.get_by_role("button", name="Save the changes").click()

    expect(console.page.locator("#exam-heading")).to_have_text("Seconds, renamed")
    saved = stack.exam("console-seconds").json()
    assert [saved[f] for f in ("opens_at", "due_at", "cutoff_at")] == [
        created[f] for f in ("opens_at", "due_at", "cutoff_at")
    ]


def test_an_extension_of_extra_uploads_alone_keeps_the_due_time(console: Console, stack: Stack) -> None:
    created = stack.create_exam("console-extra", title="More uploads", due_in_s=7200.5)
    stack.create_student("console-extra", "more")
    console.sign_in()
    console.open_exam("More uploads")
    console.page.get_by_role("button", name="Give extension to more").click()
    console.page.get_by_label("Extra uploads").fill("2")
    console.page.get_by_role("button", name="Give the extension").click()

    row = console.page.locator('#roster tbody tr[data-nickname="more"]')
    expect(row).to_contain_text("0 of 7")
    # The keyboard is back on the row it acted on, not lost on the page.
    expect(row.get_by_role("button", name="Change extension of more")).to_be_focused()
    assert stack.student("console-extra", "more").json()["extension"]["due_at"] == created["due_at"]


def test_the_delete_confirmation_counts_what_is_there_now(console: Console, stack: Stack) -> None:
    stack.create_exam("console-late-count", title="Counted now")
    student = stack.create_student("console-late-count", "quick")
    console.sign_in()
    console.open_exam("Counted now")
    stack.hand_in(student["upload_code"], b"%PDF-1.7 after the page was drawn")

    console.page.get_by_role("button", name="Delete this exam…").click()

    expect(console.page.locator("#delete-what")).to_contain_text("the files of the 1 student who handed in")


def test_an_answer_that_is_not_the_api_is_said_so(console: Console, stack: Stack) -> None:
    console.sign_in()
    expect(console.page.get_by_role("heading", name="Your exams")).to_be_visible()
    console.page.route(
        re.compile(r".*/exams/e2e$"),
        lambda route: route.fulfill(status=200, content_type="text/html", body="<html>Sign in to the Wi-Fi</html>"),
    )
    console.page.get_by_role("button", name="End-to-end tests", exact=True).click()

    expect(console.page.get_by_role("alert")).to_contain_text("Something other than the service answered")


def test_a_double_click_creates_one_exam(console: Console, stack: Stack) -> None:
    console.sign_in()
    page = console.page
    now = datetime.now(UTC)
    page.get_by_label("Title").first.fill("Clicked twice")
    page.get_by_label("Opens").first.fill(_local_field(now - timedelta(hours=1)))
    page.get_by_label("Due").first.fill(_local_field(now + timedelta(hours=1)))
    page.get_by_label("Late uploads accepted until").first.fill(_local_field(now + timedelta(hours=1)))
    page.get_by_role("button", name="Create the exam").dblclick()

    expect(page.locator("#exam-heading")).to_have_text("Clicked twice")
    posts = [r for r in console.requests if r.method == "POST" and r.url.endswith("/exams")]
    assert len(posts) == 1
    expect(page.get_by_role("alert")).to_be_hidden()


def test_a_time_the_clocks_repeat_is_refused_with_the_reason(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    console = Console(page, stack)
    console.sign_in()
    page.get_by_label("Title").first.fill("DST night")
    page.get_by_label("Opens").first.fill("2027-11-06T09:00")
    page.get_by_label("Due").first.fill("2027-11-07T01:30")  # 01:30 happens twice that night
    page.get_by_label("Late uploads accepted until").first.fill("2027-11-07T04:00")
    page.get_by_role("button", name="Create the exam").click()

    expect(page.get_by_role("alert")).to_contain_text("Due: 2027-11-07 01:30 happens twice in America/New_York")
    assert stack.exam("dst-night").status_code == 404
    context.close()


# The wall-clock times around a DST change, in Lord Howe (30 minutes) and Paris (an hour): each
# exists once (the instant it names), never (the clocks go forward) or twice (they go back).
DST_NIGHTS = {
    "Australia/Lord_Howe": [
        ("2027-10-03T01:59", "once"),
        ("2027-10-03T02:00", "forward 30 minutes"),
        ("2027-10-03T02:15", "forward 30 minutes"),
        ("2027-10-03T02:29", "forward 30 minutes"),
        ("2027-10-03T02:30", "once"),
        ("2027-04-04T01:29", "once"),
        ("2027-04-04T01:30", "back 30 minutes"),
        ("2027-04-04T01:45", "back 30 minutes"),
        ("2027-04-04T01:59", "back 30 minutes"),
        ("2027-04-04T02:00", "once"),
    ],
    "Europe/Paris": [
        ("2027-03-28T01:59", "once"),
        ("2027-03-28T02:00", "forward 1 hour"),
        ("2027-03-28T02:30", "forward 1 hour"),
        ("2027-03-28T03:00", "once"),
        ("2027-10-31T01:59", "once"),
        ("2027-10-31T02:00", "back 1 hour"),
        ("2027-10-31T02:30", "back 1 hour"),
        ("2027-10-31T03:00", "once"),
        ("2027-07-14T12:00", "once"),
    ],
}


TWICE = "Choose a time that happens once."


@pytest.mark.parametrize("zone", sorted(DST_NIGHTS))
def test_the_dst_guard_knows_every_shift_size(browser: Browser, stack: Stack, zone: str) -> None:
    context = browser.new_context(timezone_id=zone)
    page = context.new_page()
    Console(page, stack).open()

    got, wanted = [], []
    for typed, expected in DST_NIGHTS[zone]:
        # The table itself, checked against Python's tz database.
        earlier, later = (datetime.fromisoformat(typed).replace(tzinfo=ZoneInfo(zone), fold=f) for f in (0, 1))
        exists = [
            m
            for m in (earlier, later)
            if m.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime.fromisoformat(typed)
        ]
        assert len({m.astimezone(UTC) for m in exists}) == {"once": 1, "back": 2, "forward": 0}[expected.split()[0]]

        # The create form's Due field (hidden until signing in), read by the console's own function.
        answer = page.evaluate(
            """(typed) => { const field = document.getElementById("exam-due"); field.value = typed;
                if (field.value !== typed) return `not typed: ${field.value}`;
                try { return instantFrom(field); }
                catch (err) { return err instanceof Mistake ? `refused: ${err.message}` : `bug: ${err}`; } }""",
            typed,
        )
        said = f"refused: Due: {typed.replace('T', ' ')}"
        got.append((typed, answer))
        if expected == "once":
            wanted.append((typed, earlier.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")))
        elif expected.startswith("forward"):
            wanted.append((typed, f"{said} does not exist in {zone} (the clocks go {expected}). Choose another time."))
        else:
            wanted.append((typed, f"{said} happens twice in {zone} (the clocks go {expected} that night). {TWICE}"))
    assert got == wanted
    context.close()


def test_a_time_lord_howe_repeats_is_refused_from_the_form(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(timezone_id="Australia/Lord_Howe")
    page = context.new_page()
    console = Console(page, stack)
    console.sign_in()
    page.get_by_label("Title").first.fill("Lord Howe night")
    page.get_by_label("Opens").first.fill("2027-04-03T09:00")
    page.get_by_label("Due").first.fill("2027-04-04T01:45")  # 01:45 happens twice that night, 30 minutes apart
    page.get_by_label("Late uploads accepted until").first.fill("2027-04-04T04:00")
    page.get_by_role("button", name="Create the exam").click()

    expect(page.get_by_role("alert")).to_contain_text("Due: 2027-04-04 01:45 happens twice in Australia/Lord_Howe")
    assert stack.exam("lord-howe-night").status_code == 404
    context.close()


def test_a_long_title_wraps_at_390_px(browser: Browser, stack: Stack) -> None:
    stack.create_exam("console-" + "x" * 55, title="Y" * 200)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    console = Console(page, stack)
    console.sign_in()
    page.get_by_role("button", name="Y" * 200).click()
    expect(page.locator("#exam-heading")).to_have_text("Y" * 200)
    page.get_by_role("button", name="Delete this exam…").click()
    expect(page.locator("#delete-what")).to_be_visible()
    page.get_by_role("button", name="Close now…").click()
    expect(page.locator("#close-what")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


# --- everyday actions: one student added, looked at, given a new code, removed; a search ------


def _clipboard(console: Console) -> str:
    text: str = console.page.evaluate("navigator.clipboard.readText()")
    return text


def test_one_student_is_added_from_a_small_form_and_shown_with_their_code(console: Console, stack: Stack) -> None:
    _exam_with_roster(stack, "console-add", "A latecomer")
    console.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    console.sign_in()
    console.open_exam("A latecomer")
    page = console.page

    page.get_by_label("Nickname").fill("zoe.b")
    page.get_by_label("First name").fill("Zoë")
    page.get_by_label("Last name").fill("Brontë")
    page.get_by_label("Email (optional)").fill("zoe@example.org")
    page.get_by_role("button", name="Add the student").click()

    expect(page.locator("#added-what")).to_have_text("Added Zoë Brontë (zoe.b).")
    added = stack.student("console-add", "zoe.b").json()
    assert (added["first_name"], added["last_name"], added["email"]) == ("Zoë", "Brontë", "zoe@example.org")
    expect(page.locator("#added-code")).to_have_text(added["upload_code"])
    expect(page.locator('#roster tbody tr[data-nickname="zoe.b"]')).to_contain_text("Zoë Brontë")
    expect(page.locator("#count-students")).to_have_text("4")
    expect(page.get_by_label("Nickname")).to_be_focused()  # ready for the next one
    expect(page.get_by_label("Nickname")).to_have_value("")
    page.locator("#added").get_by_role("button", name="Copy the upload code").click()
    expect(page.locator("#status")).to_have_text("The upload code is copied.")
    assert _clipboard(console) == added["upload_code"]

    # The same nickname again: the API's reason, beside the form, and nobody added.
    page.get_by_label("Nickname").fill("zoe.b")
    page.get_by_label("First name").fill("Other")
    page.get_by_label("Last name").fill("Person")
    page.get_by_role("button", name="Add the student").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.evaluate("document.getElementById('error').nextElementSibling.id") == "add-student"
    assert len(stack.students("console-add").json()["items"]) == 4


def test_one_students_view_shows_every_upload_and_downloads_the_current_answer_and_receipts(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    roster = _exam_with_roster(stack, "console-one", "One student's uploads")
    first = b"%PDF-1.7 Ada's first try " * 300
    second = b"%PDF-1.7 Ada's final answers " * 400
    earlier = stack.hand_in(roster["ada"]["upload_code"], first, filename="draft.pdf")["current"]
    later = stack.hand_in(roster["ada"]["upload_code"], second, filename="final.pdf")["current"]
    console.sign_in()
    console.open_exam("One student's uploads")
    page = console.page

    view = console.open_student("ada")

    expect(view.get_by_role("heading", name="Ada Lovelace")).to_be_focused()
    expect(view.locator("#student-code")).to_have_text(roster["ada"]["upload_code"])
    expect(view.locator("#student-window")).to_contain_text("2 of 3 uploads used")
    current = view.locator("#student-current")
    expect(current).to_contain_text("final.pdf")
    expect(current).to_contain_text(f"Kept until {shown(page, later['expires_at'], ZONE)}")
    expect(current).to_contain_text(later["verification_code"])
    uploads = view.locator("#student-uploads li.upload")
    expect(uploads).to_have_count(2)
    for item, (upload, content, status) in zip(
        uploads.all(), [(later, second, "current"), (earlier, first, "replaced")], strict=True
    ):
        expect(item).to_contain_text(upload["filename"])
        expect(item.locator(".badge").first).to_have_text(status)
        expect(item.locator(".badge").nth(1)).to_have_text("on time")
        expect(item).to_contain_text(hashlib.sha256(content).hexdigest())
        expect(item).to_contain_text(upload["verification_code"])
        expect(item).to_contain_text(f"({len(content):,} bytes)")
        expect(item).to_contain_text(shown(page, upload["submitted_at"], ZONE))
    expect(uploads.first).to_contain_text(f"Kept until{shown(page, later['expires_at'], ZONE)}")
    console.shot("20-one-student", full_page=False)  # the dialog, over the page

    # The current answer, as a reviewer downloads it: its bytes.
    with page.expect_download() as download:
        view.get_by_role("button", name="Download the answer").click()
    saved = tmp_path / "answer.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == second
    requested = [r for r in console.requests if "/download_url" in r.url]
    assert [r.url.rsplit("/", 2)[-2] for r in requested] == [later["verification_code"]]
    assert "x-api-key" not in requested[0].headers  # a reviewer's route: the key stays home

    # Each upload's receipt, as the file the student was offered.
    with page.expect_download() as receipt:
        uploads.nth(1).get_by_role("link", name=re.compile("Download the receipt")).click()
    assert receipt.value.suggested_filename == f"receipt-{earlier['verification_code']}.jwt"
    receipt.value.save_as(tmp_path / "receipt.jwt")
    assert (tmp_path / "receipt.jwt").read_text() == earlier["receipt"] + "\n"

    # Escape closes it, and the keyboard is back on the nickname it was opened from.
    page.keyboard.press("Escape")
    expect(view).to_be_hidden()
    expect(page.get_by_role("button", name="Details of ada", exact=True)).to_be_focused()


def test_a_student_is_removed_after_a_confirmation_naming_them_and_what_goes(console: Console, stack: Stack) -> None:
    roster = _exam_with_roster(stack, "console-remove", "One student fewer")
    handed = stack.hand_in(roster["bo"]["upload_code"], b"%PDF-1.7 Bo's answers")["current"]
    console.sign_in()
    console.open_exam("One student fewer")
    page = console.page
    view = console.open_student("bo")

    view.get_by_role("button", name="Remove bo from the exam…").click()

    what = view.locator("#remove-what")
    expect(what).to_contain_text(
        "Removing Bo Ng (bo) deletes their upload code and every file they handed in (1 upload)"
    )
    expect(what).to_contain_text("cannot be undone")
    expect(view.get_by_role("button", name="Keep bo")).to_be_focused()
    assert stack.student("console-remove", "bo").status_code == 200  # nothing sent yet
    console.shot("21-remove-confirmation", full_page=False)  # the dialog, over the page
    view.get_by_role("button", name="Remove bo for good").click()

    expect(view).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Removed Bo Ng (bo) from the exam.")
    expect(page.locator('#roster tbody tr[data-nickname="bo"]')).to_have_count(0)
    expect(page.locator("#count-students")).to_have_text("2")
    assert stack.student("console-remove", "bo").status_code == 404
    assert stack.verification(handed["verification_code"]).status_code == 404
    expect(page.locator("#students-title")).to_be_focused()


def test_a_file_of_a_few_bytes_reads_1_kib_as_on_the_students_page(console: Console, stack: Stack) -> None:
    roster = _exam_with_roster(stack, "console-tiny-file", "A tiny file")
    stack.hand_in(roster["bo"]["upload_code"], b"%PDF-1.7 tiny", filename="tiny.pdf")
    console.sign_in()
    console.open_exam("A tiny file")

    view = console.open_student("bo")

    expect(view.locator("#student-current")).to_contain_text("tiny.pdf, 1 KiB, handed in")
    expect(view.locator("#student-uploads li.upload")).to_contain_text("1 KiB (13 bytes)")


@pytest.mark.parametrize("action", ["Download the answer", "New code…", "Remove cy from the exam…"])
def test_a_student_removed_from_another_tab_while_their_view_is_open_leaves_it_and_the_roster(
    console: Console, stack: Stack, action: str
) -> None:
    exam_id = f"console-gone-{action.split(maxsplit=1)[0].lower()}"
    roster = _exam_with_roster(stack, exam_id, f"Removed elsewhere ({action})")
    stack.hand_in(roster["cy"]["upload_code"], b"%PDF-1.7 Cy")
    console.sign_in()
    console.open_exam(f"Removed elsewhere ({action})")
    page = console.page
    view = console.open_student("cy")
    assert stack.delete_student(exam_id, "cy").status_code == 204  # in another tab, or with curl

    view.get_by_role("button", name=action).click()
    if action == "New code…":
        view.get_by_role("button", name="Make a new code").click()

    # Not an alert about "no student with this nickname" over a view of someone who is not there:
    # the view closes, the roster is drawn again without them, and what happened is said.
    expect(view).to_be_hidden()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#error-text")).to_have_text(
        "cy is no longer on this exam's roster: removed, perhaps from another tab."
    )
    expect(page.locator('#roster tbody tr[data-nickname="cy"]')).to_have_count(0)
    expect(page.locator("#count-students")).to_have_text("2")
    expect(page.locator("#students-title")).to_be_focused()


def test_a_new_upload_code_is_made_and_the_old_one_no_longer_opens_the_upload_page(
    console: Console, browser: Browser, stack: Stack
) -> None:
    roster = _exam_with_roster(stack, "console-new-code", "A leaked code")
    old = roster["cy"]["upload_code"]
    console.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    console.sign_in()
    console.open_exam("A leaked code")
    view = console.open_student("cy")
    view.get_by_role("button", name="Copy the upload code").click()
    expect(view.locator("#student-status")).to_have_text("The upload code is copied.")
    assert _clipboard(console) == old

    view.get_by_role("button", name="New code…").click()
    expect(view.locator("#new-code-what")).to_contain_text(f"the code {old} stops working at once")
    expect(view.get_by_role("button", name="Keep this code")).to_be_focused()
    view.get_by_role("button", name="Make a new code").click()

    expect(view.locator("#student-status")).to_have_text("cy has a new upload code; the old one no longer works.")
    new = stack.student("console-new-code", "cy").json()["upload_code"]
    assert new != old
    expect(view.locator("#student-code")).to_have_text(new)
    expect(view.get_by_role("button", name="New code…")).to_be_focused()
    console.shot("22-new-code", full_page=False)  # the dialog, over the page
    # On the upload page, as the student (or whoever found the old code) would try it.
    student = browser.new_context(viewport={"width": 390, "height": 844})
    upload = student.new_page()
    open_upload_page(upload, stack, old)
    expect(upload.get_by_role("alert")).to_be_visible()
    expect(upload.get_by_label("Choose your file")).to_be_hidden()
    open_upload_page(upload, stack, new)
    expect(upload.get_by_label("Choose your file")).to_be_visible()
    student.close()


MULLERS = 520  # more than a page of 500


def test_a_search_over_the_whole_roster_finds_accented_names_across_pages_and_with_the_filter(
    console: Console, stack: Stack
) -> None:
    stack.create_exam("console-search", title="Searched roster")
    roster = "nickname,first_name,last_name,email\n" + "".join(
        [f"m{i:04d},Anna,Müller {i},\n" for i in range(MULLERS)] + [f"s{i:04d},Ben,Schmidt {i},\n" for i in range(700)]
    )
    roster += "zoe,Zoë,Adler,zoe@example.org\n"
    assert stack.import_roster("console-search", roster).status_code == 201
    stack.hand_in(stack.student("console-search", "m0510").json()["upload_code"], b"%PDF-1.7 m")
    console.sign_in()
    console.open_exam("Searched roster")
    page = console.page
    rows = page.locator("#roster tbody tr")
    expect(rows).to_have_count(500)

    page.get_by_role("searchbox", name="Search").press_sequentially("muller")

    position = page.locator("#page-position")
    expect(position).to_have_text("Students 1–500 matching “muller”, more after.")
    expect(rows).to_have_count(500)
    assert all("Müller" in text for text in rows.all_inner_texts())
    console.shot("23-search")
    page.get_by_role("button", name="Next 500").click()
    expect(position).to_have_text(f"Students 501–{MULLERS} matching “muller”.")
    expect(rows).to_have_count(MULLERS - 500)
    assert all("Müller" in text for text in rows.all_inner_texts())
    expect(rows.last).to_contain_text("m0519")
    # With the filter: the one Müller who handed in, on the second page before.
    page.get_by_label("Show", exact=True).select_option("handed_in")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Müller 510")
    # By email, in capitals, and nothing found said so.
    page.get_by_label("Show", exact=True).select_option("")
    page.get_by_role("searchbox", name="Search").fill("ZOE@EXAMPLE")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Zoë Adler")
    page.get_by_role("searchbox", name="Search").fill("nobody-here")
    expect(page.locator("#roster-empty")).to_have_text("No student matches “nobody-here”.")
    expect(rows).to_have_count(0)
    searched = [r.url for r in console.requests if "/students?" in r.url and "q=" in r.url]
    assert searched
    assert all("exams/console-search/students" in url for url in searched)


def test_a_page_turned_while_a_search_is_typed_turns_the_list_on_show(console: Console, stack: Stack) -> None:
    stack.create_exam("console-turn-mid-search", title="Turned mid-search")
    roster = "nickname,first_name,last_name\n" + "".join(f"p{i:04d},Pat,Reader {i}\n" for i in range(501))
    assert stack.import_roster("console-turn-mid-search", roster).status_code == 201
    console.sign_in()
    console.open_exam("Turned mid-search")
    page = console.page
    refused: list[str] = []
    page.on("response", lambda response: refused.append(response.url) if response.status >= 400 else None)
    position = page.locator("#page-position")
    expect(position).to_have_text("Students 1–500, more after.")

    # Typed, and Next pressed before the typing's pause starts the search (at once: a click that
    # waited for the button to stand still could come after the pause).
    page.get_by_role("searchbox", name="Search").press_sequentially("p0500")
    page.get_by_role("button", name="Next 500").dispatch_event("click")

    # Next turned the page of the list on show; then the search answered, and nothing was refused.
    expect(position).to_have_text("Students 1–1 matching “p0500”.")
    turned = [r.url for r in console.requests if "/students?" in r.url and "cursor=" in r.url]
    assert len(turned) == 1
    assert "q=" not in turned[0]
    assert refused == []
    expect(page.locator("#error")).to_be_hidden()


@pytest.fixture(scope="module")
def four_states(stack: Stack) -> ApiClient:
    """Another examiner (a key of their own, so that their list holds these alone), with an exam in
    each state; the open one has ROSTER's three students, of whom Ada handed in."""
    examiner = ApiClient(stack.api, mint(stack.local_dir / "secrets.json")["value"])
    examiner.create_exam("states-upcoming", title="Chemistry (upcoming)", opens_in_s=3600, due_in_s=7200)
    examiner.create_exam("states-open", title="Physics (open)", due_in_s=3600, cutoff_in_s=5400)
    assert examiner.import_roster("states-open", ROSTER).status_code == 201
    examiner.hand_in(examiner.student("states-open", "ada").json()["upload_code"], ADA_ANSWERS, filename="ada.pdf")
    examiner.create_exam("states-late", title="Biology (late period)", opens_in_s=-7200, due_in_s=-60, cutoff_in_s=3600)
    examiner.create_exam("states-closed", title="History (closed)")
    assert examiner.close_exam("states-closed").status_code == 200
    return examiner


def test_the_exams_list_and_the_exam_page_say_each_exams_state(console: Console, four_states: ApiClient) -> None:
    console.sign_in(four_states.key)
    page = console.page

    expect(page.locator("#exams-table tbody td.state")).to_have_text(["Upcoming", "Open", "Late period", "Closed"])
    expect(page.locator("#exams-table tbody th button")).to_have_text(
        ["Chemistry (upcoming)", "Physics (open)", "Biology (late period)", "History (closed)"]
    )
    console.shot("24-exams-with-states")

    console.open_exam("Biology (late period)")
    expect(page.locator("#exam-state")).to_have_text("Late period")


def test_the_time_zone_and_anonymity_are_changed_from_the_exam_page(console: Console, stack: Stack) -> None:
    stack.create_exam("console-settings", title="Settings", timezone="Europe/Lisbon")
    student = stack.create_student("console-settings", "set")
    console.sign_in()
    console.open_exam("Settings")
    page = console.page
    expect(page.locator("#edit-zone")).to_have_value("Europe/Lisbon")
    expect(page.locator("#edit-anonymous")).not_to_be_checked()

    page.locator("#edit-zone").select_option("Asia/Tokyo")
    page.locator("#edit-anonymous").check()
    with page.expect_request(lambda r: r.method == "PATCH") as patched:
        page.get_by_role("button", name="Save the changes").click()

    expect(page.locator("#status")).to_have_text("The exam is changed.")
    assert patched.value.post_data_json == {"timezone": "Asia/Tokyo", "anonymous": True}  # only what changed
    saved = stack.exam("console-settings").json()
    assert (saved["timezone"], saved["anonymous"]) == ("Asia/Tokyo", True)
    expect(page.locator("#exam-window")).to_contain_text("anonymous")
    expect(page.locator("#exam-window")).to_contain_text("Asia/Tokyo")

    # Once a file is handed in, anonymity stays as it is: the API's reason, beside the form.
    stack.hand_in(student["upload_code"], b"%PDF-1.7 s")
    page.locator("#edit-anonymous").uncheck()
    page.get_by_role("button", name="Save the changes").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.evaluate("document.getElementById('error').nextElementSibling.id") == "edit-exam"
    assert stack.exam("console-settings").json()["anonymous"] is True


# --- a timed exam: its time limit, its question paper, extra time, who started ----------------

PAPER = b"%PDF-1.7 the question paper " * 2000


def test_a_time_limit_is_set_changed_alone_and_kept_once_the_exam_opened(console: Console, stack: Stack) -> None:
    console.sign_in()
    page = console.page
    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    now = datetime.now(UTC)
    opens, due, cutoff = (_whole_minute(now + timedelta(hours=h)) for h in (1, 5, 6))
    page.get_by_label("Title").first.fill("Timed physics")
    page.get_by_label("Exam id").fill("console-timed")
    page.get_by_label("Opens").first.fill(_local_field(opens))
    page.get_by_label("Due").first.fill(_local_field(due))
    page.get_by_label("Late uploads accepted until").first.fill(_local_field(cutoff))
    create = page.locator("#create-exam")
    create.get_by_label("Hours", exact=True).fill("2")
    create.get_by_label("Minutes", exact=True).fill("30")
    page.get_by_role("button", name="Create the exam").click()

    expect(page.locator("#exam-heading")).to_have_text("Timed physics")
    expect(page.locator("#exam-timing")).to_have_text("Timed: 2 h 30 min · Started 0 of 0")
    assert stack.exam("console-timed").json()["duration_minutes"] == 150

    # A change sends the time limit alone; emptied before the exam opens, the exam is not timed.
    edit = page.locator("#edit-exam")
    expect(edit.get_by_label("Hours", exact=True)).to_have_value("2")
    edit.get_by_label("Hours", exact=True).fill("1")
    edit.get_by_label("Minutes", exact=True).fill("45")
    with page.expect_request(lambda r: r.method == "PATCH") as patched:
        page.get_by_role("button", name="Save the changes").click()
    expect(page.locator("#status")).to_have_text("The exam is changed.")
    assert patched.value.post_data_json == {"duration_minutes": 105}
    expect(page.locator("#exam-timing")).to_have_text("Timed: 1 h 45 min · Started 0 of 0")
    console.shot("28-time-limit")
    for field in ("Hours", "Minutes"):
        edit.get_by_label(field, exact=True).fill("")
    with page.expect_request(lambda r: r.method == "PATCH") as patched:
        page.get_by_role("button", name="Save the changes").click()
    expect(page.locator("#exam-timing")).to_be_hidden()
    assert patched.value.post_data_json == {"duration_minutes": None}
    assert stack.exam("console-timed").json()["duration_minutes"] is None

    # Once it opened, an exam is timed or not for good: the API's reason, beside the form.
    opened = stack.patch_exam("console-timed", {"opens_at": (now - timedelta(minutes=1)).isoformat()})
    assert opened.status_code == 200, opened.text
    page.get_by_role("button", name="All exams").click()
    console.open_exam("Timed physics")
    edit.get_by_label("Hours", exact=True).fill("1")
    page.get_by_role("button", name="Save the changes").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.evaluate("document.getElementById('error').nextElementSibling.id") == "edit-exam"
    assert stack.exam("console-timed").json()["duration_minutes"] is None


def test_the_question_paper_is_uploaded_and_seen_current_and_a_file_that_is_not_a_pdf_is_not_kept(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    stack.create_exam("console-paper", title="With a paper", opens_in_s=3600, due_in_s=7200, duration_minutes=60)
    console.sign_in()
    console.open_exam("With a paper")
    page = console.page
    current = page.locator("#paper-current")
    expect(current).to_have_text("No question paper.")
    chooser = page.get_by_label("The question paper (PDF, at most 20 MiB)")
    upload = page.get_by_role("button", name="Upload the paper")

    # Over 20 MiB: said at once, nothing asked of the API.
    huge = tmp_path / "scans.pdf"
    huge.write_bytes(b"%PDF-1.7" + b"x" * (20 * 1024 * 1024 - 7))
    chooser.set_input_files(huge)
    upload.click()
    expect(page.locator("#error-text")).to_have_text("scans.pdf is 20.0 MiB: a question paper may be at most 20 MiB.")
    assert [r.url for r in console.requests if r.url.endswith("/paper")] == []

    paper = tmp_path / "Physics paper.pdf"
    paper.write_bytes(PAPER)
    chooser.set_input_files(paper)
    upload.click()
    expect(page.locator("#status")).to_have_text("The question paper is Physics paper.pdf.", timeout=30_000)
    expect(current).to_contain_text("Physics paper.pdf")
    expect(current).to_contain_text(hashlib.sha256(PAPER).hexdigest())
    recorded = stack.exam("console-paper").json()["paper"]
    assert (recorded["filename"], recorded["size_bytes"]) == ("Physics paper.pdf", len(PAPER))
    assert recorded["sha256"] == hashlib.sha256(PAPER).hexdigest()
    console.shot("29-question-paper")

    # A file that is not a PDF, named as one: not kept, and why; the paper in place stays.
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"plain notes, not a PDF\n" * 40)
    chooser.set_input_files(notes)
    upload.click()
    expect(page.get_by_role("alert")).to_be_visible(timeout=30_000)
    expect(page.locator("#error-text")).to_have_text("notes.pdf was not kept: it is not a PDF. Upload another file.")
    assert stack.exam("console-paper").json()["paper"]["paper_id"] == recorded["paper_id"]
    expect(current).to_contain_text("Physics paper.pdf")

    # From the opening on, the paper stays as it is.
    opened = stack.patch_exam("console-paper", {"opens_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
    assert opened.status_code == 200, opened.text
    page.get_by_role("button", name="All exams").click()
    console.open_exam("With a paper")
    expect(page.locator("#paper-locked")).to_have_text("The exam has opened: its paper can no longer be replaced.")
    expect(page.locator("#paper-form")).to_be_hidden()


def _timed_exam_with_roster(stack: Stack, exam_id: str, title: str) -> dict[str, dict[str, Any]]:
    """An exam open for hours with a time limit of an hour a student, and ROSTER's students."""
    stack.create_exam(exam_id, title=title, opens_in_s=-1800, due_in_s=4 * 3600, cutoff_in_s=5 * 3600,
                      duration_minutes=60)  # fmt: skip
    assert stack.import_roster(exam_id, ROSTER).status_code == 201
    return {student["nickname"]: student for student in stack.students(exam_id).json()["items"]}


def test_extra_time_is_given_by_row_and_by_csv_and_a_csv_with_bad_rows_changes_nothing(
    console: Console, stack: Stack, tmp_path: Path
) -> None:
    _timed_exam_with_roster(stack, "console-extra-time", "Extra time")
    console.sign_in()
    console.open_exam("Extra time")
    page = console.page

    # One student's, from their row: the form opens under it, and the keyboard comes back to it.
    page.get_by_role("button", name="Extra time for bo").click()
    form_row = page.locator("#roster tbody tr.form-row")
    assert form_row.evaluate("row => row.previousElementSibling.dataset.nickname") == "bo"
    percent = page.get_by_label("Extra time, in percent of the time limit")
    expect(percent).to_be_focused()
    percent.fill("25")
    console.shot("30-extra-time")
    page.get_by_role("button", name="Save the extra time").click()
    bo = page.locator('#roster tbody tr[data-nickname="bo"]')
    expect(bo.locator("td.extra")).to_have_text("+25 %")
    expect(page.get_by_role("button", name="Extra time for bo")).to_be_focused()
    saved = stack.student("console-extra-time", "bo").json()
    assert (saved["extra_time_percent"], saved["time_allowed_seconds"]) == (25, 75 * 60)

    # A CSV with bad rows: each named by its line, and nothing changed.
    bad = tmp_path / "accommodations-bad.csv"
    bad.write_text("nickname,extra_time_percent\nada,10\ncy,301\nzed,10\n")
    page.get_by_label("Accommodations (CSV)").set_input_files(bad)
    page.get_by_role("button", name="Import the accommodations").click()
    alert = page.get_by_role("alert")
    expect(alert.locator("li")).to_have_count(2)
    expect(alert.locator("li").nth(0)).to_contain_text("Line 3")
    expect(alert.locator("li").nth(1)).to_contain_text("Line 4")
    console.shot("31-accommodations-refused")
    assert stack.student("console-extra-time", "ada").json()["extra_time_percent"] == 0

    good = tmp_path / "accommodations.csv"
    good.write_text("nickname,extra_time_percent,extra_time_minutes\nada,10,0\ncy,50,10\n")
    page.get_by_label("Accommodations (CSV)").set_input_files(good)
    page.get_by_role("button", name="Import the accommodations").click()
    expect(page.locator("#status")).to_have_text("Set the extra time of 2 students.")
    expect(alert).to_be_hidden()
    expect(page.locator('#roster tbody tr[data-nickname="cy"] td.extra')).to_have_text("+50 % +10 min")
    assert stack.student("console-extra-time", "cy").json()["time_allowed_seconds"] == (90 + 10) * 60


@pytest.fixture(scope="module")
def started(stack: Stack) -> dict[str, Any]:
    """A timed exam (an hour a student) in which Ada, with 25 % extra time, started; Bo and Cy did
    not: Ada's start, as the API answered it."""
    roster = _timed_exam_with_roster(stack, "console-started", "Started or not")
    assert stack.put_accommodation("console-started", "ada", {"extra_time_percent": 25}).status_code == 200
    answer = stack.start(roster["ada"]["upload_code"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_roster_says_who_started_and_how_a_students_window_was_made(
    console: Console, started: dict[str, Any]
) -> None:
    console.sign_in()
    console.open_exam("Started or not")
    page = console.page

    expect(page.locator("#exam-timing")).to_have_text("Timed: 1 h · Started 1 of 3")
    ada = page.locator('#roster tbody tr[data-nickname="ada"]')
    expect(ada.locator("td.started .wide-only")).to_have_text(shown(page, started["started_at"], ZONE))
    expect(ada.locator("td.own-due .wide-only")).to_have_text(shown(page, started["due_at"], ZONE))
    expect(ada.locator("td.extra")).to_have_text("+25 %")
    expect(page.locator('#roster tbody tr[data-nickname="bo"] td.started')).to_have_text("not started")
    # Three more columns, and still no sideways scrolling on a desktop.
    assert page.evaluate("document.querySelector('#roster').scrollWidth") <= page.evaluate(
        "document.querySelector('#roster').parentElement.clientWidth"
    )
    console.shot("32-who-started")

    view = console.open_student("ada")
    expect(view.locator("#student-timing")).to_have_text(
        f"Started {shown(page, started['started_at'], ZONE)} · 1 h + 25 % = 1 h 15 min → due "
        f"{shown(page, started['due_at'], ZONE)}"
    )
    page.keyboard.press("Escape")
    expect(view).to_be_hidden()


def test_at_390_px_the_timed_roster_cards_say_started_and_their_due_time(
    phone: Console, started: dict[str, Any]
) -> None:
    phone.sign_in()
    phone.open_exam("Started or not")
    page = phone.page
    expect(page.locator("#roster tbody tr")).to_have_count(3)

    _fits_390(page)
    ada = page.locator('#roster tbody tr[data-nickname="ada"]')
    expect(ada.locator("td.started")).to_have_accessible_name(re.compile(r"^Started: "))
    expect(ada.locator("td.own-due")).to_have_accessible_name(re.compile(r"^Their due time: "))
    assert _one_line(page, "#roster .date") == []
    assert _one_line(page, "#roster .badge") == []
    phone.shot("33-who-started-390")


# --- small things: what the counts say, a stale word, which button matters -------------------


def test_the_counts_say_late_is_part_of_handed_in(console: Console, stack: Stack) -> None:
    stack.create_exam("console-counts", title="Counted", opens_in_s=-1800, due_in_s=3600, cutoff_in_s=7200)
    codes = [stack.create_student("console-counts", f"c{i}")["upload_code"] for i in range(6)]
    for code in codes[:2]:
        stack.hand_in(code, b"%PDF-1.7 on time")
    # Due a minute ago, late uploads still taken: the third hands in late.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert stack.patch_exam("console-counts", {"due_at": past}).status_code == 200
    stack.hand_in(codes[2], b"%PDF-1.7 late")
    console.sign_in()
    page = console.page
    row = page.locator("#exams-table tbody tr", has=console.exam_in_list("Counted"))
    expect(row.locator("td.count")).to_have_text(["6", "3", "1", "3"])
    expect(page.locator("#exams-table thead th").nth(5)).to_have_text("Of them late")

    console.open_exam("Counted")

    expect(page.locator("#summary")).to_have_text(re.compile(r"Students\s*6\s*Handed in\s*3 \(1 late\)\s*Not yet\s*3"))


def test_leaving_for_all_exams_leaves_no_word_of_the_zip_behind(
    console: Console, handed_in: dict[str, dict[str, Any]]
) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page
    page.get_by_role("button", name="Prepare the ZIP").click()
    expect(page.locator("#status")).to_have_text("The ZIP is ready to download.", timeout=60_000)

    page.get_by_role("button", name="All exams").click()

    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    expect(page.locator("#status")).to_have_text("")


PRIMARY = "rgb(31, 95, 191)"  # --accent, filled
DESTRUCTIVE = "rgb(164, 38, 29)"  # --bad


def _filled(page: Page, color: str, view: str = "main") -> list[str]:
    """The visible buttons of `view` filled with `color`: its primary (or destructive) actions."""
    names: list[str] = page.evaluate(
        """([color, view]) => [...document.querySelector(view).querySelectorAll("button")]
            .filter((b) => b.checkVisibility() && getComputedStyle(b).backgroundColor === color)
            .map((b) => b.textContent.trim())""",
        [color, view],
    )
    return names


def test_each_view_has_one_primary_action_and_destructive_ones_are_red(
    console: Console, handed_in: dict[str, dict[str, Any]]
) -> None:
    console.sign_in()
    page = console.page
    expect(page.get_by_role("heading", name="Your exams")).to_be_visible()
    assert _filled(page, PRIMARY) == ["Create the exam"]

    console.open_exam(HANDED_IN)
    assert _filled(page, PRIMARY) == ["Prepare the ZIP"]
    for name in ("Close now…", "Delete this exam…"):
        button = page.get_by_role("button", name=name)
        expect(button).to_have_css("color", DESTRUCTIVE)
        expect(button).to_have_css("border-top-color", DESTRUCTIVE)
    page.get_by_role("button", name="Delete this exam…").click()
    expect(page.locator("#delete-confirm")).to_be_visible()
    assert _filled(page, DESTRUCTIVE) == ["Delete it for good"]
    page.get_by_role("button", name="Keep it").click()

    console.open_student("ada")
    assert _filled(page, PRIMARY, "#student-view") == ["Download the answer"]
    expect(page.get_by_role("button", name="Remove ada from the exam…")).to_have_css("color", DESTRUCTIVE)


def _focus_ring(page: Page) -> str:
    ring: str = page.evaluate(
        "(() => { const style = getComputedStyle(document.activeElement);"
        " return `${style.outlineStyle} ${style.outlineWidth}`; })()"
    )
    return ring


def _tab_to(page: Page, target: Locator, most: int = 40) -> None:
    """Tab until `target` has the focus (within `most` presses), and check that it shows it."""
    for _ in range(most):
        if target.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(target).to_be_focused()
    assert _focus_ring(page) != "none 0px", "no visible focus"


def test_the_new_controls_are_reached_and_used_with_the_keyboard(
    console: Console, handed_in: dict[str, dict[str, Any]]
) -> None:
    console.sign_in()
    console.open_exam(HANDED_IN)
    page = console.page

    page.locator("#back").focus()
    _tab_to(page, page.get_by_role("searchbox", name="Search"))
    page.keyboard.type("lovelace")
    page.keyboard.press("Enter")
    expect(page.locator("#roster tbody tr")).to_have_count(1)
    _tab_to(page, page.get_by_role("button", name="Details of ada"))
    page.keyboard.press("Enter")
    view = page.get_by_role("dialog")
    expect(view.get_by_role("heading", name="Ada Lovelace")).to_be_focused()
    _tab_to(page, view.get_by_role("button", name="New code…"))
    page.keyboard.press("Enter")
    expect(view.get_by_role("button", name="Keep this code")).to_be_focused()
    page.keyboard.press("Enter")
    expect(view.locator("#new-code-confirm")).to_be_hidden()
    _tab_to(page, view.get_by_role("button", name="Download the answer"))
    _tab_to(page, view.get_by_role("button", name="Remove ada from the exam…"))
    page.keyboard.press("Escape")
    expect(view).to_be_hidden()
    expect(page.get_by_role("button", name="Details of ada")).to_be_focused()

    _tab_to(page, page.get_by_role("button", name="Give extension to ada"))
    page.keyboard.press("Enter")
    expect(page.get_by_label(re.compile("Their due time"))).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Give extension to ada")).to_be_focused()

    _tab_to(page, page.get_by_label("Nickname"), most=60)
    for field in ("First name", "Last name", "Email (optional)"):
        _tab_to(page, page.get_by_label(field), most=2)
    _tab_to(page, page.get_by_role("button", name="Add the student"), most=2)
    _tab_to(page, page.locator("#edit-zone"), most=60)
    _tab_to(page, page.locator("#edit-anonymous"), most=2)


# --- a phone: the narrow layout, 390 px wide ---------------------------------------------------


@pytest.fixture
def phone(browser: Browser, stack: Stack, console_errors: list[str]) -> Iterator[Console]:
    """The console on a 390 px wide phone, in Berlin."""
    with _console_tab(browser, stack, console_errors, {"width": 390, "height": 844}) as console:
        yield console


def _fits_390(page: Page) -> None:
    """Nothing scrolls sideways: neither the page nor a box inside it."""
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    wider = page.evaluate(
        """[...document.querySelectorAll(".table-wrap, dialog, section")]
            .filter((box) => box.checkVisibility() && box.scrollWidth > box.clientWidth)
            .map((box) => box.id || box.className)"""
    )
    assert wider == []


def _one_line(page: Page, selector: str) -> list[str]:
    """The elements of `selector` whose text takes more than one line."""
    broken: list[str] = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].filter((node) => node.checkVisibility())
            .filter((node) => {
                const line = parseFloat(getComputedStyle(node).lineHeight) || 20;
                return node.getClientRects().length !== 1 || node.getBoundingClientRect().height > 1.6 * line; })
            .map((node) => node.textContent)""",
        selector,
    )
    return broken


def test_at_390_px_the_roster_is_cards_with_whole_badges_and_short_dates(
    phone: Console, stack: Stack, handed_in: dict[str, dict[str, Any]]
) -> None:
    phone.sign_in()
    phone.open_exam(HANDED_IN)
    page = phone.page
    rows = page.locator("#roster tbody tr")
    expect(rows).to_have_count(3)

    _fits_390(page)
    for row in rows.all():
        box = row.bounding_box()
        assert box is not None
        assert 0 <= box["x"] <= box["x"] + box["width"] <= 390
    ada = page.locator('#roster tbody tr[data-nickname="ada"]')
    expect(ada.locator(".badge.current")).to_have_text("on time")
    assert _one_line(page, "#roster .badge") == []
    # The date is short, on one line, and says what it is.
    handed = ada.locator("td.submitted")
    expect(handed).to_have_accessible_name(re.compile(r"^Handed in: "))
    submitted = stack.student("console-handed-in", "ada").json()["current"]["submitted_at"]
    short = page.evaluate(
        """(iso) => new Intl.DateTimeFormat(undefined, {month: "short", day: "numeric", hour: "2-digit",
            minute: "2-digit", timeZone: "Europe/Berlin"}).format(new Date(iso))""",
        submitted,
    )
    expect(handed.locator(".date")).to_have_text(short, use_inner_text=True)
    assert _one_line(page, "#roster .date") == []
    expect(page.locator("#roster .narrow-only").first).to_be_visible()
    expect(page.get_by_text(f"Times are in your time zone ({ZONE}).").last).to_be_visible()
    phone.shot("25-roster-390")

    view = phone.open_student("ada")
    _fits_390(page)
    assert _one_line(page, "#student-view .badge") == []
    expect(view.get_by_role("button", name="Download the answer")).to_be_in_viewport()
    phone.shot("26-one-student-390", full_page=False)  # the dialog, over the page


def test_at_390_px_the_exams_list_shows_late_and_not_yet(phone: Console, four_states: ApiClient) -> None:
    phone.sign_in(four_states.key)
    page = phone.page
    row = page.locator("#exams-table tbody tr", has=phone.exam_in_list("Physics (open)"))

    _fits_390(page)
    # Each count says what it counts: ada handed in on time, bo and cy not yet.
    for label, count in [("Students", 3), ("Handed in", 1), ("Of them late", 0), ("Not yet", 2)]:
        cell = row.locator(f'td[data-label="{label}"]')
        expect(cell).to_be_visible()
        expect(cell).to_have_accessible_name(f"{label} {count}")
        box = cell.bounding_box()
        assert box is not None
        assert 0 <= box["x"] <= box["x"] + box["width"] <= 390, label
    assert _one_line(page, "#exams-table .badge") == []
    phone.shot("27-exams-390")


# --- accessibility: axe-core in each page, no serious or critical violation ------------------


def _axe(page: Page) -> dict[str, Any]:
    page.add_script_tag(path=AXE)
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return results


@pytest.fixture(scope="module")
def axe_results() -> Iterator[dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    yield found
    lines = ["| page | rules passed | violations (impact: rule, nodes) |", "| --- | --- | --- |"]
    for name, results in sorted(found.items()):
        listed = "; ".join(f"{v['impact']}: {v['id']} ({len(v['nodes'])})" for v in results["violations"])
        lines.append(f"| {name} | {len(results['passes'])} | {listed or 'none'} |")
    (ARTIFACTS / "axe-results.md").write_text("\n".join(lines) + "\n")


def test_the_scan_reports_a_violation_where_there_is_one(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    Console(page, stack).open()
    page.evaluate("document.querySelector('main').append(document.createElement('input'))")  # no label

    violations = _axe(page)["violations"]
    context.close()

    assert [(v["id"], v["impact"]) for v in violations] == [("label", "critical")]


CONSOLE_STATES = [
    "console-sign-in",
    "console-exams-390",
    "console-exam",
    "console-exam-390",
    "console-student",
    "console-timed-exam",  # started and not, with the extra time form open
    "console-timed-exam-390",
]


@pytest.mark.parametrize("state", [*CONSOLE_STATES, "upload", "verify"])
def test_no_serious_accessibility_violation(
    browser: Browser, stack: Stack, state: str, axe_results: dict[str, dict[str, Any]]
) -> None:
    assert AXE.is_file(), "axe-core is missing: `make e2e` installs it into .tools/axe"
    # The scan is injected as a script the pages' own CSP would refuse: this context alone bypasses it.
    width = 390 if state.endswith("-390") else 1280
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True, timezone_id=ZONE)
    page = context.new_page()
    console = Console(page, stack)
    if state == "console-sign-in":
        console.open()
    elif state == "console-exams-390":
        console.sign_in()
        expect(page.locator("#exams-table tbody tr").first).to_be_visible()
    elif state in CONSOLE_STATES:
        title = f"Accessible exam ({state})"
        timed = "-timed-" in state
        stack.create_exam(f"axe-{state}", title=title, **({"duration_minutes": 60} if timed else {}))
        student = stack.create_student(f"axe-{state}", "axe")
        if timed:
            assert stack.start(student["upload_code"]).status_code == 200
        stack.hand_in(student["upload_code"], b"%PDF-1.7 z")
        stack.hand_in(student["upload_code"], b"%PDF-1.7 z, again")
        stack.create_student(f"axe-{state}", "axe2")
        console.sign_in()
        console.open_exam(title)
        expect(page.locator("#roster tbody tr")).to_have_count(2)
        if state == "console-student":
            console.open_student("axe")
        if timed:
            page.get_by_role("button", name="Extra time for axe2").click()
            expect(page.locator("#accommodation-form")).to_be_visible()
    elif state == "upload":
        open_upload_page(page, stack, stack.create_student(EXAM, "axe.upload")["upload_code"])
        expect(page.locator("#attempts")).to_be_visible()
    else:
        done = stack.hand_in(stack.create_student(EXAM, "axe.verify")["upload_code"], b"%PDF-1.7 v")
        page.goto(f"{stack.api}/verify")
        page.get_by_label("Verification code").fill(done["current"]["verification_code"])
        page.get_by_role("button", name="Check the code").click()
        expect(page.locator("#result")).to_be_visible()

    results = _axe(page)
    axe_results[state] = results
    context.close()
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in results["violations"]]
    assert [v for v in serious if v[1] in ("serious", "critical")] == [], json.dumps(serious, indent=1)
