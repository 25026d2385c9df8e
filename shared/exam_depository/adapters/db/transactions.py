"""PostgreSQL: the one connection of this execution environment, its units of work, and how a
statement's rows become dataclasses.

The connection is created on first use and replaced when it is closed, broken, or ended by the
server while idle. It runs in autocommit mode; each unit of work is one `with transaction() as
conn:` block, or, where a hot path's unit is a single statement, `with statement() as conn:`
(PostgreSQL makes it a transaction of its own, without BEGIN and COMMIT). A lost database leaves
as `ServiceUnavailable`; a full or resuming one is waited for, within a bound (`_connect`).
"""

from __future__ import annotations

import math
import random
import select
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import fields
from functools import cache
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

import psycopg
import psycopg.sql
import psycopg.types.json
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import RowFactory, args_row, class_row, dict_row

from exam_depository.adapters import secrets_manager
from exam_depository.config import DatabaseSettings, load
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.observability import logger

Row = dict[str, Any]
Connection = psycopg.Connection[Row]


def rows_of[RowClass](cls: type[RowClass]) -> RowFactory[RowClass]:
    """psycopg's class_row, made by position when a statement's columns are the class's fields in
    their order (checked at each statement) and by name otherwise: by name, making the rows of a
    page of 500 students added up to a third to its query's time."""
    return _row_factory(cast(Any, cls))


@cache  # one per row class: made at each query, it cost a few µs of every warm route
def _row_factory(cls: type[Any]) -> RowFactory[Any]:
    # The columns' names as libpq gives them (bytes): `cursor.description` would build a Column
    # object per column at each statement, a sixth of a cheap route's time. Our names are ASCII.
    names = tuple(field.name.encode() for field in fields(cls))  # a dataclass
    by_position, by_name = args_row(cls), class_row(cls)

    def factory(cursor: Any) -> Any:
        result = cursor.pgresult
        columns = () if result is None else tuple(map(result.fname, range(result.nfields)))
        return by_position(cursor) if columns == names else by_name(cursor)

    return factory


# Per execution environment. Lambda runs one environment per process, on one thread. The local
# stack runs several in one process, each one's invocations in a context of its own (on whichever
# thread took the request), and the tests run several as threads (each thread starts with a
# context of its own): either way each environment has its own connection.
_connection: ContextVar[Connection | None] = ContextVar("connection", default=None)


def connection() -> Connection:
    current = _connection.get()
    if current is None or current.closed or current.broken or _ended_by_the_server(current):
        if current is not None:
            current.close()
        current = _connect(load(DatabaseSettings))
        _connection.set(current)
    return current


def _ended_by_the_server(conn: Connection) -> bool:
    """Between units of work the server sends an idle connection nothing but its end (a failover,
    a restart, an administrator's pg_terminate_backend: an error, then the close). Something to
    read now means the next statement would fail on it, and answer 503 after doing nothing; a poll
    of the socket sees it without a round trip."""
    waiting = select.poll()
    waiting.register(conn.fileno(), select.POLLIN)
    return bool(waiting.poll(0))


def reset() -> None:
    """Close and forget this environment's connection (tests; after the database was replaced)."""
    current = _connection.get()
    if current is not None:
        current.close()
    _connection.set(None)


def transaction() -> AbstractContextManager[Connection]:
    """One unit of work. A lost database becomes ServiceUnavailable; the next call reconnects."""
    return _unit_of_work(in_transaction=True)


def statement() -> AbstractContextManager[Connection]:
    """A unit of work that is one statement. The connection is in autocommit, so PostgreSQL runs
    the statement as a transaction of its own: no BEGIN and COMMIT, two round trips of the three
    that `transaction()` would make. Its errors leave as `transaction()`'s do."""
    return _unit_of_work(in_transaction=False)


