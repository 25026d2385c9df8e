"""Where the functions find PostgreSQL: the secret holds the credentials, alone (the master secret
RDS manages and rotates) or with the host, port and database (the full RDS format); DB_HOST,
DB_PORT and DB_NAME win over the secret, an empty one counts as unset (a template parameter left
at its default ""), and what neither gives is PostgreSQL's default port and database."""

from __future__ import annotations

from typing import Any

import pytest
from exam_depository.adapters.db.transactions import conninfo_from_secret
from exam_depository.config import DatabaseSettings
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c-AbCdEf"
RDS_MANAGED = {"username": "exam", "password": "pw-rotated-by-rds"}
FULL = {
    "engine": "postgres",
    "host": "db.cluster-abc.eu-west-1.rds.amazonaws.com",
    "port": 6432,
    "dbname": "exams",
    "username": "exam",
    "password": "pw-of-the-operator",
}
CLUSTER = "exam.cluster-xyz.eu-west-1.rds.amazonaws.com"


def settings(**environment: str) -> DatabaseSettings:
    return DatabaseSettings.model_validate({"DB_SECRET_ARN": ARN, "AWS_REGION": "eu-west-1", **environment})


def where(environment: dict[str, str], secret: dict[str, Any]) -> dict[str, Any]:
    return conninfo_to_dict(conninfo_from_secret(settings(**environment), secret))


@pytest.mark.parametrize(
    ("environment", "secret", "expected"),
    [
        # The stack created the database: its endpoint in the environment, the credentials alone.
        (
            {"DB_HOST": CLUSTER, "DB_PORT": "5432", "DB_NAME": "exam_depository"},
            RDS_MANAGED,
            (CLUSTER, "5432", "exam_depository", "exam", "pw-rotated-by-rds", "require"),
        ),
        # A given RDS-managed secret and only the host given: PostgreSQL's port and database.
        ({"DB_HOST": CLUSTER}, RDS_MANAGED, (CLUSTER, "5432", "postgres", "exam", "pw-rotated-by-rds", "require")),
        # Today's full secret, the parameters left at "": the secret says it all.
        (
            {"DB_HOST": "", "DB_PORT": "", "DB_NAME": ""},
            FULL,
            (FULL["host"], "6432", "exams", "exam", "pw-of-the-operator", "require"),
        ),
        # Both: the environment wins, each value on its own.
        (
            {"DB_HOST": CLUSTER, "DB_NAME": ""},
            FULL,
            (CLUSTER, "6432", "exams", "exam", "pw-of-the-operator", "require"),
        ),
        ({"DB_PORT": "5433"}, FULL, (FULL["host"], "5433", "exams", "exam", "pw-of-the-operator", "require")),
        # The secret's sslmode is kept (the emulator's socket directory says "disable").
        (
            {"DB_HOST": "/tmp/pg"},
            RDS_MANAGED | {"sslmode": "disable"},
            ("/tmp/pg", "5432", "postgres", "exam", "pw-rotated-by-rds", "disable"),
        ),
    ],
)
def test_the_environment_wins_over_the_secret_then_postgresql_defaults(
    environment: dict[str, str], secret: dict[str, Any], expected: tuple[str, ...]
) -> None:
    found = where(environment, secret)
    assert tuple(str(found[key]) for key in ("host", "port", "dbname", "user", "password", "sslmode")) == expected


@pytest.mark.parametrize("environment", [{}, {"DB_HOST": ""}])
def test_no_host_anywhere_is_a_configuration_error_naming_what_to_set_and_no_value(
    environment: dict[str, str],
) -> None:
    with pytest.raises(RuntimeError, match="no host, and DB_HOST") as refused:
        where(environment, RDS_MANAGED)
    assert RDS_MANAGED["password"] not in str(refused.value)


def test_a_secret_without_credentials_is_a_configuration_error_naming_the_keys() -> None:
    with pytest.raises(RuntimeError, match=r"no password$"):
        where({"DB_HOST": CLUSTER}, {"username": "exam"})


@pytest.mark.parametrize(
    "environment",
    [{"DB_PORT": "0"}, {"DB_PORT": "65536"}, {"DB_PORT": "fivefourthreetwo"}, {"AWS_REGION": ""}],
)
def test_a_wrong_setting_is_refused_at_cold_start(environment: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        settings(**environment)


def test_a_secret_needs_the_region_to_call_secrets_manager_in() -> None:
    with pytest.raises(ValidationError, match="AWS_REGION"):
        DatabaseSettings.model_validate({"DB_SECRET_ARN": ARN})


def test_a_database_url_needs_neither_region_nor_where() -> None:
    given = DatabaseSettings.model_validate({"DATABASE_URL": "postgresql://postgres@/exam_depository", "DB_HOST": ""})
    assert (given.host, given.region) == (None, None)
