"""A busy or starting service, as the pages meet it: the exact answers our API, API Gateway and S3
give then, served by Playwright in place of the first requests of a route, and what the page's
live status said meanwhile."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route

PROBLEM = "urn:exam-depository:problem:"
# What the page's live status said, every change of it, kept for the test to read afterwards (a
# "retrying in 1 s…" may last less than a look at the page takes).
_STATUS_LOG = """
window.statusSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("status");
  new MutationObserver(() => window.statusSeen.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
});
"""


def retrying_quickly(page: Page, **settings: int) -> None:
    """The retry settings of the page's own retry.js, made small (waits of a tenth of a second
    when the service names none; fewer attempts where a test says), and its status recorded."""
    chosen = {"baseMs": 100, "capMs": 100} | settings
    page.add_init_script(f"window.serviceRetrySettings = {json.dumps(chosen)};{_STATUS_LOG}")


def status_seen(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("window.statusSeen")
    return seen


def api_busy(kind: str, retry_after_s: int = 1) -> dict[str, Any]:
    """Our API's answer when it cannot serve now: 503, Retry-After in seconds, a problem of `kind`."""
    body = {"type": PROBLEM + kind, "title": "Service busy", "status": 503, "detail": "Retry shortly."}
    return {
        "status": 503,
        "headers": {"Retry-After": str(retry_after_s)},
        "content_type": "application/problem+json",
        "body": json.dumps(body),
    }


# API Gateway's own throttle: before any function runs, in its own words.
GATEWAY_THROTTLED = {
    "status": 429,
    "headers": {"Retry-After": "1"},
    "content_type": "application/json",
    "body": json.dumps({"message": "Too Many Requests"}),
}


def s3_slow_down(origin: str) -> dict[str, Any]:
    """S3's answer while it scales a prefix: 503 with its XML error and the bucket's CORS header."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        "<Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId>"
        "<HostId>ZXhhbS1kZXBvc2l0b3J5</HostId></Error>"
    )
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"status": 503, "headers": headers, "content_type": "application/xml", "body": body}


class Answering:
    """The first requests of one method to a URL answered as given, the rest by the stack; every
    request of that method counted with when it was sent."""

    def __init__(self, page: Page, url: str | re.Pattern[str], method: str, answers: list[dict[str, Any]]) -> None:
        self.method = method
        self.answers = list(answers)
        self.sent: list[float] = []
        self.after: Callable[[], bool] = lambda: True  # answer only once this holds (a later phase)
        page.route(url, self._route)

    def _route(self, route: Route) -> None:
        if route.request.method != self.method:
            route.fallback()  # to another test's answers on the same URL, or the stack
            return
        self.sent.append(time.monotonic())
        if self.answers and self.after():
            route.fulfill(**self.answers.pop(0))
        else:
            route.fallback()


def forget_the_answers_we_caused(console_errors: list[str], status: int, times: int) -> None:
    """Chromium logs each 5xx a test answered: exactly `times` of them, no more."""
    caused = f"Failed to load resource: the server responded with a status of {status}"
    logged = [line for line in console_errors if line.startswith(caused)]
    assert len(logged) == times, console_errors
    for line in logged:
        console_errors.remove(line)
