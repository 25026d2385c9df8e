"""What the benchmarks run against: an embedded PostgreSQL and MiniStack's S3 on loopback, with
the handlers' environment set as the local stack sets it."""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import psycopg
from botocore.client import BaseClient
from botocore.signers import RequestSigner, S3PostPresigner

from local_stack.background import free_port
from local_stack.database import migrate, start_postgres
from local_stack.emulator import MiniStack, clients, signing_key
from local_stack.functions import handler_environment

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
BUCKET = "exam-depository-bench"
FLOOR_ROWS = 16  # the most workers a floor replays at once
# The floors' own audit chains (bench.floors replays an append on one): one per worker, under exam
# ids no exam has (-1 for the first), each starting at genesis.
FLOOR_CHAINS = (
    "INSERT INTO audit_head (exam_pk, seq, hash, prev_hash, at)"
    f" SELECT -g, 0, repeat('0', 64), repeat('0', 64), now() FROM generate_series(1, {FLOOR_ROWS}) g"
)
# Every exam's audit log goes with the rows: exam ids start again at 1 and each new exam needs a new
# head; the floors' chains start again. Its triggers refuse any TRUNCATE; a superuser's replica mode
# fires no trigger.
EMPTY_AUDIT_LOG = (
    "SET session_replication_role = replica; TRUNCATE audit_event, audit_checkpoint, audit_head;"
    f" RESET session_replication_role; {FLOOR_CHAINS}"
)


def notification(key: str, size: int, sequencer: int, version_id: str | None = None) -> str:
    """An SQS message body as S3 sends it for one new object (key URL-encoded, `+` for a space;
    the version S3 made, in a versioned bucket)."""
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "sequencer": f"{sequencer:016X}"}
    if version_id is not None:
        s3_object["versionId"] = version_id
    created = {
        "eventName": "ObjectCreated:Post",
        # Now: the recorder dates a submission from S3's event time, and the retention counts from it.
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "s3": {"object": s3_object},
    }
    return json.dumps({"Records": [created]})


# The examiner of the sample events (events/): their API key id and their exam's id.
EXAMINER_KEY_ID = "a1b2c3d4e5"
EXAM_SLUG = "physics-2026-12"


def pseudonym(n: str) -> str:
    """SQL for the n-th student's pseudonym (unique in its exam, of the shape the schema checks)."""
    return f"'anon-' || lpad(upper(to_hex({n})), 6, '0')"


@dataclass(frozen=True)
class Environment:
    database_url: str
    s3: Any
    sqs: Any
    bucket: str

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def fresh_exam(self, max_attempts: int = 5) -> int:
        """Empty the database and make the sample events' exam, open now; returns its id."""
        self.sql("TRUNCATE examiner, exam, student, upload, submission, export RESTART IDENTITY CASCADE")
        self.sql(EMPTY_AUDIT_LOG)
        ((exam_id,),) = self.sql(
            """WITH examiner AS (INSERT INTO examiner DEFAULT VALUES RETURNING id),
                    key AS (INSERT INTO examiner_key (api_key_id, examiner_id) SELECT %s, id FROM examiner)
               INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
               SELECT id, %s, 'Physics', now() - interval '1 day', now() + interval '1 day',
                      now() + interval '1 day', 'Europe/Paris', %s FROM examiner
               RETURNING id""",
            (EXAMINER_KEY_ID, EXAM_SLUG, max_attempts),
        )
        return int(exam_id)


def bench_keys() -> dict[str, Any]:
    """The emulator's credentials and the keys the functions' environment names, as `make run`'s
    secrets.json holds them (the sessions' API key too, which no benchmark uses)."""
    return {
        "s3_access_key": "BENCH" + secrets.token_hex(8).upper(),
        "s3_secret_key": secrets.token_urlsafe(30),
        "lti_sessions_key": {"id": "bench-sessions", "value": secrets.token_urlsafe(30)},
    }


