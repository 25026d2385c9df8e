"""The student's and reviewer's pages in the reader's language (Debian's Chromium against the local
stack): the browser's languages choose it, a switch on the page changes it and is remembered,
dates and numbers follow it, and a refusal is said in it when the page knows its problem type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import ARTIFACTS
from tests.e2e.busy_service import Answering, api_busy, forget_the_answers_we_caused, retrying_quickly, status_seen
from tests.e2e.conftest import EXAM, Stack
from tests.e2e.student_pages import (
    DESKTOP,
    PHONE,
    WIDTHS,
    browser_tab,
    facts,
    handed_in_on_time_then_due,
)
from tests.e2e.test_pages import LOOKUP

CATALOGUES = Path(__file__).parents[2] / "functions" / "serve_pages" / "static" / "i18n"
GERMAN = json.loads((CATALOGUES / "de.json").read_text())
FRENCH = json.loads((CATALOGUES / "fr.json").read_text())


def formatted(page: Page, locale: str, iso: str, *, weekday: bool = False, seconds: bool = False) -> str:
    """An instant as Intl writes it for `locale`, in the browser's own zone."""
    options = {"year": "numeric", "month": "short", "day": "numeric", "hour": "2-digit", "minute": "2-digit"}
    options |= {"timeZoneName": "short"} | ({"weekday": "short"} if weekday else {})
    options |= {"second": "2-digit"} if seconds else {}
    text: str = page.evaluate(
        "([locale, options, iso]) => new Intl.DateTimeFormat(locale, options).format(new Date(iso))",
        [locale, options, iso],
    )
    return text


def enter_code(page: Page, stack: Stack, upload_code: str, continue_label: str) -> None:
    page.goto(f"{stack.api}/")
    page.locator("#code").fill(upload_code)
    page.get_by_role("button", name=continue_label).click()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_student_whose_browser_prefers_german_hands_in_after_the_due_time_in_german(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str], width: str
) -> None:
    student = handed_in_on_time_then_due(stack, f"page-german-{width}", "browser.deutsch")
    newer = tmp_path / "Lösungen.pdf"
    newer.write_bytes(b"%PDF-1.7 " + b"z" * 1_572_864)  # 1.5 MiB and a little

    # Spanish first, which has no catalogue: the next language the browser names is German (Austrian).
    languages = ["es-ES", "de-AT", "en"]
    with browser_tab(browser, console_errors, WIDTHS[width], locale="es-ES", languages=languages) as page:
        enter_code(page, stack, student["upload_code"], GERMAN["upload.code.continue"])
        expect(page.get_by_role("heading", level=1)).to_have_text(GERMAN["upload.page-title"])
        assert page.evaluate("document.documentElement.lang") == "de"
        expect(page).to_have_title(GERMAN["upload.page-title"])
        expect(page.get_by_label(GERMAN["language.label"])).to_have_value("de")
        expect(page.locator("#receipt-title")).to_have_text(GERMAN["upload.handed-in.on-time"])
        expect(page.locator("#late-warning")).to_have_text(
            GERMAN["upload.late.on-time-kept"].replace("{file}", "answers.pdf")
        )
        expect(page.locator("#attempts")).to_have_text(GERMAN["upload.attempts.left.other"].replace("{count}", "4"))
        expect(page.locator("#receipt-time")).to_have_text(
            formatted(page, "de-AT", student["current"]["submitted_at"], weekday=True)
        )
        page.screenshot(path=ARTIFACTS / f"upload-after-the-due-time-de-{width}.png", full_page=True)

        page.get_by_label(GERMAN["upload.file.label"]).set_input_files(newer)
        page.get_by_role("button", name=GERMAN["upload.file.upload"]).click()
        dialog = page.get_by_role("dialog", name=GERMAN["upload.confirm.title"])
        dialog.get_by_role("button", name=GERMAN["upload.confirm.replace"]).click()

        expect(page.locator("#receipt-title")).to_have_text(GERMAN["upload.handed-in.late"], timeout=20_000)
        expect(page.locator("#status")).to_have_text(GERMAN["upload.done"])
        assert facts(page.locator("#receipt"))[GERMAN["facts.size"]] == "1,5\u00a0MiB"  # a decimal comma
        page.screenshot(path=ARTIFACTS / f"upload-after-success-de-{width}.png", full_page=True)
    assert stack.progress(student["upload_code"])["current"]["filename"] == "Lösungen.pdf"


