"""The local gateway answers as API Gateway does when a function fails: 502, never a dropped
connection; and the functions it runs at once log each its own request's keys."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import boto3
import pytest
from exam_depository.adapters import aws, sessions
from exam_depository.domain.sessions import Session
from exam_depository.observability import logger
from moto import mock_aws

from local_stack.functions import (
    FunctionPool,
    LambdaContext,
    Route,
    Throttled,
    concurrency_limits,
    gateway_responses,
    read_template,
    routes,
)
from local_stack.gateway import Gateway, serve
from local_stack.keys import KeyTable, local_secrets
from tests.waiting import wait_until


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


@pytest.fixture
def sessions_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The local stack's sessions' key, handed to the authorizer as the local stack hands it."""
    value = str(local_secrets(tmp_path / "secrets.json")["lti_sessions_key"]["value"])
    monkeypatch.setenv("LTI_SESSIONS_KEY", value)
    sessions.reset()
    yield value
    sessions.reset()


def test_two_requests_at_once_each_log_their_own_function_and_correlation_id(
    tmp_path: Path, log_lines: list[dict[str, Any]], sessions_key: str
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


class _HeldModule:
    """A handler that answers only once the test lets it: its instance is busy until then."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        self.entered.set()
        assert self.release.wait(timeout=30)
        return {"statusCode": 200, "headers": {}, "body": "served"}


class _PoolOf(FunctionPool):
    """A function whose every instance runs the module the test gives."""

    def __init__(self, function: str, max_instances: int | None, module: object) -> None:
        super().__init__(function, max_instances)
        self.module = module

    def _load(self) -> ModuleType:
        return cast(ModuleType, self.module)


def test_a_function_at_its_concurrency_is_throttled_and_answered_as_api_gateway_answers(tmp_path: Path) -> None:
    # Given the gateway with the template's gateway responses, and a function allowed one
    # instance, which one request holds busy
    template = read_template()
    gateway = Gateway(
        routes(template),
        KeyTable(tmp_path / "secrets.json"),
        [],
        concurrency={"serve_pages": 1},
        gateway_responses=gateway_responses(template),
    )
    module = _HeldModule()
    gateway.pools["serve_pages"] = _PoolOf("serve_pages", 1, module)
    with ThreadPoolExecutor(1) as threads:
        first = threads.submit(gateway.handle, "GET", "/verify", {}, b"")
        wait_until(module.entered.is_set, timeout_s=30, what="the first request reached its handler")

        # When a second request comes while it is busy
        status, headers, body = gateway.handle("GET", "/verify", {}, b"")

        # Then Lambda throttles it and the gateway answers the template's INTEGRATION_FAILURE
        expected_status, expected_headers, expected_body = gateway_responses(template)["INTEGRATION_FAILURE"]
        assert (status, body) == (expected_status, expected_body) == (503, expected_body)
        assert headers["Retry-After"] == expected_headers["Retry-After"] == "2"
        assert json.loads(body)["type"].endswith("service-busy")
        assert "x-amzn-RequestId" in headers
        # and once the first is answered, the instance serves the next one
        module.release.set()
        assert first.result(timeout=30)[0] == 200
    assert gateway.handle("GET", "/verify", {}, b"")[0] == 200
    assert gateway.pools["serve_pages"].instances == 1


class _EnvironmentModule:
    """A handler that keeps an object per execution environment as transactions.py keeps its
    connection (a context variable, made on the first use), and records which it was given."""

    def __init__(self) -> None:
        self.kept: contextvars.ContextVar[object | None] = contextvars.ContextVar("kept", default=None)
        self.seen: list[object] = []

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        kept = self.kept.get()
        if kept is None:
            kept = object()
            self.kept.set(kept)
        self.seen.append(kept)
        return {"statusCode": 200, "headers": {}, "body": "served"}


def test_what_a_function_keeps_per_environment_is_per_instance_whichever_thread_calls() -> None:
    # Given a pool of at most two instances, and three callers, each on a thread of its own
    module = _EnvironmentModule()
    pool = _PoolOf("serve_pages", 2, module)
    callers_ready = threading.Barrier(3)

    def call_ten_times() -> None:
        callers_ready.wait(timeout=30)
        served = 0
        while served < 10:
            try:
                pool.invoke({}, LambdaContext("serve_pages"))
                served += 1
            except Throttled:  # both instances busy: as a client, ask again
                continue

    # When they are served
    threads = [threading.Thread(target=call_ten_times) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every invocation found its instance's object (one made per instance, kept across its
    # invocations whichever caller's thread ran them), and none was the callers' own: what
    # transactions.py keeps (the connection) is per instance, as on Lambda
    assert len(module.seen) == 30
    assert 1 <= pool.instances <= 2
    assert len(set(map(id, module.seen))) == pool.instances
    assert module.kept.get() is None


def test_the_local_stack_runs_as_many_instances_as_aws_would_with_the_default_parameters() -> None:
    limits = concurrency_limits(read_template())
    # The database functions' shares (ConnectionBudget at DatabaseMaxConnections=100, RecorderMaxConcurrency=5)
    assert (limits["request_upload"], limits["get_verification"], limits["create_exam"]) == (2, 2, 2)
    # LTI: the tool a reviewer's share, its admin routes an examiner's, the worker its queue's 2; the
    # authorizer, which uses no connection, is uncapped
    assert (limits["lti_tool"], limits["lti_admin"], limits["lti_worker"], limits["lti_authorizer"]) == (2, 2, 2, None)
    assert (limits["members"], limits["list_audit"]) == (2, 2)  # the member routes share one function
    assert limits["student_mail"] == 2  # so do the two mail routes
    assert (limits["send_messages"], limits["record_mail_events"]) == (2, 2)  # their queues' MaximumConcurrency
    assert (limits["start_attempt"], limits["get_paper_link"], limits["request_paper_upload"]) == (2, 2, 2)
    assert limits["record_submissions"] == 5
    assert limits["serve_pages"] is None
    # and all of them together fit in the local PostgreSQL's 100 connections, with room to spare
    assert sum(limit or 0 for limit in limits.values()) <= 90


class _MetricModule:
    """A handler shaped as ours (`@metrics.log_metrics`, one metric per invocation) that, when the
    test asks it, adds its metric and then waits to be let go before its flush."""

    def __init__(self, name: str, added: threading.Event, release: threading.Event) -> None:
        from exam_depository.observability import MetricUnit, metrics

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
            added.set()
            assert release.wait(timeout=30)
            return {"statusCode": 200, "headers": {}, "body": name}

        self.lambda_handler = metrics.log_metrics(handler, raise_on_empty_metrics=True)


class _MetricPool(FunctionPool):
    def __init__(self, function: str, name: str, added: threading.Event, release: threading.Event) -> None:
        super().__init__(function)
        self.metric = (name, added, release)

    def _load(self) -> ModuleType:
        return cast(ModuleType, _MetricModule(*self.metric))


def test_each_instance_flushes_its_own_metrics_and_never_finds_them_taken(capsys: pytest.CaptureFixture[str]) -> None:
    # Given two functions' instances, the first of which has added its metric and not flushed yet
    first_added, first_release = threading.Event(), threading.Event()
    second_added, second_release = threading.Event(), threading.Event()
    first = _MetricPool("first", "FirstMetric", first_added, first_release)
    second = _MetricPool("second", "SecondMetric", second_added, second_release)
    second_release.set()
    with ThreadPoolExecutor(1) as threads:
        held = threads.submit(first.invoke, {}, LambdaContext("first"))
        wait_until(first_added.is_set, timeout_s=30, what="the first invocation added its metric")

        # When the second invocation runs whole (adds, flushes), and only then the first flushes
        second_answer = second.invoke({}, LambdaContext("second"))
        first_release.set()
        first_answer = held.result(timeout=30)

    # Then each wrote its own metric, once, and neither failed
    assert (first_answer["body"], second_answer["body"]) == ("FirstMetric", "SecondMetric")
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics_written = [[name for name in ("FirstMetric", "SecondMetric") if name in line] for line in written]
    assert metrics_written == [["SecondMetric"], ["FirstMetric"]]


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


class _NamingModule:
    """Answers with the resource API Gateway matched, as its event says."""

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": f"{event['httpMethod']} {event['resource']}"}


class _NamingPool(FunctionPool):
    def _load(self) -> ModuleType:
        return cast(ModuleType, _NamingModule())


def _route(method: str, resource: str) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
    return Route(method, resource, "naming", api_key_required=False, pattern=re.compile(regex))


def test_a_request_matches_the_first_route_of_its_method_in_order_whatever_its_first_segment(tmp_path: Path) -> None:
    # Given routes in the order they are tried: literal segments first, then a route whose first
    # segment is a parameter (it could match any path), then one that names a segment after it
    gateway = Gateway(
        [
            _route("GET", "/exams/import"),
            _route("POST", "/exams"),
            _route("GET", "/exams/{exam_id}"),
            _route("GET", "/{page}"),
            _route("GET", "/{page}/{asset}"),
            _route("GET", "/docs/{asset}"),
        ],
        KeyTable(tmp_path / "secrets.json"),
        [],
    )
    gateway.pools["naming"] = _NamingPool("naming")

    def matched(method: str, path: str) -> tuple[int, bytes]:
        status, _, body = gateway.handle(method, path, {}, b"")
        return status, body

    # Then each request gets the first route of its method that matches, as before any index
    assert matched("GET", "/exams/import") == (200, b"GET /exams/import")
    assert matched("GET", "/exams/e1") == (200, b"GET /exams/{exam_id}")
    assert matched("GET", "/exams") == (200, b"GET /{page}")
    assert matched("POST", "/exams") == (200, b"POST /exams")
    assert matched("GET", "/verify") == (200, b"GET /{page}")
    assert matched("GET", "/docs/a.css") == (200, b"GET /{page}/{asset}")
    assert matched("GET", "/static/a.css") == (200, b"GET /{page}/{asset}")
    # And a method or path no route has is API Gateway's 403
    assert matched("POST", "/verify") == (403, b'{"message": "Missing Authentication Token"}')
    assert matched("DELETE", "/exams/e1") == (403, b'{"message": "Missing Authentication Token"}')
    assert matched("GET", "/a/b/c") == (403, b'{"message": "Missing Authentication Token"}')


class _RecordingModule:
    """Answers with a header of its own, and keeps the event it was given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Own": "yes"}, "body": "made"}


def test_an_answer_has_http_servers_head_and_the_event_its_request_id_and_time(tmp_path: Path) -> None:
    # Given the served gateway, whose function keeps its events
    module = _RecordingModule()

    class _RecordingPool(FunctionPool):
        def _load(self) -> ModuleType:
            return cast(ModuleType, module)

    gateway = Gateway(routes(read_template()), KeyTable(tmp_path / "secrets.json"), [])
    gateway.pools["serve_pages"] = _RecordingPool("serve_pages")
    server = serve(gateway, "127.0.0.1", 0, io.StringIO())
    client, served = socket.socketpair()
    try:
        client.sendall(b"GET /verify HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")

        # When the server answers the request
        server.RequestHandlerClass(served, ("127.0.0.1", 1), server)
        served.close()
        client.settimeout(30)
        answer = b"".join(iter(lambda: client.recv(65536), b"")).decode("latin-1")
    finally:
        client.close()
        server.server_close()

    # Then the head is what http.server's send_response and send_header write, in their order
    head, _, body = answer.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created"
    assert re.fullmatch(r"Server: exam-depository-local Python/\S+", lines[1])
    assert re.fullmatch(r"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", lines[2])
    request_id = module.events[0]["requestContext"]["requestId"]
    assert lines[3:] == [
        "Content-Type: text/plain",
        "X-Own: yes",
        f"x-amzn-RequestId: {request_id}",
        "Content-Length: 4",
    ]
    assert body == "made"
    # And the event's request id is a random (version 4) UUID, its time API Gateway's format
    assert str(uuid.UUID(request_id)) == request_id
    assert uuid.UUID(request_id).version == 4
    assert uuid.UUID(request_id).variant == uuid.RFC_4122
    assert re.fullmatch(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000", module.events[0]["requestContext"]["requestTime"])


class _Echo:
    """A key route's handler that answers who API Gateway said calls: the key id (the body: what
    every route reads) and the authorizer's context (a header: only LTI's routes read it)."""

    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event["requestContext"]
        headers = {"Content-Type": "application/json", "X-Authorizer": json.dumps(request.get("authorizer"))}
        return {
            "statusCode": 200,
            "headers": headers,
            "body": json.dumps({"key_id": request["identity"].get("apiKeyId")}),
        }


def _gateway(secrets_file: Path, *, with_authorizer: bool = True) -> Gateway:
    template = read_template()
    found = routes(template) if with_authorizer else [replace(route, authorizer=None) for route in routes(template)]
    gateway = Gateway(found, KeyTable(secrets_file), [], gateway_responses=gateway_responses(template))
    gateway.pools["list_exams"] = _PoolOf("list_exams", None, _Echo())
    return gateway


def test_every_key_route_runs_the_authorizer_and_no_open_route_does() -> None:
    for route in routes(read_template()):
        assert route.authorizer == ("lti_authorizer" if route.api_key_required else None), route.resource


@pytest.mark.parametrize("header", ["right", "wrong", "none", "right, with a junk session too"])
def test_a_key_caller_gets_what_it_got_before_the_authorizer_byte_for_byte(
    tmp_path: Path, sessions_key: str, header: str
) -> None:
    secrets_file = tmp_path / "secrets.json"
    key = local_secrets(secrets_file)["api_keys"][0]
    headers = {
        "right": {"x-api-key": key["value"]},
        "wrong": {"x-api-key": "not-a-key-of-this-stack"},
        "none": {},
        "right, with a junk session too": {"x-api-key": key["value"], "authorization": "Bearer junk"},
    }[header]
    before = _gateway(secrets_file, with_authorizer=False).handle("GET", "/exams", dict(headers), b"")
    after = _gateway(secrets_file).handle("GET", "/exams", dict(headers), b"")
    assert (after[0], after[2]) == (before[0], before[2])
    if header.startswith("right"):
        assert after[0] == 200
        assert json.loads(after[2])["key_id"] == key["id"]
        assert json.loads(after[1]["X-Authorizer"]) == {"kind": "key", "principalId": "key"}
    else:
        assert (after[0], after[2]) == (403, b'{"message": "Forbidden"}')


@pytest.mark.parametrize("exam_id", ["%5B0%5D", "exam-%2A", "a%3Fb"])
def test_a_path_with_brackets_stars_or_question_marks_is_allowed_by_the_policy_naming_it(
    tmp_path: Path, sessions_key: str, exam_id: str
) -> None:
    """IAM policies know two wildcards, `*` and `?`: a method ARN holding `[0]` is matched by
    itself (the authorizer allows exactly its own `methodArn`), not read as a character class."""
    secrets_file = tmp_path / "secrets.json"
    key = local_secrets(secrets_file)["api_keys"][0]
    gateway = _gateway(secrets_file)
    gateway.pools["get_exam"] = _PoolOf("get_exam", None, _Echo())
    status, _, body = gateway.handle("GET", f"/exams/{exam_id}", {"x-api-key": key["value"]}, b"")
    assert status == 200, body


@pytest.fixture
def session_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sessions' signing key in KMS (moto, in-process)."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("DEPLOYMENT_NAME", "local")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        kms = boto3.client("kms", region_name="eu-west-1")
        monkeypatch.setenv(
            "LTI_SESSION_KEY_ID", kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        )
        aws.reset()
        sessions.reset()
        yield
        aws.reset()
        sessions.reset()


def test_a_session_caller_is_metered_under_the_sessions_key_and_named_by_the_authorizer(
    tmp_path: Path, sessions_key: str, session_key: None
) -> None:
    secrets_file = tmp_path / "secrets.json"
    session = Session(
        caller_key=f"lti:{uuid.uuid4()}",
        exam_id="physics",
        deep_link=None,
        platform="http://localhost:9",
        lti_user="teacher-1",
        name="Tess Teacher",
        course="Physics",
        jti="j-1",
        expires_at=datetime.now(UTC) + timedelta(hours=4),
    )
    status, headers, body = _gateway(secrets_file).handle(
        "GET", "/exams", {"authorization": f"Bearer {sessions.mint(session)}"}, b""
    )
    assert status == 200
    assert json.loads(body) == {"key_id": local_secrets(secrets_file)["lti_sessions_key"]["id"]}
    assert {"authorizer": json.loads(headers["X-Authorizer"])} == {
        "authorizer": {
            "kind": "session",
            "caller_key": session.caller_key,
            "session": "j-1",
            "platform": "http://localhost:9",
            "lti_user": "teacher-1",
            "exam": "physics",
            "principalId": session.caller_key,
        },
    }


@pytest.mark.parametrize("headers", [{"authorization": "Bearer junk.junk.junk"}, "the sessions' key as x-api-key"])
def test_a_session_that_is_not_valid_and_the_sessions_key_as_a_header_are_the_template_s_401(
    tmp_path: Path, sessions_key: str, session_key: None, headers: dict[str, str] | str
) -> None:
    sent = {"x-api-key": sessions_key} if isinstance(headers, str) else headers
    status, answer_headers, body = _gateway(tmp_path / "secrets.json").handle("GET", "/exams", sent, b"")
    assert (status, body) == gateway_responses(read_template())["UNAUTHORIZED"][::2]
    assert status == 401
    assert json.loads(body)["type"] == "urn:exam-depository:problem:session-not-valid"
    assert "x-amzn-RequestId" in answer_headers
