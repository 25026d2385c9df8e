"""The migrations as a step of the deployment: the migration function given CloudFormation's
custom-resource requests (events/migrate_database/, in AWS's documented request format), against
the embedded PostgreSQL, answering to a real HTTP(S) server on 127.0.0.1 that stands in for the
ResponseURL: the presigned S3 URL on AWS, the emulator's own URL in MiniStack.

The stand-in takes the PUT as S3 does (any body, 200) and checks nothing else: it cannot show the
presigned URL's signature accepting the request's headers (on AWS that is the empty Content-Type
asserted here, cfnresponse's), nor the route to S3 from inside the VPC (its gateway endpoint).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest
from aws_lambda_powertools.utilities import parameters
from exam_depository import config
from exam_depository.adapters import db
from exam_depository.adapters.db import schema
from exam_depository.observability import logger
from yoyo import get_backend, read_migrations

from local_stack.functions import LambdaContext, sample_event
from scripts.deploy_local import Tls, local_tls
from tests.conftest import _with_database
from tests.faults import closed_port
from tests.integration.conftest import REGION, _secret_for

EVERY_MIGRATION = [migration.id for migration in read_migrations(str(schema.MIGRATIONS))]
STACK_ID = (
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/exam-depository-dev/5b918d10-cd98-11ea-90d5-0a9cd3354c10"
)
PHYSICAL_ID = "exam-depository-dev-DatabaseMigration"  # the stack's name and the resource's logical id
LOG_STREAM = "2026/12/05/[$LATEST]0123456789abcdef0123456789abcdef"
# What the presigned URL of the sample events carries after the path: it must arrive unchanged.
QUERY = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261205T080000Z&X-Amz-Signature=example"


@dataclass
class Put:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ResponseUrl:
    """An HTTP server on 127.0.0.1 that takes CloudFormation's answers as S3 takes the PUT to a
    presigned URL (200, or `status` when a test makes it refuse), TLS when given a certificate."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.puts: list[Put] = []
        self.status = 200
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # http.server calls do_<METHOD>
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.puts.append(Put(self.path, dict(self.headers.items()), json.loads(body)))
                self.send_response(received.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads self.puts, not stderr

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, request_id: str) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}/stack/exam-depository-dev%7CDatabaseMigration%7C{request_id}?{QUERY}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def response_url() -> Iterator[ResponseUrl]:
    server = ResponseUrl()
    yield server
    server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A local CA and a certificate for 127.0.0.1 signed by it, as `make deploy-local` gives MiniStack."""
    return local_tls(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def tls_response_url(certificate: Tls) -> Iterator[ResponseUrl]:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate.cert, certificate.key)
    server = ResponseUrl(tls)
    yield server
    server.close()


@pytest.fixture
def database_at(server_url: str) -> Iterator[Callable[[str | None], str]]:
    """Databases of their own, migrated up to a migration (None: not at all), dropped afterwards."""
    made: list[str] = []

    def make(last: str | None) -> str:
        name = f"exam_depository_deploy_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = _with_database(server_url, name)
        if last is not None:
            backend = get_backend(schema._yoyo_url(url))
            every = read_migrations(str(schema.MIGRATIONS))
            with backend.lock():
                backend.apply_migrations(backend.to_apply(every.__class__([m for m in every if m.id <= last])))
            backend.connection.close()
        return url

    yield make
    with psycopg.connect(server_url, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id").fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def serve(aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The function reaches this database from now on, by URL."""

    def point(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("DB_SECRET_ARN", raising=False)
        config.reset()
        db.reset()

    return point


def _unreachable() -> str:
    """A PostgreSQL URL on which nothing listens: any connection to it fails at once."""
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/exam_depository"


def _deploy(handler: Callable[[str], ModuleType], case: str, to: ResponseUrl) -> Put:
    """CloudFormation's request `case` given to the function; the one answer the URL received."""
    event = sample_event("migrate_database", case)
    event["ResponseURL"] = to.url(event["RequestId"])
    returned = handler("migrate_database").lambda_handler(event, LambdaContext(log_stream_name=LOG_STREAM))
    assert returned is None  # CloudFormation reads the ResponseURL, never the return value
    (put,) = to.puts
    to.puts.clear()
    # What CloudFormation requires of every answer: the request's ids echoed, one physical id
    assert put.body.keys() == {
        "Status",
        "Reason",
        "PhysicalResourceId",
        "StackId",
        "RequestId",
        "LogicalResourceId",
        "Data",
    }
    assert (put.body["StackId"], put.body["RequestId"], put.body["LogicalResourceId"]) == (
        STACK_ID,
        event["RequestId"],
        "DatabaseMigration",
    )
    assert put.body["PhysicalResourceId"] == PHYSICAL_ID
    assert put.body["Status"] in ("SUCCESS", "FAILED")
    # The presigned URL's path and query as given; the Content-Type it was signed for: none
    sent_to = urlsplit(event["ResponseURL"])
    assert put.path == f"{sent_to.path}?{sent_to.query}"
    assert put.headers["Content-Type"] == ""
    assert int(put.headers["Content-Length"]) == len(json.dumps(put.body).encode()) <= 4096
    return put


def _log(caplog: pytest.LogCaptureFixture) -> str:
    """Every line the function logged, as Lambda writes it (JSON: the message, keys, traceback)."""
    return "\n".join(logger.registered_formatter.format(record) for record in caplog.records)


Handler = Callable[[str], ModuleType]


def test_a_new_stack_applies_every_migration_and_answers_success(
    handler: Handler, response_url: ResponseUrl, database_at: Callable[[str | None], str], serve: Callable[[str], None]
) -> None:
    # Given an empty database
    url = database_at(None)
    serve(url)

    # When CloudFormation creates the stack's migrations
    put = _deploy(handler, "create", response_url)

    # Then every migration is applied, and CloudFormation is told which
    assert put.body["Status"] == "SUCCESS"
    assert put.body["Data"] == {"Applied": ",".join(EVERY_MIGRATION)}
    assert put.body["Reason"] == f"Applied {len(EVERY_MIGRATION)} migration(s)"
    assert _applied(url) == EVERY_MIGRATION


def test_a_deployment_of_a_newer_layer_applies_the_new_migrations_and_only_those(
    handler: Handler, response_url: ResponseUrl, database_at: Callable[[str | None], str], serve: Callable[[str], None]
) -> None:
    # Given a database migrated by the previous release, up to 0005
    url = database_at("0005.retention-from-window-end")
    serve(url)

    # When CloudFormation updates the resource to the new layer (version 8, from 7)
    put = _deploy(handler, "update", response_url)

    # Then the migrations that came with it are applied
    assert put.body["Status"] == "SUCCESS"
    assert put.body["Data"] == {"Applied": ",".join(EVERY_MIGRATION[EVERY_MIGRATION.index("0006.pseudonyms") :])}
    assert put.body["Data"]["Applied"].startswith("0006.pseudonyms,0007.extension-removed-at,")
    assert _applied(url) == EVERY_MIGRATION

    # And the same request again (Lambda retries an asynchronous invocation) finds none pending
    put = _deploy(handler, "update", response_url)
    assert (put.body["Status"], put.body["Data"], put.body["Reason"]) == (
        "SUCCESS",
        {"Applied": ""},
        "No migration was pending",
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("rollback", "Rollback to an older layer: its migrations are left applied, none is run"),
        ("delete", "Delete: the database is left as it is"),
    ],
)
def test_a_rollback_and_a_delete_succeed_without_touching_the_database(
    handler: Handler,
    response_url: ResponseUrl,
    serve: Callable[[str], None],
    case: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a database nothing can reach: any attempt to connect would fail the request
    serve(_unreachable())

    # When CloudFormation rolls a failed deployment back (the older layer, 7 after 8), or deletes
    # the stack
    with caplog.at_level(logging.INFO):
        put = _deploy(handler, case, response_url)

    # Then it is told SUCCESS, with nothing applied, and the log says what was done
    assert (put.body["Status"], put.body["Data"], put.body["Reason"]) == ("SUCCESS", {"Applied": ""}, reason)
    assert reason in _log(caplog)


def test_a_failing_migration_fails_the_deployment_naming_it_and_nothing_of_the_database(
    aws: None,
    handler: Handler,
    response_url: ResponseUrl,
    database_at: Callable[[str | None], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a database at 0005 that already holds what 0007 adds (a hand-made column), reached as
    # deployed: through a secret, with a password
    url = database_at("0005.retention-from-window-end")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE student ADD COLUMN extension_removed_at timestamptz")
    password = f"never-shown-{uuid.uuid4().hex}"  # the embedded server trusts local connections
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="exam-depository/deploying", SecretString=json.dumps(_secret_for(url) | {"password": password})
    )
    monkeypatch.setenv("DB_SECRET_ARN", secret["ARN"])
    config.reset()
    db.reset()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped

    # When CloudFormation deploys the new layer
    with caplog.at_level(logging.INFO):
        put = _deploy(handler, "update", response_url)

    # Then it is told FAILED: which migration, the error's class and SQLSTATE, where to read more
    assert put.body["Status"] == "FAILED"
    assert put.body["Reason"] == (
        "Migration 0007.extension-removed-at failed: DuplicateColumn (SQLSTATE 42701)."
        f" The details are in the log stream {LOG_STREAM}."
    )
    assert put.body["Data"] == {}
    # and nothing the database said, nor the password
    answered = json.dumps(put.body)
    assert "already exists" not in answered
    assert "extension_removed_at" not in answered
    assert password not in answered
    # The migration before it stays applied (each runs in a transaction of its own)
    failed = EVERY_MIGRATION.index("0007.extension-removed-at")
    assert _applied(url) == EVERY_MIGRATION[:failed]
    assert EVERY_MIGRATION[failed - 1] == "0006.pseudonyms"
    # The log holds the database's own words for ops, and neither the password nor the URL
    # that lets anyone answer for the function
    logged = _log(caplog)
    assert "already exists" in logged
    assert password not in logged
    assert "X-Amz-Signature" not in logged


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("nothing listens where the database should be", "ServiceUnavailable"),
        ("no database configured at all", "ValidationError"),
        ("the secret does not exist", "ServiceUnavailable"),
    ],
)
def test_the_answer_is_sent_whatever_fails_before_any_migration(
    handler: Handler,
    response_url: ResponseUrl,
    serve: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    error: str,
) -> None:
    # Given a function that cannot reach its database
    serve(_unreachable())
    if fault == "no database configured at all":
        monkeypatch.delenv("DATABASE_URL")
    elif fault == "the secret does not exist":
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("DB_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:absent-AbCdEf")
    config.reset()

    # When CloudFormation creates the stack's migrations
    put = _deploy(handler, "create", response_url)

    # Then it is told FAILED at once, rather than waiting out the ServiceTimeout
    assert put.body["Status"] == "FAILED", fault
    assert put.body["Reason"] == f"Migrating failed: {error}. The details are in the log stream {LOG_STREAM}."


