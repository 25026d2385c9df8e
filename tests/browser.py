"""The one way the tests start a browser: Debian's Chromium (/usr/bin/chromium, installed by
`make chromium`), never one Playwright downloads, headless, with nothing that calls home."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"  # the screenshots the browser tests take, kept by CI
AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # `make e2e` installs it

# This machine's network is closed: no background calls home, no component updates.
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """Debian's Chromium, launched by Playwright with `args` besides the usual ones; closed after."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*_ARGS, *args])
        try:
            yield browser
        finally:
            browser.close()


def axe_serious(page: Page) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations on the page as it stands (rule, impact, where).
    The scan is evaluated through the DevTools protocol, which the page's CSP does not govern: the
    page keeps its own policy, so a script of ours that the policy refuses still fails its test."""
    if not AXE.is_file():
        pytest.fail("axe-core is missing: `make e2e` installs it into .tools/axe")
    page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    results: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [node["target"] for node in v["nodes"]])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
