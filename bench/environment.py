"""What the benchmarks run against: an embedded PostgreSQL and MiniStack's S3 on loopback, with
the handlers' environment set as the local stack sets it."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import psycopg

from local_stack.background import free_port
from local_stack.database import start_postgres
from local_stack.emulator import MiniStack, clients, signing_key
from local_stack.functions import handler_environment

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
BUCKET = "exam-depository-bench"


def notification(key: str, size: int, sequencer: int) -> str:
    """An SQS message body as S3 sends it for one new object (key URL-encoded, `+` for a space)."""
    created = {
        "eventName": "ObjectCreated:Post",
        "eventTime": "2026-11-25T10:00:00.000Z",
        "s3": {"object": {"key": quote_plus(key, safe="/"), "size": size, "sequencer": f"{sequencer:016X}"}},
    }
    return json.dumps({"Records": [created]})


@dataclass(frozen=True)
class Environment:
    database_url: str
    s3: Any
    bucket: str

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


@contextmanager
def started(work: Path) -> Iterator[Environment]:
    keys = {"s3_access_key": "BENCH" + secrets.token_hex(8).upper(), "s3_secret_key": secrets.token_urlsafe(30)}
    credentials = (keys["s3_access_key"], keys["s3_secret_key"])
    server, database_url = start_postgres(work / "postgres", work / "postgres.log")
    ministack = MiniStack(ROOT / ".tools/ministack/bin/ministack", free_port(), work / "s3", credentials, REGION)
    try:
        ministack.start((work / "ministack.log").open("ab"))
        s3, _ = clients(ministack.endpoint, credentials, REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        signing_key(ministack.endpoint, credentials, REGION)
        handler_environment(database_url, ministack.endpoint, BUCKET, REGION, keys)
        yield Environment(database_url, s3, BUCKET)
    finally:
        ministack.stop()
        server.stop()


class StatementCounter:
    """Counts the SQL statements and transactions the product sends, per thread (psycopg hook)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.total_statements = 0
        self.total_transactions = 0

    def reset(self) -> None:
        self._local.statements = 0
        self._local.transactions = 0

    @property
    def statements(self) -> int:
        return int(getattr(self._local, "statements", 0))

    @property
    def transactions(self) -> int:
        return int(getattr(self._local, "transactions", 0))

    def _statement(self, count: int = 1) -> None:
        self._local.statements = self.statements + count
        with self._lock:
            self.total_statements += count

    def _transaction(self) -> None:
        self._local.transactions = self.transactions + 1
        with self._lock:
            self.total_transactions += 1

    @contextmanager
    def installed(self) -> Iterator[StatementCounter]:
        cursor, connection = psycopg.Cursor, psycopg.Connection
        execute, executemany, transaction = cursor.execute, cursor.executemany, connection.transaction
        counter = self

        def counted_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            counter._statement()
            return execute(self, query, params, **kwargs)

        def counted_executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            rows = list(params_seq)
            counter._statement()  # one pipelined statement, however many rows
            return executemany(self, query, rows, **kwargs)

        def counted_transaction(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter._transaction()
            return transaction(self, *args, **kwargs)

        cursor.execute, cursor.executemany = counted_execute, counted_executemany  # type: ignore[method-assign]
        connection.transaction = counted_transaction  # type: ignore[method-assign]
        try:
            yield self
        finally:
            cursor.execute, cursor.executemany = execute, executemany  # type: ignore[method-assign]
            connection.transaction = transaction  # type: ignore[method-assign]
