"""The bench's statement counter: a floor's replay carries the same counting hooks as the
product's invocation, so that their cost is on both sides of a ratio, and none of what it
counts lands in the product's trace."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import psycopg
from exam_depository.adapters import db, queues
from exam_depository.adapters.db import audit as db_audit
from exam_depository.domain import audit, audit_log
from exam_depository.domain.access import Role
from psycopg.rows import dict_row

from bench.environment import FLOOR_CHAINS, StatementCounter, Trace
from bench.floors import cpu_beside_floor, floor_chain, replay
from local_stack.functions import LambdaContext
from tests.integration.conftest import REGION, Api, Bucket, queued_in_sqs, sqs_event


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


def _recorded_with_trace(
    api: Api, bucket: Bucket, handler: Callable[[str], ModuleType], counter: StatementCounter, upload_code: str
) -> Trace:
    """A file handed in by the student of this code, recorded by the record function with the
    counter's hooks in place: the recording's trace."""
    form = api.request_upload(upload_code).body
    bucket.upload(form, b"%PDF-1.7 answers")
    notification = bucket.notification(form["fields"]["key"], len(b"%PDF-1.7 answers"))
    counter.reset()
    result = handler("record_submissions").lambda_handler(sqs_event({"Records": [notification]}), LambdaContext())
    assert result == {"batchItemFailures": []}
    return counter.trace


def test_a_recordings_floor_replays_its_receipts_insert_and_its_hand_over_to_the_mail_queue(
    api: Api, bucket: Bucket, handler: Callable[[str], ModuleType], mail_queue: str
) -> None:
    # Given a student with an address, whose file is recorded with the counter's hooks in place
    student = api.create_student("ana", email="ana@example.org")
    queues._sweep_due_at = None  # a new environment: its hand-off asks for a sweep
    counter = StatementCounter()
    with counter.installed():
        trace = _recorded_with_trace(api, bucket, handler, counter, student["upload_code"])

        # Then its trace holds the receipt's INSERT as a write in the recording's transaction, the
        # note that SQS took it as a write after the commit, and the one SendMessageBatch
        [insert] = [s for s in trace.statements if "INSERT INTO message" in s.text]
        assert insert.writes
        assert insert.transaction is not None
        [noted] = [s for s in trace.statements if s.text.startswith("UPDATE message SET enqueued_at")]
        assert noted.writes
        assert noted.transaction is None
        [handed_over] = [r for r in trace.aws_requests if r.operation == "SendMessageBatch"]
        assert (handed_over.service, handed_over.params["QueueUrl"], handed_over.pooled) == ("sqs", mail_queue, False)
        # and the delayed sweep request after it, one SendMessage
        [sweep_request] = [r for r in trace.aws_requests if r.operation == "SendMessage"]
        assert (sweep_request.params["QueueUrl"], sweep_request.params["DelaySeconds"]) == (mail_queue, 900)
        # (what the test itself asks, out of the trace)
        with counter.paused():
            [message_id] = queued_in_sqs(mail_queue)
            conn = db.connection()
            conn.execute("CREATE TEMP TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
            conn.execute("INSERT INTO bench_floor VALUES (1, 0)")

        # When the floor replays the trace on the product's connection
        with counter.paused():
            replay(trace, conn)

    # Then each write, the INSERT and the note among them, was a one-row UPDATE of the floor's own
    # row, and the batch was handed to the mail queue again, as itself; no message was made twice
    writes = sum(s.rows for s in trace.statements if s.writes and not s.appends)
    assert conn.execute("SELECT n FROM bench_floor").fetchone() == {"n": writes}
    assert queued_in_sqs(mail_queue) == [message_id]
    assert conn.execute("SELECT count(*) AS n FROM message").fetchone() == {"n": 1}
    # and the sweep request was made again as itself: the queue holds the product's and the floor's
    delayed = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=mail_queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "2"


def test_a_recording_whose_student_has_no_address_asks_nothing_more_of_the_outside(
    api: Api, bucket: Bucket, handler: Callable[[str], ModuleType], mail_queue: str
) -> None:
    student = api.create_student("ben")
    counter = StatementCounter()
    with counter.installed():
        trace = _recorded_with_trace(api, bucket, handler, counter, student["upload_code"])
    assert [s.text for s in trace.statements if "message" in s.text] == []
    assert [r.operation for r in trace.aws_requests if r.service == "sqs"] == []


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
