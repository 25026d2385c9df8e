"""The bench's statement counter: a floor's replay carries the same counting hooks as the
product's invocation, so that their cost is on both sides of a ratio, and none of what it
counts lands in the product's trace."""

from __future__ import annotations

import psycopg

from bench.environment import StatementCounter
from bench.floors import cpu_beside_floor


def test_a_floors_statements_go_through_the_counting_hooks_but_not_into_the_products_trace(
    database_url: str,
) -> None:
    counter = StatementCounter()
    with psycopg.connect(database_url, autocommit=True) as conn, counter.installed():
        counter.reset()
        with conn.transaction():
            conn.execute("SELECT 1").fetchall()
        product = counter.trace
        counted = counter.total_statements, counter.total_transactions
        with counter.paused():
            with conn.transaction():
                conn.execute("SELECT 2").fetchall()
            conn.execute("SELECT 3").fetchall()
        # The floor's statements did the hooks' work (counted in the totals)...
        assert (counter.total_statements, counter.total_transactions) == (counted[0] + 2, counted[1] + 1)
        # ...into a scratch trace: the product's is as it was, and is this thread's again.
        assert [s.text for s in product.statements] == ["SELECT 1"]
        assert product.transactions == 1
        assert counter.trace is product


def test_an_invocations_floor_replays_that_invocations_own_trace(database_url: str) -> None:
    # Given an invocation that makes one SQL statement in one transaction
    counter = StatementCounter()
    with psycopg.connect(database_url, autocommit=True) as conn, counter.installed():

        def invocation() -> int:
            with conn.transaction():
                return int(conn.execute("SELECT 41 + 1").fetchone()[0])  # type: ignore[index]

        before = counter.total_statements, counter.total_transactions

        # When it is measured beside its floor
        cpu_ms, floor_ms, result = cpu_beside_floor(invocation, counter, conn)

    # Then the floor made the same statement again, in a transaction of its own (not the
    # minimal function an empty trace stands for), and the product's trace holds only its own
    assert result == 42
    assert (counter.total_statements, counter.total_transactions) == (before[0] + 2, before[1] + 2)
    assert [statement.text for statement in counter.trace.statements] == ["SELECT 41 + 1"]
    assert cpu_ms > 0
    assert floor_ms > 0