@contextmanager
def _unit_of_work(*, in_transaction: bool) -> Iterator[Connection]:
    conn = None
    try:
        conn = connection()
        if in_transaction:
            with ExitStack() as began:
                conn = _begin(conn, began)
                yield conn
        else:
            yield conn
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable("PostgreSQL is unavailable", service="PostgreSQL") from exc
    except (psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        # The code is ahead of the schema: during a deployment a new function can be served before
        # the migration step has run (an extension, a table or a column it adds). A retry in a
        # moment finds it; a statement wrong for every schema fails the tests as this 503.
        raise ServiceUnavailable(
            "PostgreSQL lacks what this code needs: a migration still to run", service="PostgreSQL", reason="starting"
        ) from exc
    except psycopg.errors.FeatureNotSupported as exc:
        if _PLAN_CHANGED not in str(exc):
            raise
        # A migration changed a column's type under one of this connection's prepared
        # statements. A transaction's rollback made psycopg forget them all; a statement alone
        # has no rollback, so its connection is closed. Either way a retry plans afresh.
        if not in_transaction and conn is not None:
            conn.close()
        raise ServiceUnavailable(
            "A migration changed a prepared statement's result; retry", service="PostgreSQL"
        ) from exc


_PLAN_CHANGED = "cached plan must not change result type"


def _begin(conn: Connection, began: ExitStack) -> Connection:
    """BEGIN on `conn`, its end entered in `began`. A session the server ended after the poll of
    `connection()` (an administrator's or a rotation's pg_terminate_backend, a failover) fails at
    BEGIN, when nothing of the unit of work was sent: connect again, once, rather than answer 503
    to a request a client may not send twice."""
    try:
        began.enter_context(conn.transaction())
        return conn
    except psycopg.OperationalError:
        conn.close()
        conn = connection()
        began.enter_context(conn.transaction())
        return conn


def _connect(settings: DatabaseSettings) -> Connection:
    """A new connection. When PostgreSQL is full or does not answer yet, the connect is tried again,
    with backoff and jitter, for up to `connect_wait_s`: a burst's connections come free within
    milliseconds, and a paused Aurora holds a new connection while it resumes (15 to 30 s). When it
    refuses the password, the secret is read again from Secrets Manager, once, and the connect
    tried again at once: the password was rotated since it was cached. What still cannot connect
    leaves as ServiceUnavailable saying which, with when to retry."""
    conninfo = _conninfo(settings)
    deadline = time.monotonic() + settings.connect_wait_s
    backoff_s = _FIRST_BACKOFF_S
    read_again = False
    while True:
        remaining_s = deadline - time.monotonic()
        try:
            return psycopg.connect(
                conninfo,
                autocommit=True,
                row_factory=dict_row,
                # Whole seconds, at least 2 (libpq's rule, which psycopg follows): an attempt
                # may end up to 2 s after the deadline.
                connect_timeout=max(2, min(settings.connect_timeout_s, math.ceil(remaining_s))),
                # psycopg's default: a statement is prepared at its 5th run on this connection.
                prepare_threshold=5 if settings.prepared_statements else None,
                application_name="exam-depository",
            )
        except psycopg.OperationalError as exc:
            reason = _refusal(exc)
            if reason == "credentials" and settings.secret_arn is None:
                reason = "unavailable"  # DATABASE_URL's password does not change: no retry mends it
            if reason == "credentials" and not read_again:
                logger.info("PostgreSQL refused the cached password: the database's secret is read again")
                conninfo = _conninfo(settings, fresh=True)
                read_again = True
                continue
            if reason == "unavailable":
                raise ServiceUnavailable("PostgreSQL is unavailable", service="PostgreSQL") from exc
            if reason == "credentials":
                # During a rotation Secrets Manager may give the previous password for up to a
                # minute: the client's retry, after Retry-After, reads the secret again.
                raise ServiceUnavailable(
                    "PostgreSQL refused the password of the database's secret, read afresh",
                    service="PostgreSQL",
                    reason=reason,
                    retry_after_s=_RETRY_AFTER_S[reason],
                ) from exc
            pause_s = backoff_s / 2 + random.uniform(0, backoff_s / 2)  # noqa: S311  # jitter, no secret
            if time.monotonic() + pause_s >= deadline:
                raise ServiceUnavailable(
                    f"PostgreSQL is {'full' if reason == 'busy' else 'not answering yet'}"
                    f" after {settings.connect_wait_s:g} s of retries",
                    service="PostgreSQL",
                    reason=reason,
                    retry_after_s=_RETRY_AFTER_S[reason],
                ) from exc
            time.sleep(pause_s)
            backoff_s = min(backoff_s * 2, _LAST_BACKOFF_S)


_FIRST_BACKOFF_S = 0.05
_LAST_BACKOFF_S = 1.0
# A full database frees connections as fast as requests end; a resuming one takes 15 to 30 s, of
# which the function has waited connect_wait_s already; a rotation's new password reaches every
# reader of the secret within about a minute (AWS, "Managed rotation for AWS Secrets Manager
# secrets"), and each retry reads it again.
_RETRY_AFTER_S: dict[Literal["busy", "starting", "credentials"], int] = {"busy": 2, "starting": 5, "credentials": 5}
# PostgreSQL refuses a connection it cannot serve yet with SQLSTATE 53300 (too_many_connections)
# or 57P03 (cannot_connect_now), and a password it does not know with 28P01
# (invalid_password). libpq keeps no SQLSTATE for a refused startup, only the server's message
# (psycopg's `sqlstate` is None there): these are PostgreSQL's messages for those codes.
_FULL = ("too many clients", "too many connections", "remaining connection slots are reserved")
_NOT_YET = (
    "the database system is starting up",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "the database system is in recovery mode",
    "the database system is shutting down",
)
_WRONG_PASSWORD = ("password authentication failed for user",)


_SQLSTATES: dict[str, Literal["busy", "starting", "credentials"]] = {
    "53300": "busy",
    "57P03": "starting",
    "28P01": "credentials",
}


def _refusal(exc: psycopg.OperationalError) -> Literal["busy", "starting", "credentials", "unavailable"]:
    """Why a connect failed, as a client is told: full, not answering yet (a connect that timed
    out: a paused Aurora holds it while it resumes), the password refused, or anything else."""
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return "starting"
    # The code, where the driver has one (a later libpq may keep it); else the server's words.
    if exc.sqlstate in _SQLSTATES:
        return _SQLSTATES[exc.sqlstate]
    message = str(exc)
    if any(text in message for text in _FULL):
        return "busy"
    if any(text in message for text in _NOT_YET):
        return "starting"
    if any(text in message for text in _WRONG_PASSWORD):
        return "credentials"
    return "unavailable"


def _conninfo(settings: DatabaseSettings, *, fresh: bool = False) -> str:
    """The connection string: the URL as given, or built from the secret (cached, or read from
    Secrets Manager when `fresh`)."""
    if settings.database_url is not None:
        return settings.database_url
    assert settings.secret_arn is not None  # the settings model requires it, and then a region
    assert settings.region is not None
    secret = secrets_manager.read_json(
        settings.secret_arn, region=settings.region, max_age_s=settings.secret_max_age_s, fresh=fresh
    )
    return conninfo_from_secret(settings, secret)


def conninfo_from_secret(settings: DatabaseSettings, secret: dict[str, Any]) -> str:
    """The secret's credentials, with where the database is: DB_HOST, DB_PORT and DB_NAME first,
    then the secret's `host`, `port` and `dbname`, then PostgreSQL's port and database; the
    secret's `sslmode`, else TLS required. A host is required."""
    host = settings.host or secret.get("host")
    missing = [key for key in ("username", "password") if key not in secret] + ([] if host else ["host"])
    if missing:
        # The keys' names only: the secret's values never reach a log or an answer.
        raise RuntimeError(
            f"The database's secret has no {', '.join(missing)}"
            + ("" if host else ", and DB_HOST (the template's DatabaseHost) is unset")
        )
    return make_conninfo(
        "",
        host=host,
        port=settings.port or secret.get("port") or 5432,
        dbname=settings.dbname or secret.get("dbname") or "postgres",
        user=secret["username"],
        password=secret["password"],
        sslmode=secret.get("sslmode") or "require",
    )


def database_url() -> str:
    """The URL the migration tool connects with (it opens its own connection). The secret is read
    afresh: migrations are rare, and a cached password may have been rotated since."""
    settings = load(DatabaseSettings)
    if settings.database_url is not None:
        return settings.database_url
    info = conninfo_to_dict(_conninfo(settings, fresh=True))
    # Host and port as query values: libpq then also accepts a Unix socket directory as host.
    query = urlencode({"host": info["host"], "port": info["port"], "sslmode": info["sslmode"]})
    user, password, dbname = (quote(str(info[name]), safe="") for name in ("user", "password", "dbname"))
    return f"postgresql://{user}:{password}@/{dbname}?{query}"
