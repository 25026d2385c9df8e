"""A warm function whose session the server ended while it was idle (an administrator's
pg_terminate_backend, a failover, a restart, the password's rotation in the deployed suite):
its next request connects again and is served, rather than failing on the dead connection."""

from __future__ import annotations

import psycopg
import pytest
from exam_depository.adapters import db
from exam_depository.adapters.db import transactions

from tests.integration.conftest import Api
from tests.waiting import wait_until


def _alive(database_url: str, pid: int) -> bool:
    with psycopg.connect(database_url, autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None


def test_a_request_after_the_server_ended_the_idle_session_connects_again_and_is_served(
    api: Api, database_url: str
) -> None:
    # Given a warm function: a request served, its connection open and idle
    api.create_student("first")
    ended = db.connection().info.backend_pid

    # When the server ends that session
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (ended,))
    wait_until(lambda: not _alive(database_url, ended), timeout_s=30, what="the session ended")

    # Then the next request (one a client may not send twice) is served, on a new connection
    created = api.create_student("second")
    assert created["upload_code"]
    assert db.connection().info.backend_pid != ended


def test_a_session_ended_after_the_check_and_before_begin_is_replaced_and_the_request_served(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a warm function whose idle session the server ends just after the function looked at
    # it (the poll saw nothing yet): the race a rotation's pg_terminate_backend runs with requests
    api.create_student("first")
    ended = db.connection().info.backend_pid
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (ended,))
    wait_until(lambda: not _alive(database_url, ended), timeout_s=30, what="the session ended")
    monkeypatch.setattr(transactions, "_ended_by_the_server", lambda conn: False)

    # When a request that a client may not send twice comes: its BEGIN meets the ended session
    created = api.create_student("second")

    # Then it is served all the same, on a new connection (nothing was sent before BEGIN failed)
    assert created["upload_code"]
    assert db.connection().info.backend_pid != ended
