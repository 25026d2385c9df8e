"""The audit log: appending an exam's events to its hash chain, reading them back, the signed
checkpoints of its head, and what goes when an exam is deleted (domain/audit.py has the rules).

`append` writes each event in the caller's transaction, so the event commits or rolls back with
the change it records. It moves the exam's `audit_head` row, which stays locked until the commit:
one exam's appends queue there, others are untouched. Call it last in a unit of work, so that the
lock is held for as short a time as possible. PostgreSQL's clock dates the event and PostgreSQL
computes its hash, the same `link` as the domain's, over the body text written there.

A trigger (migrations/0011.audit.sql) refuses every UPDATE, DELETE and TRUNCATE of the events and
checkpoints while their exam exists, and a tombstone younger than 30 days after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg.sql

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.audit import AuditAction, CheckpointReason, Event, body, body_around_count

if TYPE_CHECKING:
    from exam_depository.domain.audit_log import AuditItem, Head

# The log's events (domain.audit_log) are imported by the statements that read them: a function that
# only appends loads none of them; those that read (the audit route, exports, checkpoints) have
# loaded them at init through their use cases.


@dataclass(frozen=True)
class CheckpointedExam:
    """What a checkpoint names an exam by: its public id, and when it was made."""

    exam_id: str
    created_at: datetime


_APPEND = """
WITH advanced AS (
    UPDATE audit_head h SET seq = h.seq + 1, prev_hash = h.hash, at = greatest(c.now, h.at),
           hash = encode(sha256(convert_to(concat_ws(E'\\n', h.hash, h.seq + 1,
                  to_char(greatest(c.now, h.at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  %(body)s::text), 'UTF8')), 'hex')
    FROM (SELECT clock_timestamp() AS now) c
    WHERE h.exam_pk = %(audit_exam)s RETURNING h.seq, h.at, h.prev_hash, h.hash)
INSERT INTO audit_event (exam_pk, seq, at, actor, role, action, target, before, after, request_id, subjects,
                         prev_hash, hash)
SELECT %(audit_exam)s, a.seq, a.at, j.b->>'actor', j.b->>'role', j.b->>'action', j.b->>'target', j.b->'before',
       j.b->'after', j.b->>'request_id', %(subjects)s::text[], a.prev_hash, a.hash
FROM advanced a, (SELECT %(body)s::jsonb AS b) j
"""
# `clock_timestamp()` is read once (`c`), so the stored `at` is the hashed one; `greatest(…, h.at)`:
# `at` never goes back along a chain (a clock stepped back, a transaction begun earlier). Every
# statement that appends names the chain's exam `%(audit_exam)s`: the bench's floor
# (bench/floors.py) replays such a statement as itself on a chain of its own by that name.


def append(conn: Connection, exam_pk: int, events: Sequence[Event]) -> None:
    """Append `events`, in order, to the exam's chain: one statement each, in the caller's
    transaction. An exam without a head (none: every exam gets one as it is inserted) raises, so
    that no change commits without its event."""
    for event in events:
        cursor = conn.execute(_APPEND, {"audit_exam": exam_pk, "body": body(event), "subjects": list(event.subjects)})
        if cursor.rowcount != 1:
            raise RuntimeError(f"exam {exam_pk} has no audit head: its event cannot be appended")


# `append` for events about rows a statement decides, in that statement: its CTEs go after the
# statement's own (in a WITH RECURSIVE: the chain is a recursion over the events). The head is
# read and locked first (`audit_from`: in READ COMMITTED, FOR UPDATE waits for an appender and
# gives the head it left), each event is linked to the one before with one instant, and the head
# moves to the last: the same seq, at, hash and body text as `append` writes, event by event.
_COUNTED_APPEND = """,
audit_shown AS (SELECT count(*) AS n, array_agg(r.pseudonym ORDER BY r.position) AS subjects FROM ({rows}) r),
audit_from AS (
    SELECT h.seq, h.hash, greatest(c.now, h.at) AS at
    FROM audit_head h, (SELECT clock_timestamp() AS now) c, audit_shown s
    WHERE h.exam_pk = %(audit_exam)s AND s.n > 0 FOR UPDATE OF h),
audit_chain (ord, seq, at, prev_hash, hash, body) AS (
    SELECT 0::bigint, f.seq, f.at, NULL::text, f.hash, NULL::text FROM audit_from f
    UNION ALL
    SELECT e.ord, c.seq + 1, c.at, c.hash,
           encode(sha256(convert_to(concat_ws(E'\\n', c.hash, c.seq + 1,
                  to_char(c.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), e.body), 'UTF8')), 'hex'),
           e.body
    FROM audit_chain c
    JOIN (SELECT b.ord, b.head || s.n::text || b.tail AS body
          FROM unnest(%(audit_heads)s::text[], %(audit_tails)s::text[]) WITH ORDINALITY AS b(head, tail, ord),
               audit_shown s) e ON e.ord = c.ord + 1),
audit_moved AS (
    UPDATE audit_head h SET seq = l.seq, at = l.at, prev_hash = l.prev_hash, hash = l.hash
    FROM (SELECT * FROM audit_chain ORDER BY ord DESC LIMIT 1) l
    WHERE h.exam_pk = %(audit_exam)s AND l.ord > 0),
audit_appended AS (
    INSERT INTO audit_event (exam_pk, seq, at, actor, role, action, target, before, after, request_id, subjects,
                             prev_hash, hash)
    SELECT %(audit_exam)s, c.seq, c.at, j.b->>'actor', j.b->>'role', j.b->>'action', j.b->>'target', j.b->'before',
           j.b->'after', j.b->>'request_id', s.subjects, c.prev_hash, c.hash
    FROM audit_chain c CROSS JOIN LATERAL (SELECT c.body::jsonb AS b) j, audit_shown s
    WHERE c.ord > 0 ORDER BY c.ord)
"""


def counted_append(rows: str, exam_pk: int, events: Sequence[Event]) -> tuple[str, dict[str, object]]:
    """CTEs and their parameters that append `events` to the exam's chain in the statement they
    end the WITH RECURSIVE list of, as `append` would have after it: `rows` (SQL of that statement
    with columns `pseudonym` and `position`) are the students shown; each event's count is how many
    (its `after` is {"count": ...}) and its subjects their pseudonyms by position. Nothing is
    appended when `rows` is empty. The bodies are written here, but for the count (`body_around_count`)."""
    parts = [body_around_count(event) for event in events]
    parameters: dict[str, object] = {
        "audit_exam": exam_pk,
        "audit_heads": [head for head, _ in parts],
        "audit_tails": [tail for _, tail in parts],
    }
    return _COUNTED_APPEND.replace("{rows}", rows), parameters


_COLUMNS = "seq, at, actor, role, action, target, before, after, request_id, prev_hash, hash"


def page(
    conn: Connection,
    exam_pk: int,
    *,
    before_seq: int | None,
    limit: int,
    subject: str | None,
    action: AuditAction | str | None,
) -> list[AuditItem]:
    """Up to `limit` events, newest first, older than `before_seq` (None: from the newest), of
    `action`, and about `subject` where given: the pseudonym of the exam's student with that
    nickname, or else `subject` itself (a pseudonym, also of a student deleted since)."""
    conditions = [psycopg.sql.SQL("exam_pk = %(exam)s")]
    if before_seq is not None:
        conditions.append(psycopg.sql.SQL("seq < %(before)s"))
    if subject is not None:
        conditions.append(
            psycopg.sql.SQL(
                """subjects @> ARRAY[coalesce((SELECT pseudonym FROM student
                                                WHERE exam_id = %(exam)s AND lower(nickname) = lower(%(subject)s)),
                                               %(subject)s::text)]"""
            )
        )
    if action is not None:
        conditions.append(psycopg.sql.SQL("action = %(action)s"))
    query = psycopg.sql.SQL("SELECT {columns} FROM audit_event WHERE {where} ORDER BY seq DESC LIMIT %(limit)s").format(
        columns=psycopg.sql.SQL(_COLUMNS), where=psycopg.sql.SQL(" AND ").join(conditions)
    )
    parameters = {"exam": exam_pk, "before": before_seq, "subject": subject, "action": action, "limit": limit}
    from exam_depository.domain.audit_log import AuditItem

    with conn.cursor(row_factory=rows_of(AuditItem)) as cur:
        return cur.execute(query, parameters).fetchall()


STREAM_BATCH = 500  # rows per round trip: a few hundred KB at most, whatever the log's length


def stream(conn: Connection, exam_pk: int, upto_seq: int) -> Iterator[AuditItem]:
    """The chain up to `upto_seq`, oldest first, through a server-side cursor (the caller's
    transaction must stay open while it is read): memory stays bounded however long the log."""
    from exam_depository.domain.audit_log import AuditItem

    with conn.cursor("audit_stream", row_factory=rows_of(AuditItem)) as cur:
        cur.itersize = STREAM_BATCH
        cur.execute(
            f"SELECT {_COLUMNS} FROM audit_event WHERE exam_pk = %s AND seq <= %s ORDER BY seq",
            (exam_pk, upto_seq),
        )
        yield from cur


def head(conn: Connection, exam_pk: int) -> Head:
    """The chain's head as this transaction sees it (later appends wait on its row, not on this)."""
    from exam_depository.domain.audit_log import Head

    with conn.cursor(row_factory=rows_of(Head)) as cur:
        row = cur.execute("SELECT seq, hash, at FROM audit_head WHERE exam_pk = %s", (exam_pk,)).fetchone()
    if row is None:
        raise RuntimeError(f"exam {exam_pk} has no audit head")
    return row


def checkpointed_exam(conn: Connection, exam_pk: int) -> CheckpointedExam | None:
    """The exam a checkpoint is about; None once it is deleted."""
    with conn.cursor(row_factory=rows_of(CheckpointedExam)) as cur:
        return cur.execute("SELECT slug AS exam_id, created_at FROM exam WHERE id = %s", (exam_pk,)).fetchone()


def insert_checkpoint(conn: Connection, exam_pk: int, head: Head, reason: CheckpointReason, token: str) -> None:
    """Keep a signed checkpoint of `head`; the same head checkpointed for the same reason again
    keeps the first."""
    conn.execute(
        """INSERT INTO audit_checkpoint (exam_pk, seq, hash, reason, token) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (exam_pk, seq, reason) DO NOTHING""",
        (exam_pk, head.seq, head.hash, reason, token),
    )


def forget_deleted_exam(conn: Connection, exam_pk: int) -> int:
    """After `DELETE FROM exam` in the same transaction: the exam's events but its tombstone
    (`exam.deleted`), and its checkpoints, go; returns how many events went."""
    conn.execute("DELETE FROM audit_checkpoint WHERE exam_pk = %s", (exam_pk,))
    return conn.execute(
        "DELETE FROM audit_event WHERE exam_pk = %s AND action <> %s", (exam_pk, AuditAction.EXAM_DELETED)
    ).rowcount


def purge(conn: Connection, *, tombstones_before: datetime) -> int:
    """Forget the chains of deleted exams whose last event (the tombstone; for an exam an older
    layer deleted, whatever came last) is older than `tombstones_before`: their events,
    checkpoints and head. Returns how many exams' chains went. None younger than 30 days goes,
    whatever is asked: the trigger would refuse its tombstone."""
    gone = [
        row["exam_pk"]
        for row in conn.execute(
            # Never a chain whose last event the trigger would keep (a tombstone younger than 30
            # days, by the database's clock): the purge would fail whole.
            """SELECT h.exam_pk FROM audit_head h
               WHERE h.at < least(%s, now() - interval '30 days')
                 AND NOT EXISTS (SELECT 1 FROM exam WHERE exam.id = h.exam_pk)
               FOR UPDATE OF h SKIP LOCKED""",
            (tombstones_before,),
        ).fetchall()
    ]
    if not gone:
        return 0
    conn.execute("DELETE FROM audit_checkpoint WHERE exam_pk = ANY(%s)", (gone,))
    conn.execute("DELETE FROM audit_event WHERE exam_pk = ANY(%s)", (gone,))
    conn.execute("DELETE FROM audit_head WHERE exam_pk = ANY(%s)", (gone,))
    return len(gone)


def exams_to_checkpoint(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Exams whose last cut-off (their own, or a student's extension) passed before `now` with no
    `closed` checkpoint signed since, latest first, at most `limit`."""
    rows = conn.execute(
        """SELECT e.id FROM exam e
           CROSS JOIN LATERAL (SELECT greatest(e.cutoff_at, max(s.extension_cutoff_at)) AS last_cutoff
                               FROM student s WHERE s.exam_id = e.id) l
           WHERE e.cutoff_at < %(now)s AND l.last_cutoff < %(now)s
             AND NOT EXISTS (SELECT 1 FROM audit_checkpoint c
                             WHERE c.exam_pk = e.id AND c.reason = 'closed' AND c.signed_at >= l.last_cutoff)
           ORDER BY l.last_cutoff DESC LIMIT %(limit)s""",
        {"now": now, "limit": limit},
    ).fetchall()
    return [int(row["id"]) for row in rows]
