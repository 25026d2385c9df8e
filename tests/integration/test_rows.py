"""How a statement's rows become dataclasses (`db.rows_of`): by position when the statement's
columns are the class's fields in their order, by name otherwise, and nothing for a statement
that returns no rows."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from exam_depository.adapters.db import rows_of


@dataclass(frozen=True)
class _Pair:
    first: str
    second: int


def test_rows_are_made_by_position_or_by_name_whatever_the_order_of_the_columns(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor(row_factory=rows_of(_Pair)) as cur:
        # The fields' order, and the other order: each value lands in its own field
        assert cur.execute("SELECT 'a' AS first, 1 AS second").fetchall() == [_Pair("a", 1)]
        assert cur.execute("SELECT 2 AS second, 'b' AS first").fetchall() == [_Pair("b", 2)]
        # Several rows, by position
        rows = cur.execute("SELECT 'c' || n AS first, n AS second FROM generate_series(1, 3) AS n").fetchall()
        assert rows == [_Pair("c1", 1), _Pair("c2", 2), _Pair("c3", 3)]
        # A statement without rows
        cur.execute("CREATE TEMPORARY TABLE scratch (n int)")
        assert cur.description is None
        assert cur.execute("INSERT INTO scratch VALUES (1)").rowcount == 1
