"""Floors: what the same work costs with nothing of ours in the way, measured in the same run
as the figure it divides, so that a ratio says something about the code and not the machine.

A route's floor replays its trace (bench.environment.Trace) by hand with bare psycopg and
botocore: the same SQL round trips on the same connection, in the same transactions (each read
statement as itself, each write as a stand-in), one request to the same AWS service per request
the route made, and one presigned signature per signature. What is left of the route's time
beside it is ours: the resolver, validation, the rules, the models, the JSON and the logs.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from exam_depository.adapters import db

from bench.cold import MINIMAL_FUNCTION
from bench.environment import Statement, StatementCounter, Trace
from local_stack.functions import LambdaContext, sample_event


@cache
def bare_clients() -> dict[str, Any]:
    """botocore alone, pointed where the product's clients point (the emulator)."""
    session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    s3_config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return {
        "s3": session.client("s3", endpoint_url=endpoint, config=s3_config),
        "sqs": session.client("sqs", endpoint_url=endpoint),
        "kms": session.client("kms", endpoint_url=endpoint),
    }


def _cheapest_request(service: str) -> None:
    """One signed request to `service` that does as little as it can."""
    clients = bare_clients()
    bucket = os.environ["BUCKET_NAME"]
    if service == "s3":
        clients["s3"].head_bucket(Bucket=bucket)
    elif service == "sqs":
        clients["sqs"].get_queue_attributes(QueueUrl=os.environ["EXPORT_QUEUE_URL"], AttributeNames=["QueueArn"])
    elif service == "kms":
        clients["kms"].describe_key(KeyId=os.environ["RECEIPT_KEY_ID"])
    else:
        raise ValueError(f"no floor request for {service}")


def _signature(kind: str) -> None:
    s3, bucket = bare_clients()["s3"], os.environ["BUCKET_NAME"]
    if kind == "post":
        s3.generate_presigned_post(
            Bucket=bucket,
            Key="submissions/floor/answers.pdf",
            Fields={"Content-Type": "application/pdf"},
            Conditions=[{"Content-Type": "application/pdf"}, ["content-length-range", 1, 3 * 1024 * 1024]],
            ExpiresIn=600,
        )
    else:
        s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "floor"}, ExpiresIn=300)


@cache
def _minimal_function() -> Any:
    spec = importlib.util.spec_from_file_location("bench_minimal_function", MINIMAL_FUNCTION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def minimal_invocation() -> float:
    """The floor of a route with no outside work, in ms: one request to the minimal function."""
    event = sample_event("get_exam", "by_id")
    event.update(resource="/items/{item_id}", path="/items/floor", pathParameters={"item_id": "floor"})
    started = time.perf_counter()
    response = _minimal_function().lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    return (time.perf_counter() - started) * 1000


def replay(trace: Trace, conn: Any) -> float:
    """The floor of one invocation, in ms: its trace replayed by hand on `conn`, or the minimal
    function's invocation when the route asked nothing of the outside (a page, a cached key)."""
    # Copies: the counter is still installed and would trace the floor's own requests here.
    statements, aws_requests, signatures = list(trace.statements), list(trace.aws_requests), list(trace.signatures)
    if not (statements or aws_requests or signatures):
        return minimal_invocation()
    started = time.perf_counter()
    done: set[int] = set()
    for statement in statements:
        if statement.transaction is None:
            _round_trip(conn, statement, first_write=statement.writes)
        elif statement.transaction not in done:
            done.add(statement.transaction)
            in_transaction = [s for s in statements if s.transaction == statement.transaction]
            with conn.transaction():
                for index, each in enumerate(in_transaction):
                    _round_trip(
                        conn, each, first_write=each.writes and not any(s.writes for s in in_transaction[:index])
                    )
    for service in aws_requests:
        _cheapest_request(service)
    for kind in signatures:
        _signature(kind)
    return (time.perf_counter() - started) * 1000


def _round_trip(conn: Any, statement: Statement, *, first_write: bool) -> None:
    """A read runs as itself (the database's own work is not ours to divide by); a write or a
    lock, which cannot run twice, is a one-row UPDATE (the first of its transaction, so that the
    commit flushes the WAL as the route's does) or a SELECT 1, once per pipelined row."""
    if statement.rows > 1:  # an executemany (its rows' parameters are not kept)
        conn.cursor().executemany("SELECT %s", [(row,) for row in range(statement.rows)])
    elif not statement.writes:
        conn.execute(statement.text, statement.params).fetchall()
    elif first_write:
        conn.execute("UPDATE bench_floor SET n = n + 1 WHERE id = 1")
    else:
        conn.execute("SELECT 1").fetchall()


@dataclass(frozen=True)
class Invocation:
    """One invocation beside its floor, and what it asked of the outside."""

    status: int
    ms: float
    floor_ms: float
    statements: int
    transactions: int
    aws_requests: int
    signatures: int


def invoke_beside_floor(module: Any, event: dict[str, Any], counter: StatementCounter) -> Invocation:
    """Invoke a handler, then replay its trace on the product's connection: both at once, so
    that they share the machine's moment. A 4xx or 5xx ends the benchmark."""
    counter.reset()
    started = time.perf_counter()
    response = module.lambda_handler(event, LambdaContext())
    elapsed = (time.perf_counter() - started) * 1000
    if response["statusCode"] >= 400:
        raise RuntimeError(f"{module.__name__} answered {response['statusCode']}: {response['body'][:300]}")
    trace = counter.trace
    # Counted before the replay, which the counter sees too.
    counts = (len(trace.statements), trace.transactions, len(trace.aws_requests), len(trace.signatures))
    return Invocation(response["statusCode"], elapsed, replay(trace, db.connection()), *counts)
