"""Floors: what the same work costs with nothing of ours in the way, measured in the same run
as the figure it divides, so that a ratio says something about the code and not the machine.

A floor replays a trace (bench.environment.Trace) by hand with bare psycopg and botocore: the
same SQL round trips on the same connection, in the same transactions (each read statement as
itself with its parameters, a locking read without its lock clauses, each write as a one-row
UPDATE, since it cannot run twice),
each AWS request again with the same operation and parameters at the same endpoint (bodies read
to the end; what the product made from a pool of threads, 10 at a time), and one presigned
signature per signature. What is left of the product's time beside it is ours: the resolver,
validation, the rules, the models, the JSON and the logs.

An append to an exam's audit log (adapters/db/audit.py: the head's UPDATE hashing the event in
PostgreSQL, feeding the INSERT, its trigger and three indexes) is database work any product with
such a log must do, so it is not replayed as a one-row UPDATE (that counted PostgreSQL's hashing
and index maintenance as ours). It runs as itself, same text and parameters, in the same
transaction, on a chain of the floor's own: only the chain's exam (`%(audit_exam)s`) is replaced,
by one no exam has (bench.environment.FLOOR_CHAINS, one per worker). The exam's chain is left as
the product made it, and the append commits with the transaction as the product's does. Not in a
savepoint rolled back: that is two more round trips (SAVEPOINT, ROLLBACK TO) and a subtransaction
the product does not pay for, the head's lock let go at the rollback rather than at the commit,
and a dead event under the very key (exam, seq) the product's next append writes, which its
unique check and its trigger would then step over.

Mail is in the floor by the same construction: a recording that queues receipts writes their
messages with one INSERT in its transaction (replayed as a one-row UPDATE, like every write),
notes after the commit which ones SQS took (another), and hands them to the mail queue with one
SendMessageBatch and, when its environment has no sweep request still to come, one delayed
SendMessage asking for the sender's sweep (each made again as itself, to the same queue). A
recording whose students have no address does none of it (tests/integration/test_bench_counter.py
holds both).
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.cold import MINIMAL_FUNCTION
from bench.environment import AwsRequest, Statement, StatementCounter, Trace
from local_stack.functions import LambdaContext, sample_event


@cache
def bare_client(service: str, endpoint_url: str) -> Any:
    """botocore alone, configured as the product's client of `service` is (the same signature,
    addressing and checksum settings: they decide what a request costs), at the same endpoint."""
    settings: dict[str, Any] = {"max_pool_connections": 10}
    if service == "s3":
        settings |= {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    return session.client(service, endpoint_url=endpoint_url, config=Config(**settings))  # type: ignore[call-overload]


def same_request(request: AwsRequest) -> None:
    """The request the product made, made again by bare botocore: same operation, same
    parameters, same endpoint; a body in the answer is read to its end, in the product's chunks.
    A version already deleted is an answer as it was for the product (the recorder reads one as
    "gone": concurrent batches delete what others read)."""
    try:
        answer = bare_client(request.service, request.endpoint_url)._make_api_call(request.operation, request.params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
            return
        raise
    body = answer.get("Body")
    if body is not None:
        for _ in body.iter_chunks(1024 * 1024):
            pass
        body.close()


def same_requests(requests: list[AwsRequest]) -> None:
    """Each request again, in order; the ones the product made from a pool of threads (a batch's
    reads, its signatures) are made 10 at a time as the product's pools do (one per service)."""
    index = 0
    while index < len(requests):
        if not requests[index].pooled:
            same_request(requests[index])
            index += 1
            continue
        end = index
        service = requests[index].service
        while end < len(requests) and requests[end].pooled and requests[end].service == service:
            end += 1
        list(_pool(service).map(same_request, requests[index:end]))
        index = end


@cache
def _pool(service: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix=f"floor-{service}")


def _signature(kind: str) -> None:
    s3, bucket = bare_client("s3", os.environ["AWS_ENDPOINT_URL_S3"]), os.environ["BUCKET_NAME"]
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


def replay(trace: Trace, conn: Any, floor_row: int = 1) -> float:
    """The floor of one invocation, in ms: its trace replayed by hand on `conn`, or the minimal
    function's invocation when the route asked nothing of the outside (a page, a cached key).
    `floor_row` is the bench_floor row its writes stand for (one per concurrent worker)."""
    # Copies: a counter that is not paused traces the floor's own requests into the trace it holds.
    statements, aws_requests, signatures = list(trace.statements), list(trace.aws_requests), list(trace.signatures)
    if not (statements or aws_requests or signatures):
        return minimal_invocation()
    started = time.perf_counter()
    done: set[int] = set()
    for statement in statements:
        if statement.transaction is None:
            _round_trip(conn, statement, floor_row)
        elif statement.transaction not in done:
            done.add(statement.transaction)
            in_transaction = [s for s in statements if s.transaction == statement.transaction]
            with conn.transaction():
                for each in in_transaction:
                    _round_trip(conn, each, floor_row)
    same_requests(aws_requests)
    for kind in signatures:
        _signature(kind)
    return (time.perf_counter() - started) * 1000


