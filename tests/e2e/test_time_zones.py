"""Every time zone the API accepts for an exam is one Chromium can show, and an exam stored with
one it cannot still shows its deadline on the student's page."""

from __future__ import annotations

import psycopg
from exam_depository.domain.instants import time_zone_names
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack, open_upload_page

# What the console and the pages do with an exam's zone; the names Intl refuses.
REFUSED_BY_INTL = """names => names.filter(timeZone => {
    try { new Intl.DateTimeFormat("en", {timeZone}); return false; } catch (refused) { return true; }
})"""


def test_every_zone_an_exam_may_have_is_one_chromium_knows(page: Page) -> None:
    accepted = sorted(time_zone_names())

    assert page.evaluate(REFUSED_BY_INTL, accepted) == []
    # The same check tells the names the API refuses (Python's ZoneInfo opens every one of them).
    outside = ["localtime", "posixrules", "right/UTC", "posix/Europe/Paris"]
    assert page.evaluate(REFUSED_BY_INTL, outside) == outside


def test_an_exam_stored_with_a_zone_browsers_refuse_still_shows_its_deadline(page: Page, stack: Stack) -> None:
    # Given an exam whose row holds posix/Europe/Paris (as the API accepted before it checked)
    stack.create_exam("zone-stored", due_in_s=3600, timezone="Europe/Paris")
    student = stack.create_student("zone-stored", "zone.student")
    with psycopg.connect(stack.info["database_url"], autocommit=True) as conn:
        conn.execute("UPDATE exam SET timezone = 'posix/Europe/Paris' WHERE slug = 'zone-stored'")

    # When the student opens the upload page
    open_upload_page(page, stack, student["upload_code"])

    # Then it shows the deadline in the zone the name copies, and no script error (the fixture checks)
    expect(page.locator("#due-exam")).to_contain_text("(Europe/Paris)")
    expect(page.locator("#countdown")).to_contain_text("left until the due time")
