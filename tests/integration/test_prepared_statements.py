"""Server-side prepared statements (DB_PREPARED_STATEMENTS): a warm function plans a repeated
statement once; a migration run from another connection while it is warm that adds columns does
not break it, and one that changes a returned column's type costs one 503, then it plans again."""

from __future__ import annotations

import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import db

from tests.integration.conftest import Api

RUNS = 7  # psycopg prepares a statement at its 5th run on a connection


def _prepared_on_this_connection() -> int:
    row = db.connection().execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()
    assert row is not None
    return int(row["n"])


def _status(api: Api, upload_code: str) -> int:
    return api.call("get_upload_status", "by_code", path_params={"upload_code": upload_code}).status


def test_a_warm_function_prepares_the_statements_it_repeats(api: Api) -> None:
    student = api.create_student()
    for _ in range(RUNS):
        assert _status(api, student["upload_code"]) == 200
    assert _prepared_on_this_connection() >= 1


def test_prepared_statements_can_be_turned_off_for_a_pooler(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PREPARED_STATEMENTS", "false")
    config.reset()
    db.reset()
    student = api.create_student()
    for _ in range(RUNS):
        assert _status(api, student["upload_code"]) == 200
    assert _prepared_on_this_connection() == 0


def test_a_migration_from_another_connection_does_not_break_warm_statements(api: Api, database_url: str) -> None:
    """Append-only migrations add columns: a prepared statement over the changed tables is
    planned again by PostgreSQL, and answers as before, because no query's result is `table.*`."""
    student = api.create_student()
    for _ in range(RUNS):
        assert _status(api, student["upload_code"]) == 200
        assert api.call("get_exam", "by_id").status == 200
    assert _prepared_on_this_connection() >= 2
    added = ("submission", "student", "exam", "upload")
    with psycopg.connect(database_url, autocommit=True) as migration:
        for table in added:
            migration.execute(f"ALTER TABLE {table} ADD COLUMN added_by_a_migration text")
        try:
            for _ in range(2):
                assert _status(api, student["upload_code"]) == 200
                assert api.call("get_exam", "by_id").status == 200
        finally:
            for table in added:
                migration.execute(f"ALTER TABLE {table} DROP COLUMN added_by_a_migration")


def test_a_changed_column_type_costs_one_retryable_503_then_the_route_plans_again(api: Api, database_url: str) -> None:
    for _ in range(RUNS):
        assert api.call("get_exam", "by_id").status == 200
    with psycopg.connect(database_url, autocommit=True) as migration:
        migration.execute("ALTER TABLE exam ALTER COLUMN max_attempts TYPE bigint")
        try:
            refused = api.call("get_exam", "by_id")
            assert refused.status == 503, refused.body
            assert api.call("get_exam", "by_id").status == 200
        finally:
            migration.execute("ALTER TABLE exam ALTER COLUMN max_attempts TYPE integer")


def test_a_changed_column_type_under_a_one_statement_route_costs_one_503_then_it_plans_again(
    api: Api, database_url: str
) -> None:
    # Given a route whose unit of work is one statement (no transaction, so no rollback to make
    # psycopg forget its prepared statements), warm with its statement prepared
    student = api.create_student()
    for _ in range(RUNS):
        assert _status(api, student["upload_code"]) == 200
    with psycopg.connect(database_url, autocommit=True) as migration:
        # When a migration changes the type of a column its statement returns
        migration.execute("ALTER TABLE exam ALTER COLUMN max_attempts TYPE bigint")
        try:
            # Then one request is refused as retryable, and the next plans afresh and answers
            refused = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]})
            assert refused.status == 503, refused.body
            assert _status(api, student["upload_code"]) == 200
            assert _status(api, student["upload_code"]) == 200
        finally:
            migration.execute("ALTER TABLE exam ALTER COLUMN max_attempts TYPE integer")