def cpu_beside_floor[Result](
    work: Callable[[], Result], counter: StatementCounter, conn: Any
) -> tuple[float, float, Result]:
    """The calling thread's CPU for `work` (one invocation), then for its trace replayed bare right
    after it on `conn`, in ms, and what `work` returned. The trace is taken before the counter
    pauses: while it is paused, `counter.trace` is the scratch trace the floor's own requests go to."""
    counter.reset()
    started = time.thread_time()
    result = work()
    cpu_ms = (time.thread_time() - started) * 1000
    trace = counter.trace
    with counter.paused():
        started = time.thread_time()
        replay(trace, conn)
        floor_ms = (time.thread_time() - started) * 1000
    return cpu_ms, floor_ms, result


# The parameter by which a statement that appends names the exam's chain (adapters/db/audit.py).
CHAIN = "audit_exam"


def floor_chain(floor_row: int) -> int:
    """The exam id of the audit chain the floor of worker `floor_row` appends to (no exam's)."""
    return -floor_row


def _round_trip(conn: Any, statement: Statement, floor_row: int) -> None:
    """A read runs as itself (the database's own work is not ours to divide by), and so does an
    append to an audit chain, on the worker's own chain; any other write, which cannot run twice,
    is a one-row UPDATE of the worker's own row (so that the commit flushes the WAL as the route's
    does), one per pipelined row of an executemany.

    A locking read (SELECT … FOR UPDATE and its kin: bench.environment.writes) runs as the same
    SELECT without its lock clauses: the rows it returns are the client's work, as any read's;
    the lock is the server's, and replayed it could only wait, on a lock the product holds or, in
    the recording rate's floor, on another floor worker's, as the replay's timing falls and not as
    the work asks. Until 2026-12-05 it was a one-row UPDATE: the floor read none of its rows. (A
    transaction whose only change was such a lock now commits nothing in its floor.)"""
    if statement.appends:
        if not isinstance(statement.params, dict) or CHAIN not in statement.params:
            raise RuntimeError(f"an append to an audit chain without %({CHAIN})s: {statement.text[:200]}")
        cursor = conn.execute(statement.text, statement.params | {CHAIN: floor_chain(floor_row)})
        if cursor.description is not None:
            cursor.fetchall()
        elif cursor.rowcount != 1:
            raise RuntimeError(f"the floor's audit chain {floor_chain(floor_row)} has no head")
    elif not statement.writes:
        if statement.rows > 1:  # an executemany of reads (its rows' parameters are not kept)
            conn.cursor().executemany("SELECT %s", [(row,) for row in range(statement.rows)])
        else:
            conn.execute(unlocked(statement.text), statement.params).fetchall()
    elif statement.rows > 1:
        conn.cursor().executemany("UPDATE bench_floor SET n = n + %s WHERE id = %s", [(1, floor_row)] * statement.rows)
    else:
        conn.execute("UPDATE bench_floor SET n = n + 1 WHERE id = %s", (floor_row,))


# A lock clause that waits for the rows it locks (one that does not, SKIP LOCKED or NOWAIT, makes
# its statement a write: bench.environment.writes).
_WAITING_LOCK = re.compile(
    r"\s+FOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b(?:\s+OF\s+[\w.]+(?:\s*,\s*[\w.]+)*)?",
    re.IGNORECASE,
)


@cache  # once per statement's text: the floor's time is for its requests
def unlocked(text: str) -> str:
    """A read's text without its lock clauses (a read that locks nothing as it is)."""
    return _WAITING_LOCK.sub("", text)


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


def invoke_beside_floor(
    module: Any, event: dict[str, Any], counter: StatementCounter, computed: Callable[[], Any] | None = None
) -> Invocation:
    """Invoke a handler, then replay its trace on the product's connection: both at once, so
    that they share the machine's moment. `computed` is work no request does that the route
    must do all the same (a signature's check), done bare as part of the floor. A 4xx or 5xx
    ends the benchmark."""
    counter.reset()
    started = time.perf_counter()
    response = module.lambda_handler(event, LambdaContext())
    elapsed = (time.perf_counter() - started) * 1000
    if response["statusCode"] >= 400:
        raise RuntimeError(f"{module.__name__} answered {response['statusCode']}: {response['body'][:300]}")
    trace = counter.trace
    counts = (len(trace.statements), trace.transactions, len(trace.aws_requests), len(trace.signatures))
    from exam_depository.adapters import db  # not at the top: see local_stack.database.migrate

    with counter.paused():
        floor_ms = replay(trace, db.connection())
    if computed is not None:
        started = time.perf_counter()
        computed()
        floor_ms += (time.perf_counter() - started) * 1000
    return Invocation(response["statusCode"], elapsed, floor_ms, *counts)
