"""The audit log read back: its events as stored (`AuditItem`), the check of a chain from GENESIS
and against a signed checkpoint (`chain_break`), what a checkpoint states, and the log as CSV
(docs/AUDIT.md). Plain functions, no I/O; `domain.audit` has the events, their canonical body and
the link that chains them.

Apart from `domain.audit` because every function that records an event loads that one at its cold
start, and only the audit route, the exports and the checkpoints read the log back (three
dataclasses and the csv module, about 1.2 ms of each other function's init)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from exam_depository.domain.audit import (
    GENESIS,
    CheckpointReason,
    Json,
    at_text,
    canonical,
    item_body,
    link,
)
from exam_depository.domain.instants import rfc3339


@dataclass(frozen=True)
class Head:
    """A chain's last event (`adapters.db.audit.head` reads it, a checkpoint signs it): its seq
    and hash (0 and GENESIS before the first), and when."""

    seq: int
    hash: str
    at: datetime


@dataclass(frozen=True)
class AuditItem:
    """An event as stored and as read back (a row of the log, or of its CSV)."""

    seq: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str
    before: Mapping[str, Json] | None
    after: Mapping[str, Json] | None
    request_id: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Break:
    """Where a chain stops holding, and why, for people."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Checkpoint:
    """A signed claim that the chain's head was (seq, hash)."""

    seq: int
    hash: str


def chain_break(items: Iterable[AuditItem], *, checkpoint: Checkpoint | None = None) -> Break | None:
    """The first event (oldest first) whose seq, prev_hash, hash or instant is wrong, or None when
    the whole chain holds from GENESIS; with a `checkpoint`, also where the chain differs from it (a
    tail rewritten consistently, hashes and all, holds as a chain: only a signed head tells)."""
    previous: AuditItem | None = None
    reached_checkpoint = False
    for item in items:
        reason = _link_break(previous, item)
        if reason is None and checkpoint is not None and item.seq == checkpoint.seq:
            reached_checkpoint = True
            if item.hash != checkpoint.hash:
                reason = "hash differs from the signed checkpoint's"
        if reason is not None:
            return Break(item.seq, reason)
        previous = item
    if checkpoint is not None and checkpoint.seq > 0 and not reached_checkpoint:
        last = 0 if previous is None else previous.seq
        return Break(last + 1, f"the log ends before the signed checkpoint's seq {checkpoint.seq}")
    return None


def _link_break(previous: AuditItem | None, item: AuditItem) -> str | None:
    """Why `item` does not follow `previous` (None: the chain's start), or None if it does."""
    expected_seq, expected_prev = (1, GENESIS) if previous is None else (previous.seq + 1, previous.hash)
    if item.seq != expected_seq:
        return f"seq {item.seq} follows seq {expected_seq - 1}"
    if item.prev_hash != expected_prev:
        return "prev_hash is not the previous event's hash" if previous else "prev_hash is not the genesis hash"
    try:
        recomputed = link(item.prev_hash, item.seq, at_text(item.at), item_body(item))
    except ValueError:
        return "the event's fields are not ones the log writes"
    if item.hash != recomputed:
        return "hash does not match the event"
    if previous is not None and item.at < previous.at:
        return "at is earlier than the previous event's"
    return None


def checkpoint_claims(
    *,
    deployment: str,
    exam_id: str,
    exam_created_at: datetime,
    seq: int,
    hash: str,
    at: datetime,
    reason: CheckpointReason,
    issued_at: int,
) -> dict[str, Json]:
    """What a checkpoint states: this deployment's exam (its id, and when it was created: an id
    can be used again after a deletion) had, at `at`, the chain's head (seq, hash)."""
    return {
        "iss": deployment,
        "iat": issued_at,
        "purpose": "audit-checkpoint",
        "exam": exam_id,
        "exam_created_at": rfc3339(exam_created_at),
        "seq": seq,
        "hash": hash,
        "at": at_text(at),
        "reason": reason,
    }


# --- the log as CSV: what the audit route's CSV and every export's audit.csv hold ----------

CSV_COLUMNS = ("seq", "at", "actor", "role", "action", "target", "before", "after", "request_id", "prev_hash", "hash")


def csv_cells(item: AuditItem) -> list[str]:
    """An event as a CSV row, exactly as it is hashed: `at` with 6 digits, `before`/`after` as the
    canonical JSON, null as an empty cell. Every cell starts with a letter, a digit or `{`."""
    return [
        str(item.seq),
        at_text(item.at),
        item.actor,
        item.role or "",
        item.action,
        item.target,
        "" if item.before is None else canonical(item.before),
        "" if item.after is None else canonical(item.after),
        item.request_id or "",
        item.prev_hash,
        item.hash,
    ]


CSV_BATCH = 200  # events per chunk: a few tens of KB
TOO_LARGE_TO_ANSWER = (
    "This exam's audit log is too large to download here; every export's ZIP holds all of it (audit.csv)."
)


def csv_chunks(items: Iterable[AuditItem]) -> Iterator[bytes]:
    """The log as CSV, in chunks as the events are read: UTF-8 (no BOM: the verifier reads it as
    written), CRLF, a header, then each event exactly as it was hashed (`csv_cells`). No cell can
    start a formula, so none is neutralized."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for count, item in enumerate(items, start=1):
        writer.writerow(csv_cells(item))
        if count % CSV_BATCH == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