def test_ops_invoking_the_function_directly_get_the_ids_applied_as_before(
    handler: Handler, response_url: ResponseUrl, database_at: Callable[[str | None], str], serve: Callable[[str], None]
) -> None:
    # Given an empty database, and ops' event (`make migrate-remote`: no RequestType)
    serve(database_at(None))
    invoke = handler("migrate_database").lambda_handler

    # When ops invoke the function, twice
    first = invoke(sample_event("migrate_database", "invoke"), LambdaContext())
    second = invoke(sample_event("migrate_database", "invoke"), LambdaContext())

    # Then the first applies every migration and the second none; nothing is PUT anywhere
    assert first == {"applied": EVERY_MIGRATION}
    assert second == {"applied": []}
    assert response_url.puts == []


def test_the_answer_goes_over_tls_trusting_the_ca_that_aws_ca_bundle_names(
    handler: Handler,
    tls_response_url: ResponseUrl,
    certificate: Tls,
    serve: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the ResponseURL of MiniStack: HTTPS with a certificate of the local CA, named by
    # AWS_CA_BUNDLE (the system's roots and that CA)
    serve(_unreachable())
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate.bundle))

    # When CloudFormation deletes the stack, the answer arrives
    put = _deploy(handler, "delete", tls_response_url)
    assert put.body["Status"] == "SUCCESS"


