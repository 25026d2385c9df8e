"""The audit log in PostgreSQL: the chain PostgreSQL computes is the domain's, the log cannot be
changed by the application's own connection, an event commits with its change or not at all, and
concurrent appends queue into one unbroken chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from exam_depository.adapters.db import audit as db_audit
from exam_depository.domain import audit
from exam_depository.domain.access import Role
from psycopg.rows import dict_row

OWNER = audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", Role.OWNER, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")


def _connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


@pytest.fixture
def conn(clean_database: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with _connect(clean_database) as connection:
        yield connection


def _exam(conn: psycopg.Connection[dict[str, Any]], slug: str = "physics-2026-12") -> int:
    """An exam as any layer inserts it: its head comes from the trigger."""
    row = conn.execute(
        """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
           VALUES (%s, 'Physics', now(), now() + interval '1 hour', now() + interval '1 hour', 'UTC', 3)
           RETURNING id""",
        (slug,),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _events(conn: psycopg.Connection[dict[str, Any]], exam_pk: int) -> list[audit.AuditItem]:
    with conn.transaction():
        return list(db_audit.stream(conn, exam_pk, db_audit.head(conn, exam_pk).seq))


def test_postgresql_hashes_an_event_as_the_domains_link_does(conn: psycopg.Connection[dict[str, Any]]) -> None:
    # Given an exam, and an event whose body holds text that is not ASCII, nested values and a null
    exam_pk = _exam(conn)
    event = audit.Event(
        OWNER,
        audit.AuditAction.EXAM_UPDATED,
        "exam",
        before={"title": "Physik — Dezember", "attempts": 3},
        after={"title": "Física, «diciembre» 😀", "attempts": 5, "zone": None},
    )
    # When it is appended twice
    with conn.transaction():
        db_audit.append(conn, exam_pk, [event, event])
    # Then each stored hash is `link` of the previous hash, the seq, the stored instant and the body
    first, second = _events(conn, exam_pk)
    assert first.prev_hash == audit.GENESIS
    assert first.hash == audit.link(audit.GENESIS, 1, audit.at_text(first.at), audit.body(event))
    assert second.prev_hash == first.hash
    assert second.hash == audit.link(first.hash, 2, audit.at_text(second.at), audit.body(event))
    # and the body rebuilt from the stored columns is the one hashed
    assert audit.item_body(second) == audit.body(event)
    assert audit.chain_break([first, second]) is None
    assert db_audit.head(conn, exam_pk) == db_audit.Head(2, second.hash, second.at)
