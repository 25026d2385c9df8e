"""The local gateway answers as API Gateway does when a function fails: 502, never a dropped
connection; and the functions it runs at once log each its own request's keys."""

from __future__ import annotations

import io
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
from exam_depository.observability import logger

from local_stack.functions import FunctionPool, read_template, routes
from local_stack.gateway import Gateway, serve
from local_stack.keys import KeyTable, local_secrets


class _FailingModule:
    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the handler broke")


class _FailingPool(FunctionPool):
    def _load(self) -> ModuleType:
        return cast(ModuleType, _FailingModule())


def test_a_function_that_raises_is_a_502(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = Gateway(routes(read_template()), KeyTable(tmp_path / "secrets.json"), [])
    gateway.pools["serve_pages"] = _FailingPool("serve_pages")

    status, _, body = gateway.handle("GET", "/verify", {}, b"")

    assert (status, body) == (502, b'{"message": "Internal server error"}')
    assert "the handler broke" in capsys.readouterr().err


def test_two_requests_at_once_each_log_their_own_function_and_correlation_id(
    tmp_path: Path, log_lines: list[dict[str, Any]]
) -> None:
    # Given the gateway with the template's functions, and two requests that each log a line
    secrets_file = tmp_path / "secrets.json"
    key = local_secrets(secrets_file)["api_keys"][0]["value"]
    gateway = Gateway(routes(read_template()), KeyTable(secrets_file), [])
    requests = {
        "verify_receipt": ("/receipts/verify", {"content-type": "application/json"}),
        "create_exam": ("/exams", {"content-type": "application/json", "x-api-key": key}),
    }
    both_in_their_handlers = threading.Barrier(len(requests), timeout=30)

    class Overlap(logging.Filter):
        """A request's line is written only once the other request logs too: each has entered its
        handler (and appended its keys) before either line is formatted."""

        def filter(self, record: logging.LogRecord) -> bool:
            if record.getMessage() == "Request refused":
                both_in_their_handlers.wait()
            return True

    shared = logging.getLogger(logger.service)
    overlap = Overlap()
    shared.addFilter(overlap)
    try:
        # When both are served at once, each on a thread of its own, as the local stack serves them
        with ThreadPoolExecutor(len(requests)) as threads:
            answers = dict(
                zip(
                    requests,
                    threads.map(
                        lambda request: gateway.handle("POST", request[0], request[1], b"{}"), requests.values()
                    ),
                    strict=True,
                )
            )
    finally:
        shared.removeFilter(overlap)

    # Then each request's line carries its own function's name and its own correlation id
    for function, (status, headers, _) in answers.items():
        assert status == 422
        own = [line for line in log_lines if line.get("correlation_id") == headers["x-amzn-RequestId"]]
        assert [(line["message"], line["function_name"]) for line in own] == [("Request refused", function)]


class _FixedAnswerModule:
    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "body": "<p>the page</p>"}


class _FixedAnswerPool(FunctionPool):
    def _load(self) -> ModuleType:
        return cast(ModuleType, _FixedAnswerModule())


class _CountingSocket(socket.socket):
    """A socket that counts the writes made on it (http.server writes with send or sendall)."""

    writes = 0

    def send(self, data: Any, *args: Any) -> int:
        self.writes += 1
        return super().send(data, *args)

    def sendall(self, data: Any, *args: Any) -> None:
        self.writes += 1
        super().sendall(data, *args)


def test_an_answer_leaves_in_one_write(tmp_path: Path) -> None:
    # Headers and body written apart make a keep-alive client wait for its delayed ACK (Nagle).
    # Given the served gateway, and one end of a connection counting the server's writes
    gateway = Gateway(routes(read_template()), KeyTable(tmp_path / "secrets.json"), [])
    gateway.pools["serve_pages"] = _FixedAnswerPool("serve_pages")
    server = serve(gateway, "127.0.0.1", 0, io.StringIO())
    client, served = socket.socketpair()
    connection = _CountingSocket(fileno=served.detach())
    try:
        client.sendall(b"GET /verify HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")

        # When the server answers the request, and closes the connection as asked
        server.RequestHandlerClass(connection, ("127.0.0.1", 1), server)
        connection.close()

        # Then the status line, headers and body went in one write
        client.settimeout(30)
        answer = b"".join(iter(lambda: client.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b"<p>the page</p>")
        assert connection.writes == 1
    finally:
        client.close()
        server.server_close()