def test_an_answer_that_cannot_be_delivered_fails_the_invocation_so_that_lambda_retries_it(
    handler: Handler,
    tls_response_url: ResponseUrl,
    response_url: ResponseUrl,
    serve: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve(_unreachable())
    invoke = handler("migrate_database").lambda_handler

    def request(to: str) -> dict[str, Any]:
        return sample_event("migrate_database", "delete") | {"ResponseURL": to}

    # A certificate the system's roots do not vouch for (no AWS_CA_BUNDLE): refused, nothing sent
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        invoke(request(tls_response_url.url("untrusted")), LambdaContext())
    assert tls_response_url.puts == []

    # Nothing listening at the URL
    with pytest.raises(ConnectionRefusedError):
        invoke(request(f"http://127.0.0.1:{closed_port()}/stack?{QUERY}"), LambdaContext())

    # The URL refusing the answer (an expired presigned URL: S3 answers 403)
    response_url.status = 403
    with pytest.raises(http.client.HTTPException, match="answered 403"):
        invoke(request(response_url.url("expired")), LambdaContext())
    assert len(response_url.puts) == 1


def test_the_sample_events_are_cloudformations_documented_requests() -> None:
    # The four requests CloudFormation sends a custom resource (AWS's "Custom resource request
    # objects"): every field it documents, PhysicalResourceId from the first Update on, the
    # previous properties on Update; primitive properties arrive as strings
    documented = {"RequestType", "ResponseURL", "StackId", "RequestId", "ResourceType", "LogicalResourceId"}
    for case, kind in (("create", "Create"), ("update", "Update"), ("rollback", "Update"), ("delete", "Delete")):
        event = sample_event("migrate_database", case)
        assert documented | {"ResourceProperties", "ServiceToken"} <= event.keys(), case
        assert event["RequestType"] == kind
        assert ("PhysicalResourceId" in event) == (kind != "Create"), case
        assert ("OldResourceProperties" in event) == (kind == "Update"), case
        assert event["ResourceProperties"]["ServiceTimeout"] == "360"
        assert event["ResourceType"] == "Custom::DatabaseMigration"
        assert event["StackId"] == STACK_ID