def test_the_switch_changes_the_language_at_once_and_is_remembered(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.switch")

    with browser_tab(browser, console_errors, PHONE) as page:
        enter_code(page, stack, student["upload_code"], "Continue")
        expect(page.locator("#attempts")).to_have_text(re.compile("^You have 5 uploads left"))

        page.get_by_label("Language").select_option("fr")

        # What the page drew from the exam is said again, in French, without asking anything again.
        expect(page.locator("#attempts")).to_have_text(FRENCH["upload.attempts.left.other"].replace("{count}", "5"))
        expect(page.locator("#window-state")).to_have_text(FRENCH["upload.window.open"])
        expect(page.locator("#countdown")).to_have_text(re.compile(r"^Encore \d+ h \d+ min avant l’heure limite\.$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH["upload.page-title"])
        assert page.evaluate("document.documentElement.lang") == "fr"

        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH["upload.page-title"])
        expect(page.get_by_label(FRENCH["language.label"])).to_have_value("fr")
        page.goto(f"{stack.api}/verify")  # the other page too
        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH["verify.page-title"])


def test_refusals_the_page_knows_are_said_in_german_and_others_in_the_api_s_own_words(
    browser: Browser, stack: Stack, tmp_path: Path, console_errors: list[str]
) -> None:
    student = stack.create_student(EXAM, "browser.refused")
    answers = tmp_path / "answers.pdf"
    answers.write_bytes(b"%PDF-1.7 refused")
    too_many = {"type": "urn:exam-depository:problem:too-many-open-forms", "title": "Too many open upload forms"}
    unknown = {"type": "urn:exam-depository:problem:something-new", "title": "Something new", "detail": "A new rule."}
    refusals = [
        {"status": 429, "content_type": "application/problem+json", "body": json.dumps({**too_many, "status": 429})},
        {"status": 409, "content_type": "application/problem+json", "body": json.dumps({**unknown, "status": 409})},
    ]

    with browser_tab(browser, console_errors, DESKTOP, locale="de-DE") as page:
        enter_code(page, stack, "0000-0000-0000-0000-0000", GERMAN["upload.code.continue"])
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(GERMAN["upload.code.unknown"])

        Answering(page, LOOKUP, "POST", refusals)
        enter_code(page, stack, student["upload_code"], GERMAN["upload.code.continue"])
        page.get_by_label(GERMAN["upload.file.label"]).set_input_files(answers)
        page.get_by_role("button", name=GERMAN["upload.file.upload"]).click()
        expect(alert).to_have_text(GERMAN["upload.refused.too-many-forms"])
        assert alert.get_attribute("lang") is None

        page.get_by_role("button", name=GERMAN["upload.file.upload"]).click()
        expect(alert).to_have_text("A new rule.")  # a type the page does not know: the API's detail
        assert alert.get_attribute("lang") == "en"  # read out as English
    assert stack.progress(student["upload_code"])["uploads"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_reviewer_page_in_french(browser: Browser, stack: Stack, console_errors: list[str], width: str) -> None:
    student = stack.create_student(EXAM, f"browser.francais.{width}", "Élodie", "Faure")
    current = stack.hand_in(student["upload_code"], b"%PDF-1.7 " + b"r" * 180_000, "Réponses.pdf")["current"]

    with browser_tab(browser, console_errors, WIDTHS[width], locale="fr-FR", timezone_id="Europe/Paris") as page:
        page.goto(f"{stack.api}/verify")
        page.get_by_label(FRENCH["verify.receipt.label"]).fill(current["receipt"])
        page.get_by_role("button", name=FRENCH["verify.receipt.check"]).click()
        page.get_by_label(FRENCH["verify.code.label"]).fill(current["verification_code"])
        page.get_by_role("button", name=FRENCH["verify.code.check"]).click()

        for result in (page.locator("#result"), page.locator("#receipt-result")):
            expect(result.get_by_role("heading")).to_have_text("Élodie Faure")
            shown = facts(result)
            assert shown[FRENCH["facts.size"]] == "176\u00a0Kio"
            assert shown[FRENCH["facts.status"]] == FRENCH["verify.status.current"]
            when = formatted(page, "fr-FR", current["submitted_at"], seconds=True)
            assert shown[FRENCH["facts.handed-in"]] == f"{when} {FRENCH['badge.on-time']}"
        expect(page.locator("#receipt-result .verdict")).to_have_text(
            FRENCH["verify.receipt.genuine"].replace("{issuer}", "local")
        )
        page.screenshot(path=ARTIFACTS / f"verify-results-fr-{width}.png", full_page=True)


def test_the_retries_say_so_in_the_reader_s_language(browser: Browser, stack: Stack, console_errors: list[str]) -> None:
    student = stack.create_student(EXAM, "browser.beschaeftigt")

    with browser_tab(browser, console_errors, PHONE, locale="de-DE") as page:
        retrying_quickly(page)
        lookups = Answering(page, LOOKUP, "GET", [api_busy("service-busy")])
        enter_code(page, stack, student["upload_code"], GERMAN["upload.code.continue"])

        expect(page.locator("#attempts")).to_have_text(GERMAN["upload.attempts.left.other"].replace("{count}", "5"))
        assert len(lookups.sent) == 2
        busy = GERMAN["retry.waiting.busy"].replace("{time}", GERMAN["retry.seconds"].replace("{count}", "1"))
        assert busy in status_seen(page)
        forget_the_answers_we_caused(console_errors, 503, 1)


def test_a_page_whose_catalogue_is_busy_waits_for_it_and_reads_in_english_meanwhile(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    with browser_tab(browser, console_errors, PHONE, locale="fr-FR") as page:
        retrying_quickly(page)
        catalogue = Answering(page, re.compile(r".*/static/i18n-fr\.json$"), "GET", [api_busy("service-busy")] * 2)
        page.goto(f"{stack.api}/verify")

        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH["verify.page-title"])
        assert len(catalogue.sent) == 3
        forget_the_answers_we_caused(console_errors, 503, 2)


def test_the_language_chosen_last_stays_when_an_earlier_choice_s_catalogue_arrives_after_it(
    browser: Browser, stack: Stack, console_errors: list[str]
) -> None:
    with browser_tab(browser, console_errors, PHONE) as page:
        retrying_quickly(page)
        page.goto(f"{stack.api}/verify")
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text("Check a handed-in file")
        # German's catalogue is slow to come (the service busy once); French's comes at once.
        german = Answering(page, re.compile(r".*/static/i18n-de\.json$"), "GET", [api_busy("service-busy")])

        # The arrow keys on the switch pass through Deutsch on their way to Français.
        with page.expect_response(lambda response: "i18n-de" in response.url and response.status == 200):
            page.get_by_label("Language").select_option("de")
            page.get_by_label("Language").select_option("fr")
            expect(heading).to_have_text(FRENCH["verify.page-title"])
        page.wait_for_timeout(300)  # the late German catalogue, read and set aside

        expect(heading).to_have_text(FRENCH["verify.page-title"])
        expect(page.get_by_label(FRENCH["language.label"])).to_have_value("fr")
        assert page.evaluate("document.documentElement.lang") == "fr"
        assert len(german.sent) == 2
        forget_the_answers_we_caused(console_errors, 503, 1)