@contextmanager
def started(work: Path) -> Iterator[Environment]:
    keys = bench_keys()
    credentials = (keys["s3_access_key"], keys["s3_secret_key"])
    server, database_url = start_postgres(work / "postgres", work / "postgres.log")
    ministack = MiniStack(ROOT / ".tools/ministack/bin/ministack", free_port(), work / "s3", credentials, REGION)
    try:
        ministack.start((work / "ministack.log").open("ab"))
        s3, sqs = clients(ministack.endpoint, credentials, REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        signing_key(ministack.endpoint, credentials, REGION)
        handler_environment(database_url, ministack.endpoint, BUCKET, REGION, keys)
        migrate(database_url)
        os.environ["EXPORT_QUEUE_URL"] = sqs.create_queue(QueueName="bench-exports")["QueueUrl"]
        # Mail on, as a deployment with a SenderAddress: a recording emails its students' receipts.
        os.environ["MAIL_QUEUE_URL"] = sqs.create_queue(QueueName="bench-mail")["QueueUrl"]
        os.environ["SENDER_ADDRESS"] = "exams@exam-depository.test"
        with psycopg.connect(database_url, autocommit=True) as conn:
            # What a floor writes to stand for a route's write: one row per concurrent worker,
            # updated in place (workers sharing one row would wait for each other's locks).
            conn.execute("CREATE TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
            conn.execute("INSERT INTO bench_floor SELECT g, 0 FROM generate_series(1, %s) g", (FLOOR_ROWS,))
            conn.execute(FLOOR_CHAINS)
        yield Environment(database_url, s3, sqs, BUCKET)
    finally:
        ministack.stop()
        server.stop()


@dataclass(frozen=True)
class Statement:
    """One SQL statement a route sent: its text and parameters, its transaction (None outside
    one), whether it writes (`writes`), and how many rows an executemany pipelined."""

    transaction: int | None
    writes: bool
    text: str
    params: Any
    rows: int = 1
    appends: bool = False  # to an exam's audit chain (adapters/db/audit.py): the floor makes it again


@dataclass(frozen=True)
class AwsRequest:
    """One AWS request a route made, as botocore was asked for it: enough to make it again."""

    service: str
    operation: str
    params: dict[str, Any]
    endpoint_url: str
    # Made by a thread other than the one that reset the trace: one of the product's pools of
    # readers or signers, which make a batch's requests at once.
    pooled: bool


@dataclass
class Trace:
    """What one invocation asked of the outside: its SQL statements, its AWS requests (in order)
    and its presigned signatures ("post" or "url")."""

    statements: list[Statement] = field(default_factory=list)
    transactions: int = 0
    aws_requests: list[AwsRequest] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    owner: int = field(default_factory=threading.get_ident)


# In the upper-cased text: an INSERT, a DELETE, an UPDATE that is no lock clause's (FOR UPDATE, FOR
# NO KEY UPDATE), and a lock that skips locked rows or refuses to wait for them.
_WRITES = re.compile(r"\b(?:INSERT|DELETE|SKIP LOCKED|NOWAIT)\b|(?<!FOR )(?<!KEY )\bUPDATE\b")


def writes(text: str) -> bool:
    """Whether a statement writes: a floor cannot make it again as the product made it (bench.floors
    stands a one-row UPDATE in for it). A locking read (SELECT … FOR UPDATE, FOR SHARE and their
    kin, waiting for the rows it locks) does not: its floor reads the same rows, without the lock.
    One that skips locked rows or refuses to wait (SKIP LOCKED, NOWAIT) does: what it returns or
    whether it fails depends on what others hold at that moment. A lock clause written over two
    lines (FOR and UPDATE apart) counts as a write too."""
    return _WRITES.search(text.upper()) is not None


_APPENDS = re.compile(r"\bUPDATE audit_head\b", re.IGNORECASE)


class StatementCounter:
    """Counts and traces what the product sends, per thread: SQL statements and transactions
    (psycopg hooks), AWS requests and presigned signatures (botocore hooks)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.total_statements = 0
        self.total_transactions = 0
        self._latest = Trace()

    def reset(self) -> None:
        self._local.trace = self._latest = Trace()
        self._local.open_transaction = None

    @property
    def trace(self) -> Trace:
        """This thread's trace (a pool's task: the trace of the thread that submitted it); a
        thread that never reset one adds to the trace last reset."""
        if getattr(self._local, "trace", None) is None:
            return self._latest
        return self._local.trace  # type: ignore[no-any-return]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """A floor's own requests are not the product's: meanwhile this thread, and any thread
        with no trace of its own, traces into a scratch trace that is thrown away. They still go
        through the same hooks, doing the same work, so that the counting's cost is on both sides
        of a ratio (skipping it here charged it to the product's timing alone)."""
        own, latest = getattr(self._local, "trace", None), self._latest
        self._local.trace = self._latest = Trace()
        try:
            yield
        finally:
            self._local.trace, self._latest = own, latest

    @property
    def statements(self) -> int:
        return len(self.trace.statements)

    @property
    def transactions(self) -> int:
        return self.trace.transactions

    def _statement(self, connection: Any, query: Any, params: Any, rows: int = 1) -> None:
        text = query if isinstance(query, str) else query.as_string(connection)
        in_transaction = connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        transaction = getattr(self._local, "open_transaction", None) if in_transaction else None
        changes = writes(text)
        appends = changes and bool(_APPENDS.search(text))
        self.trace.statements.append(Statement(transaction, changes, text, params, rows, appends))
        with self._lock:
            self.total_statements += 1

    def _transaction(self) -> None:
        self.trace.transactions += 1
        self._local.open_transaction = self.trace.transactions
        with self._lock:
            self.total_transactions += 1

    @contextmanager
    def installed(self) -> Iterator[StatementCounter]:
        cursor, connection = psycopg.Cursor, psycopg.Connection
        execute, executemany, transaction = cursor.execute, cursor.executemany, connection.transaction
        api_call = BaseClient._make_api_call  # type: ignore[attr-defined]
        submit = ThreadPoolExecutor.submit
        sign_url, sign_post = RequestSigner.generate_presigned_url, S3PostPresigner.generate_presigned_post
        counter = self

        def counted_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            counter._statement(self.connection, query, params)
            return execute(self, query, params, **kwargs)

        def counted_executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            rows = list(params_seq)
            counter._statement(self.connection, query, None, len(rows))  # pipelined: one statement
            return executemany(self, query, rows, **kwargs)

        def counted_transaction(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter._transaction()
            return transaction(self, *args, **kwargs)

        def counted_api_call(self: Any, operation: str, params: Any) -> Any:
            trace = counter.trace
            trace.aws_requests.append(
                AwsRequest(
                    self.meta.service_model.service_name,
                    operation,
                    dict(params),
                    self.meta.endpoint_url,
                    pooled=threading.get_ident() != trace.owner,
                )
            )
            return api_call(self, operation, params)

        def counted_sign_url(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.trace.signatures.append("url")
            return sign_url(self, *args, **kwargs)

        def counted_sign_post(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.trace.signatures.append("post")
            return sign_post(self, *args, **kwargs)

        def traced_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            # A task of a pool (the recorder's readers and signers) adds to the trace of the
            # thread that handed it over, not to whichever trace was reset last.
            trace = counter.trace

            def in_trace(*task_args: Any, **task_kwargs: Any) -> Any:
                counter._local.trace = trace
                try:
                    return fn(*task_args, **task_kwargs)
                finally:
                    counter._local.trace = None

            return submit(self, in_trace, *args, **kwargs)

        ThreadPoolExecutor.submit = traced_submit  # type: ignore[method-assign]
        cursor.execute, cursor.executemany = counted_execute, counted_executemany  # type: ignore[method-assign]
        connection.transaction = counted_transaction  # type: ignore[method-assign]
        BaseClient._make_api_call = counted_api_call  # type: ignore[attr-defined]
        RequestSigner.generate_presigned_url = counted_sign_url  # type: ignore[method-assign]
        S3PostPresigner.generate_presigned_post = counted_sign_post  # type: ignore[method-assign]
        try:
            yield self
        finally:
            ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
            cursor.execute, cursor.executemany = execute, executemany  # type: ignore[method-assign]
            connection.transaction = transaction  # type: ignore[method-assign]
            BaseClient._make_api_call = api_call  # type: ignore[attr-defined]
            RequestSigner.generate_presigned_url = sign_url  # type: ignore[method-assign]
            S3PostPresigner.generate_presigned_post = sign_post  # type: ignore[method-assign]
