"""The bench's statement counter: a floor's replay carries the same counting hooks as the
product's invocation, so that their cost is on both sides of a ratio, and none of what it
counts lands in the product's trace."""

from __future__ import annotations

from typing import Any

import psycopg
from exam_depository.adapters.db import audit as db_audit
from exam_depository.domain import audit, audit_log
from exam_depository.domain.access import Role
from psycopg.rows import dict_row

from bench.environment import FLOOR_CHAINS, StatementCounter
from bench.floors import cpu_beside_floor, floor_chain


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


def test_a_floor_replays_an_audit_append_as_itself_on_a_chain_of_its_own(clean_database: str) -> None:
    # Given an exam, the floors' own chains, and an invocation that appends one event to the
    # exam's chain in a transaction (adapters.db.audit.append: one statement)
    owner = audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", Role.OWNER, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
    event = audit.Event(owner, audit.AuditAction.STUDENT_ADDED, "student:anon-00000A", subjects=("anon-00000A",))
    counter = StatementCounter()
    with psycopg.connect(clean_database, autocommit=True, row_factory=dict_row) as conn, counter.installed():
        exam_pk = _exam(conn)
        conn.execute(FLOOR_CHAINS)

        def invocation() -> None:
            with conn.transaction():
                db_audit.append(conn, exam_pk, [event])

        # When it is measured beside its floor
        cpu_beside_floor(invocation, counter, conn)

        # Then the product's trace holds the append's text, the exam's chain its one event...
        assert [statement.text for statement in counter.trace.statements] == [db_audit._APPEND]
        exam_events = _events(conn, exam_pk)
        # ...and the floor made the same append (same text, same body) on its own chain: hashed
        # and indexed by PostgreSQL as the product's, and leaving the exam's chain as it was
        floor_events = _events(conn, floor_chain(1))
    assert [(e.seq, e.action, e.target, e.actor) for e in exam_events] == [
        (1, "student.added", "student:anon-00000A", owner.id)
    ]
    assert [(e.seq, audit.item_body(e)) for e in floor_events] == [(1, audit.body(event))]
    assert audit_log.chain_break(floor_events) is None
    assert audit_log.chain_break(exam_events) is None


def _exam(conn: psycopg.Connection[dict[str, Any]]) -> int:
    """An exam as any layer inserts it: its head comes from the trigger."""
    row = conn.execute(
        """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
           VALUES ('floor-append', 'Physics', now(), now() + interval '1 hour', now() + interval '1 hour', 'UTC', 3)
           RETURNING id"""
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _events(conn: psycopg.Connection[dict[str, Any]], exam_pk: int) -> list[audit_log.AuditItem]:
    with conn.transaction():
        return list(db_audit.stream(conn, exam_pk, db_audit.head(conn, exam_pk).seq))
