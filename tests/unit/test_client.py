"""The end-to-end client sends a request again only when the answer says nothing was done: a GET
after any 503, a change only after a 503 or 429 that carries Retry-After (busy, starting,
credentials, API Gateway's throttles), never after a 503 `service-unavailable`, which may follow a
commit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local_stack.client import ApiClient

PROBLEM = "urn:exam-depository:problem:"


class Scripted(ThreadingHTTPServer):
    """A loopback server answering each request with the next of `answers` (then 201), counting them."""

    answers: list[tuple[int, dict[str, str], dict[str, object]]]
    received: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(self.command)
        status, headers, body = self.server.answers.pop(0) if self.server.answers else (201, {}, {"done": True})
        content = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/problem+json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted(("127.0.0.1", 0), _Handler)
    scripted.answers, scripted.received = [], []
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def _client(server: Scripted) -> ApiClient:
    return ApiClient(f"http://127.0.0.1:{server.server_address[1]}", key="k")


def _problem(status: int, kind: str) -> dict[str, object]:
    return {"type": PROBLEM + kind, "title": kind, "status": status}


def test_a_change_answered_service_unavailable_is_not_sent_again(server: Scripted) -> None:
    # The export row is committed, then its queue fails: the API answers 503 without Retry-After.
    server.answers = [(503, {}, _problem(503, "service-unavailable"))]
    response = _client(server).session.post(_client(server).url("exams/e/exports"), json={})
    assert response.status_code == 503
    assert server.received == ["POST"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(503, "service-busy"), (503, "service-starting"), (503, "service-credentials"), (429, "service-busy")],
)
def test_a_change_answered_with_retry_after_is_sent_again(server: Scripted, status: int, kind: str) -> None:
    server.answers = [(status, {"Retry-After": "0"}, _problem(status, kind))]
    response = _client(server).session.post(_client(server).url("exams/e/exports"), json={})
    assert response.status_code == 201
    assert server.received == ["POST", "POST"]


def test_an_untyped_429_without_retry_after_is_an_answer(server: Scripted) -> None:
    # API Gateway's usage plan quota used up, in its own words.
    server.answers = [(429, {}, {"message": "Limit Exceeded"})]
    response = _client(server).session.post(_client(server).url("exams"), json={})
    assert response.status_code == 429
    assert server.received == ["POST"]


def test_a_read_is_sent_again_after_any_503(server: Scripted) -> None:
    server.answers = [(503, {}, _problem(503, "service-unavailable"))]
    response = _client(server).session.get(_client(server).url("exams/e"))
    assert response.status_code == 201
    assert server.received == ["GET", "GET"]
