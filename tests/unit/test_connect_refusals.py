"""Why a connect failed, as a student is told: PostgreSQL full, not answering yet, refusing the
password, or down. The messages are PostgreSQL's own for SQLSTATE 53300, 57P03 and 28P01, as libpq
reports a refused startup."""

from __future__ import annotations

import psycopg
import pytest
from exam_depository.adapters.db.transactions import _refusal

SOCKET = 'connection failed: connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: FATAL:  '


@pytest.mark.parametrize(
    ("server_said", "reason"),
    [
        ("sorry, too many clients already", "busy"),
        ("remaining connection slots are reserved for roles with the SUPERUSER attribute", "busy"),
        ('too many connections for role "exam"', "busy"),
        ("the database system is starting up", "starting"),
        ("the database system is not yet accepting connections", "starting"),
        ('password authentication failed for user "exam"', "credentials"),
        ('password authentication failed for user "an exam\'s owner"', "credentials"),
        ('role "exam" does not exist', "unavailable"),
        ('database "exam" does not exist', "unavailable"),
    ],
)
def test_a_refused_startup_is_classed_by_what_postgresql_said(server_said: str, reason: str) -> None:
    assert _refusal(psycopg.OperationalError(SOCKET + server_said)) == reason


def test_a_connect_that_timed_out_is_a_database_not_answering_yet() -> None:
    assert _refusal(psycopg.errors.ConnectionTimeout("connection timeout expired")) == "starting"


def test_a_server_on_which_nothing_listens_is_down() -> None:
    refused = 'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    assert _refusal(psycopg.OperationalError(refused)) == "unavailable"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (psycopg.errors.TooManyConnections, "busy"),
        (psycopg.errors.CannotConnectNow, "starting"),
        (psycopg.errors.InvalidPassword, "credentials"),
    ],
)
def test_a_refusal_that_carries_its_sqlstate_is_classed_by_it_whatever_its_words(
    error: type[psycopg.OperationalError], reason: str
) -> None:
    assert _refusal(error("a message in another language")) == reason
