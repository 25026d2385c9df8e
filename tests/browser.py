"""The one way the tests start a browser: Debian's Chromium (/usr/bin/chromium, installed by
`make chromium`), never one Playwright downloads, headless, with nothing that calls home."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"  # the screenshots the browser tests take, kept by CI

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
