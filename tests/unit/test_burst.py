"""The deadline burst's students retry as the upload page will: after what `Retry-After` asks,
with a growing, capped window of full jitter; and the run fails on what a student would see."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bench.burst import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    Files,
    HandIn,
    Student,
    _problem_kind,
    backoff_s,
    busiest_others,
    failed,
    retry_after_s,
)

NOW = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=12), usegmt=True), 12.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),  # a date already past
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("Sat, 05 Dec 2026 00:00:12", None),  # a date without its zone says no instant
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header, NOW) == seconds


def test_the_first_retry_comes_within_the_base_window_after_retry_after() -> None:
    assert backoff_s(0, None, 0.0) == 0.0
    assert backoff_s(0, None, 0.999) == pytest.approx(0.999 * BACKOFF_BASE_S)
    assert backoff_s(0, 5.0, 0.0) == 5.0
    assert backoff_s(0, 5.0, 0.5) == pytest.approx(5.0 + 0.5 * BACKOFF_BASE_S)


def test_the_jitter_window_doubles_with_each_retry_up_to_its_cap() -> None:
    windows = [backoff_s(attempt, None, 1.0) for attempt in range(8)]

    assert windows[:4] == [BACKOFF_BASE_S * 2**n for n in range(4)]
    assert max(windows) == BACKOFF_CAP_S
    assert windows[-1] == BACKOFF_CAP_S


def test_a_class_told_the_same_retry_after_comes_back_spread_over_the_window() -> None:
    delays = {backoff_s(2, 5.0, draw / 10) for draw in range(10)}

    assert len(delays) == 10
    assert min(delays) == 5.0
    assert max(delays) < 5.0 + BACKOFF_BASE_S * 4


def _answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, b'{"type": "urn:exam-depository:problem:service-busy", "title": "Busy"}', "service-busy"),
        (503, b'{"type": "urn:exam-depository:problem:service-starting"}', "service-starting"),
        (429, b'{"message": "Too Many Requests"}', "Too Many Requests"),
        (504, b"<html>gateway timeout</html>", ""),
        (503, b'["not", "a", "problem"]', ""),
    ],
)
def test_a_refusal_is_named_by_its_problem_type_or_the_gateways_message(status: int, body: bytes, kind: str) -> None:
    assert _problem_kind(_answer(status, body)) == kind


def _run(**changes: int) -> dict[str, Any]:
    return {"errors": 0, "lost": 0, "duplicated": 0, "wrong": 0} | changes


@pytest.mark.parametrize("figure", ["errors", "lost", "duplicated", "wrong"])
def test_a_run_fails_on_any_error_a_student_sees_or_any_upload_not_recorded_once(figure: str) -> None:
    assert not failed(_run(retries=40))  # retried requests alone are no failure
    assert failed(_run(**{figure: 1}))


def test_the_busiest_other_processes_count_only_what_they_used_in_between() -> None:
    before = {(1, 1.0): ("pytest", 10.0), (2, 1.0): ("mypy", 3.0), (3, 1.0): ("sshd", 0.5)}
    after = {
        (1, 1.0): ("pytest", 14.0),
        (2, 1.0): ("mypy", 3.0),
        (3, 1.0): ("sshd", 0.55),
        (4, 9.0): ("chromium", 2.5),  # started in between: all its time counts
        (5, 9.0): ("chromium", 1.0),
    }

    assert busiest_others(before, after) == {"pytest": 4.0, "chromium": 3.5}


def test_a_student_counts_every_retry_itself_the_client_retrying_nothing_behind_it() -> None:
    # Given a service that answers the form request 503 busy twice, then 201
    answers = [503, 503, 201]
    asked: list[int] = []

    class Busy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = answers[len(asked)]
            asked.append(status)
            body = b'{"type": "https://example.org/problems/service-busy"}' if status == 503 else b"{}"
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        student = Student(
            f"http://127.0.0.1:{server.server_port}",
            HandIn("s00000", 0.0, 10, "0" * 64),
            "CODE",
            Files(random.Random(0)),
        )

        # When it asks for its form
        answer = student.request("presign", lambda: student.client.presign("CODE", sha256="0" * 64))
    finally:
        server.shutdown()

    # Then it made the three requests itself, and counted the two retries
    assert answer.status_code == 201
    assert asked == [503, 503, 201]
    assert sum(student.outcome.retries.values()) == 2
