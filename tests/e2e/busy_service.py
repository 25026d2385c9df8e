"""A busy or starting service, as the pages meet it: the exact answers our API, API Gateway and S3
give then, served by Playwright in place of the first requests of a route, and what the page's
live status said and when it sent each request meanwhile."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from exam_depository.api import resolver
from exam_depository.domain.errors import ServiceUnavailable
from playwright.sync_api import Page, Route

from local_stack.functions import gateway_responses, read_template

PROBLEM = "urn:exam-depository:problem:"
# What the page's live statuses said (every role=status element: the reviewer's page has one by
# each form), every change of them, kept for the test to read afterwards (a "retrying in 1 s…" may
# last less than a look at the page takes).
_STATUS_LOG = """
window.statusSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  for (const status of document.querySelectorAll("[role=status]")) {
    new MutationObserver(() => window.statusSeen.push(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
  }
});
"""


# When the page sent each request by fetch, on its own clock: a time taken where Playwright hands
# a request over to the test would add however late that is on a busy machine.
_SEND_LOG = """
window.fetchesSent = [];
(() => {
  const pageFetch = window.fetch;
  window.fetch = function (input, init) {
    const request = input instanceof Request ? input : null;
    const method = ((init && init.method) || (request ? request.method : "GET")).toUpperCase();
    window.fetchesSent.push({ method, url: request ? request.url : String(input), at: performance.now() });
    return pageFetch.apply(this, arguments);
  };
})();
"""


def retrying_quickly(page: Page, **settings: int) -> None:
    """The retry settings of the page's own retry.js, made small (waits of a tenth of a second
    when the service names none; fewer attempts where a test says), and its status and the send
    times of its requests recorded."""
    chosen = {"baseMs": 100, "capMs": 100} | settings
    page.add_init_script(f"window.serviceRetrySettings = {json.dumps(chosen)};{_STATUS_LOG}{_SEND_LOG}")


def status_seen(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("window.statusSeen")
    return seen


def fetches_sent_s(page: Page, url: re.Pattern[str], method: str) -> list[float]:
    """When the page sent each fetch of `method` to a URL matching `url`, in seconds on its own
    clock (performance.now), in the order sent."""
    sent: list[dict[str, Any]] = page.evaluate("window.fetchesSent")
    return [entry["at"] / 1000 for entry in sent if entry["method"] == method and url.fullmatch(entry["url"])]


def api_busy(kind: str, retry_after_s: int = 1) -> dict[str, Any]:
    """Our API's answer when it cannot serve now: 503, Retry-After in seconds, a problem of `kind`."""
    body = {"type": PROBLEM + kind, "title": "Service busy", "status": 503, "detail": "Retry shortly."}
    return {
        "status": 503,
        "headers": {"Retry-After": str(retry_after_s)},
        "content_type": "application/problem+json",
        "body": json.dumps(body),
    }


def api_unavailable() -> dict[str, Any]:
    """Our API's answer when a dependency failed, perhaps after a commit (an export row made, then
    its queue failed): the resolver's own, 503 `service-unavailable` without Retry-After."""
    handler = resolver.build_resolver().exception_handler_manager.lookup_exception_handler(ServiceUnavailable)
    assert handler is not None
    answer = handler(ServiceUnavailable("SQS SendMessage failed"))
    return {"status": answer.status_code, "content_type": answer.content_type, "body": answer.body}


def api_renewing_credentials() -> dict[str, Any]:
    """Our API's answer when the database refused a password rotated a moment ago, and the
    secret read afresh still gave the previous one: the resolver's own, 503 `service-credentials`
    with Retry-After (1 s here)."""
    handler = resolver.build_resolver().exception_handler_manager.lookup_exception_handler(ServiceUnavailable)
    assert handler is not None
    refused = ServiceUnavailable("PostgreSQL refused the password", reason="credentials", retry_after_s=1)
    answer = handler(refused)
    headers = {name: str(value) for name, value in answer.headers.items() if name != "Content-Type"}
    return {"status": answer.status_code, "headers": headers, "content_type": answer.content_type, "body": answer.body}


def _gateway_answer(kind: str) -> dict[str, Any]:
    """One of the template's gateway responses, as API Gateway sends it deployed."""
    status, headers, body = gateway_responses(read_template())[kind]
    others = {name: value for name, value in headers.items() if name != "Content-Type"}
    return {"status": status, "headers": others, "content_type": headers["Content-Type"], "body": body}


# API Gateway's own throttle (stage or usage plan), before any function runs.
GATEWAY_THROTTLED = _gateway_answer("THROTTLED")
# An examiner's key past its usage plan's quota for the period: the template's answer, and API
# Gateway's own words, which it sends where no gateway response is configured.
GATEWAY_QUOTA_EXCEEDED = _gateway_answer("QUOTA_EXCEEDED")
GATEWAY_QUOTA_UNTYPED = {
    "status": 429,
    "content_type": "application/json",
    "body": json.dumps({"message": "Limit Exceeded"}),
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
    request of that method kept, by URL (when the page sent each: `fetches_sent_s`)."""

    def __init__(self, page: Page, url: str | re.Pattern[str], method: str, answers: list[dict[str, Any]]) -> None:
        self.method = method
        self.answers = list(answers)
        self.sent: list[str] = []
        self.after: Callable[[], bool] = lambda: True  # answer only once this holds (a later phase)
        page.route(url, self._route)

    def _route(self, route: Route) -> None:
        if route.request.method != self.method:
            route.fallback()  # to another test's answers on the same URL, or the stack
            return
        self.sent.append(route.request.url)
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
