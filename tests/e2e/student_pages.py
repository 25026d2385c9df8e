"""What the tests of the student's and reviewer's pages share: a browser tab of a given width and
language, a student whose on-time file is on record after the due time, the facts a result shows,
the keyboard, the live regions and the accessibility scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, Locator, Page, ViewportSize

from tests.conftest import ROOT
from tests.e2e.conftest import Stack, record_problem

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
WIDTHS = {"390px": PHONE, "desktop": DESKTOP}
AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"

# Every change of the page's live regions (role=status, role=alert), in order, kept for the test to
# read afterwards: what a screen reader was given to say, even what lasted a moment.
_LIVE_LOG = """
window.liveSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[role=status], [role=alert]")) {
    new MutationObserver(() => window.liveSeen.push([region.id, region.textContent]))
      .observe(region, { childList: true, characterData: true, subtree: true });
  }
});
"""


@contextmanager
def browser_tab(
    browser: Browser,
    console_errors: list[str],
    viewport: ViewportSize,
    *,
    locale: str = "en-GB",
    languages: list[str] | None = None,
    timezone_id: str | None = None,
    bypass_csp: bool = False,
) -> Iterator[Page]:
    """A tab of its own context: `locale` is the browser's language, `languages` (when given) the
    whole list navigator.languages reports. Console errors are collected into `console_errors`,
    and none may be left when the tab closes."""
    context = browser.new_context(
        viewport=viewport,
        locale=locale,
        timezone_id=timezone_id,
        accept_downloads=True,
        bypass_csp=bypass_csp,
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    page.add_init_script(_LIVE_LOG)
    # Playwright subscribes to file pickers when a page gains its first "filechooser" listener
    # (and drops the subscription when the last one goes) without waiting for the answer: Space
    # pressed on a file input right after `expect_file_chooser` began could open the picker before
    # the subscription held, and no "filechooser" came (seen about once a run). A listener kept for
    # the tab's life keeps the subscription; a test still waits for its picker as usual.
    page.on("filechooser", lambda chooser: None)
    if languages:
        page.add_init_script(
            f"Object.defineProperty(navigator, 'languages', {{ get: () => {json.dumps(languages)} }});"
        )
    try:
        yield page
    finally:
        context.close()
    # A CSP violation or a script error shows up here (a test removes those it caused on purpose).
    assert console_errors == []


def live_seen(page: Page) -> list[tuple[str, str]]:
    """What the live regions said, as (region id, text), in order."""
    seen: list[list[str]] = page.evaluate("window.liveSeen")
    return [(region, text) for region, text in seen]


def handed_in_on_time_then_due(stack: Stack, exam_id: str, nickname: str) -> dict[str, Any]:
    """A student who handed in on time in an exam whose due time has just passed (late uploads
    still open for an hour); returns the student, with the file on record as `current`."""
    stack.create_exam(exam_id, opens_in_s=-3600, due_in_s=3600, cutoff_in_s=7200, title="Thermodynamics")
    student = stack.create_student(exam_id, nickname, "Zoë", "Müller")
    current = stack.hand_in(student["upload_code"], b"%PDF-1.7 on time " * 10_000, "answers.pdf")["current"]
    assert current["late"] is False
    due = datetime.now(UTC) - timedelta(minutes=1)
    moved = stack.patch_exam(exam_id, {"due_at": due.isoformat()})
    assert moved.status_code == 200, moved.text
    return {**student, "current": current}


def facts(section: Locator) -> dict[str, str]:
    """A result's facts, as its <dl> shows them: each term's text to its value's."""
    pairs: list[tuple[str, str]] = section.evaluate(
        """section => Array.from(section.querySelectorAll("dl > dt"),
            term => [term.textContent.trim(), term.nextElementSibling.textContent.trim()])"""
    )
    return dict(pairs)


def tab_to(page: Page, target: Locator, *, backwards: bool = False, limit: int = 40) -> None:
    """Press Tab (Shift+Tab backwards) until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{target} was not reached with {limit} presses of Tab")


def serious_violations(page: Page) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations in the page as it is now (the tab must bypass
    the page's CSP for the scan's script)."""
    assert AXE.is_file(), "axe-core is missing: `make e2e` installs it into .tools/axe"
    page.add_script_tag(path=AXE)
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in results["violations"]]
    return [v for v in found if v[1] in ("serious", "critical")]
