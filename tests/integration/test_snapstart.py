"""SnapStart: the runtime hooks that the form, status, pages and recorder functions register,
called as Lambda's Python runtime calls them around a snapshot, against PostgreSQL and moto.

The cycle below is the runtime's (awslambdaric's bootstrap, once the handler module is imported
under SnapStart): pop the before-snapshot hooks from snapshot_restore_py's registry, last
registered first; take the snapshot; after each restore call the after-restore hooks in their
order. What a test cannot show is the snapshot itself: the hooks run in this process, whose
sockets stay alive, so each assertion is about what the hooks replaced, not about a dead socket.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from types import ModuleType

import boto3
import pytest
import snapshot_restore_py
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import snapstart
from exam_depository.adapters.db import transactions

from local_stack.functions import LambdaContext, load_function
from tests.integration.conftest import REGION, Api, Bucket, _secret_for, sqs_event

SNAPSTART_FUNCTIONS = ("request_upload", "get_upload_status", "serve_pages", "record_submissions")


def snapshot_and_restore() -> None:
    """What the runtime does between a SnapStart function's init and its first invocation."""
    before_snapshot = snapshot_restore_py.get_before_snapshot()
    while before_snapshot:
        func, args, kwargs = before_snapshot.pop()
        func(*args, **kwargs)
    # (Lambda takes the snapshot here, and later restores a copy of it.)
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


@pytest.fixture
def hook_registry_kept() -> Iterator[None]:
    """The registry is the interpreter's, as in a Lambda environment: the runtime's cycle empties
    the before-snapshot list, which the other tests of this process still expect to hold."""
    registered = list(snapshot_restore_py.get_before_snapshot())
    yield
    before_snapshot = snapshot_restore_py.get_before_snapshot()
    before_snapshot.clear()
    before_snapshot.extend(registered)


@pytest.mark.parametrize("function", SNAPSTART_FUNCTIONS)
def test_each_snapstart_function_registers_the_hooks_by_importing_its_handler(function: str) -> None:
    module = load_function(function, f"snapstart_{function}")
    assert module.snapstart is snapstart
    assert (snapstart.before_snapshot, (), {}) in snapshot_restore_py.get_before_snapshot()
    assert (snapstart.after_restore, (), {}) in snapshot_restore_py.get_after_restore()
    # Registered once per interpreter however many handlers import it: each hook runs once a cycle.
    assert [hook for hook, _, _ in snapshot_restore_py.get_after_restore()].count(snapstart.after_restore) == 1


def _secret_with(database_url: str, **changes: str) -> str:
    return json.dumps(_secret_for(database_url) | changes)


def test_a_restored_environment_reconnects_makes_new_clients_and_reads_the_secret_again(
    api: Api, clean_database: str, hook_registry_kept: None
) -> None:
    # Given an environment that served a form before the snapshot: a connection made with the
    # secret as it was then, an S3 client, the secret cached.
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secret_arn = secrets.describe_secret(SecretId="exam-depository/database")["ARN"]
    student = api.create_student()
    assert api.request_upload(student["upload_code"]).status == 201
    connection_before = transactions.connection()
    pid_before = connection_before.info.backend_pid
    s3_before = aws_clients.client("s3", region=REGION, read_timeout=5)
    assert "sslmode" not in connection_before.info.dsn  # the secret's "prefer", libpq's default

    # When the secret changes after the snapshot (a rotation), and an environment is restored.
    secrets.put_secret_value(SecretId=secret_arn, SecretString=_secret_with(clean_database, sslmode="disable"))
    snapshot_and_restore()

    # Then the old connection is closed, the next form comes through a new one made with the
    # secret as it is now, and through a new S3 client.
    assert connection_before.closed
    assert api.request_upload(student["upload_code"]).status == 201
    connection_after = transactions.connection()
    assert connection_after.info.backend_pid != pid_before
    assert "sslmode=disable" in connection_after.info.dsn
    assert aws_clients.client("s3", region=REGION, read_timeout=5) is not s3_before


def test_without_the_hooks_a_copy_keeps_the_snapshot_s_connection_and_secret(api: Api, clean_database: str) -> None:
    """The counterpart that shows what the hooks change: with none run, the same steps keep the
    connection and the cached secret (the assertions above would fail)."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    student = api.create_student()
    assert api.request_upload(student["upload_code"]).status == 201
    pid_before = transactions.connection().info.backend_pid
    secrets.put_secret_value(
        SecretId="exam-depository/database", SecretString=_secret_with(clean_database, sslmode="disable")
    )
    transactions.reset()  # a connection lost for any other reason: the secret still comes from the cache
    assert api.request_upload(student["upload_code"]).status == 201
    assert transactions.connection().info.backend_pid != pid_before
    assert "sslmode" not in transactions.connection().info.dsn


def test_restored_copies_draw_different_random_numbers() -> None:
    """Every copy of a snapshot starts with the generator's state at the snapshot: botocore's retry
    jitter would then be the same in every environment of a burst."""
    state_at_snapshot = random.getstate()
    draws = []
    for _copy in range(2):
        random.setstate(state_at_snapshot)  # a copy restored from the same snapshot
        snapstart.after_restore()
        draws.append(random.random())
    random.setstate(state_at_snapshot)
    first_copy = random.random()
    random.setstate(state_at_snapshot)
    assert random.random() == first_copy  # without the hook, two copies draw alike
    assert draws[0] != draws[1]


def test_the_recorder_records_after_a_restore(
    api: Api, handler: Callable[[str], ModuleType], hook_registry_kept: None, bucket: Bucket
) -> None:
    """The recorder's clients (S3, KMS) and connection come back after a restore: a file handed in
    right after one is recorded, its receipt signed."""
    student = api.create_student()
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"%PDF-1.7 answers")
    snapshot_and_restore()
    event = sqs_event({"Records": [bucket.notification(form["fields"]["key"], len(b"%PDF-1.7 answers"))]})
    result = handler("record_submissions").lambda_handler(event, LambdaContext())
    assert result == {"batchItemFailures": []}
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]})
    assert progress.status == 200, progress.body
    assert progress.body["current"] is not None
