"""The local stack, started once for the e2e tests (`python -m local_stack`) and stopped at the end;
Debian's Chromium for the pages."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from exam_depository.domain.codes import display
from playwright.sync_api import Browser, ConsoleMessage, Page

from local_stack import background
from local_stack.client import ApiClient
from tests.browser import chromium
from tests.conftest import ROOT

EXAM = "e2e"  # the exam the session's tests hand in to, open for the session


class Stack(ApiClient):
    """The running local stack: its API (the one client), its emulator and its ops targets."""

    key: str  # the stack's first examiner key

    def __init__(self, info: dict[str, Any], local_dir: Path) -> None:
        super().__init__(info["api_url"], info["api_key"])
        self.bucket = info["bucket"]
        self.info = info
        self.local_dir = local_dir
        self.s3, self.sqs = background.stack_clients(local_dir, info)

    def make(self, target: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """An ops target of the Makefile, run against this stack as a person would."""
        env = {**os.environ, "LOCAL_DIR": str(self.local_dir), **variables}
        command = ["make", "--no-print-directory", target, "LOCAL=1"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def object_keys(self) -> list[str]:
        """The keys that hold bytes, in any version (a delete marker hides nothing from this)."""
        listed = self.s3.list_object_versions(Bucket=self.bucket).get("Versions", [])
        return sorted({item["Key"] for item in listed})

    def versions(self, key: str) -> list[str]:
        listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key).get("Versions", [])
        return [item["VersionId"] for item in listed if item["Key"] == key]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = background.start(tmp_path_factory.mktemp("local"), record_workers=4)
    children = psutil.Process(running.process.pid).children(recursive=True)
    postgres_pid = int((running.local_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    started = [*children, psutil.Process(postgres_pid)]
    # Loopback only: every socket the stack listens on is bound to the loopback address. A stack
    # that fails this is stopped before the failure is reported, as it is after the session.
    listening = [
        connection.laddr
        for process in started
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    if not listening or any(address.ip not in ("127.0.0.1", "::1") for address in listening):
        running.stop()
        pytest.fail(f"the stack listens on {listening}, not on loopback alone")

    stack = Stack(running.info, running.local_dir)
    stack.create_exam(EXAM, due_in_s=6 * 3600, title="End-to-end tests")
    yield stack

    try:
        leaks = _secrets_in_logs(running.info, running.local_dir)
    finally:
        # Ctrl-C stops every process the stack started (whatever the search above found).
        assert running.stop() == 0
    time.sleep(0.5)
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"left running after Ctrl-C: {left}"
    assert leaks == [], "the logs show a secret"


def _secrets_in_logs(info: dict[str, Any], local_dir: Path) -> list[str]:
    """The logs the stack wrote during the session (handlers, access log, emulator), searched for
    the API key and for every upload and verification code the tests made, in either form."""
    with psycopg.connect(info["database_url"]) as conn:
        made = conn.execute("SELECT upload_code FROM student UNION ALL SELECT verification_code FROM submission")
        codes = [row[0] for row in made]
    assert codes, "the e2e tests made codes"
    keys = [key["value"] for key in json.loads((local_dir / "secrets.json").read_text())["api_keys"]]
    secrets = [*keys, *codes, *(display(code) for code in codes)]
    # The terminal shows the local key in the start-up banner, on purpose: its access log lines count.
    access = [line for line in (local_dir / "terminal.log").read_text().splitlines() if line.startswith("127.0.0.1 ")]
    assert access, "the access log was written"
    files = [(local_dir / name).read_text(errors="replace") for name in ("stack.log", "ministack.log")]
    logs = "\n".join([*files, *access]).upper()
    return [secret[:4] + "…" for secret in secrets if secret.upper() in logs]


# --- the browser: Debian's Chromium, driven by Playwright -------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def console_errors() -> list[str]:
    """The page's console errors; a test that causes one on purpose removes it."""
    return []


@pytest.fixture
def page(browser: Browser, console_errors: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda message: record_problem(message, console_errors))
    yield page
    context.close()
    # A CSP violation or a script error shows up here.
    assert console_errors == []


def record_problem(message: ConsoleMessage, problems: list[str]) -> None:
    expected = "Failed to load resource: the server responded with a status of 4"
    if message.type == "error" and not message.text.startswith(expected):
        problems.append(message.text)


def open_upload_page(page: Page, stack: Stack, upload_code: str) -> None:
    page.goto(f"{stack.api}/")
    page.get_by_label("Your upload code").fill(upload_code.lower().replace("-", " "))
    page.get_by_role("button", name="Continue").click()


def shown(page: Page, iso: str, zone: str, *, weekday: bool = False) -> str:
    """An instant as the pages write it (the browser's own formatting, its locale), in `zone`:
    what a test expects to read for a time the API gave."""
    options = {
        "year": "numeric",
        "month": "short",
        "day": "numeric",
        "hour": "2-digit",
        "minute": "2-digit",
        "timeZone": zone,
        "timeZoneName": "short",
    } | ({"weekday": "short"} if weekday else {})
    text: str = page.evaluate(
        "([iso, options]) => new Intl.DateTimeFormat(undefined, options).format(new Date(iso))", [iso, options]
    )
    return text
