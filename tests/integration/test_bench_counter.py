"""The bench's statement counter: a floor's replay carries the same counting hooks as the
product's invocation, so that their cost is on both sides of a ratio, and none of what it
counts lands in the product's trace."""

from __future__ import annotations

import psycopg

from bench.environment import StatementCounter


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
