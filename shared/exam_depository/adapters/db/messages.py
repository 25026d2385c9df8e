"""The mail ledger: each message to a student recorded before anything is sent (queued by the
send-codes route and by the recorder, in their transactions), what SES's events say of it, the
addresses that must not be mailed again, and a student's message history.

A message's idempotency key is unique: a replayed notification or a repeated request inserts
nothing. Every statement that moves a message's state moves its student's `email_state` too, by
`STUDENT_FOLLOWS` (the sender's statements in `sending` use it as well).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from exam_depository.adapters.db.transactions import Connection
from exam_depository.domain.mail import RANK, STICKY, MessageKind, MessageState, SkipReason

if TYPE_CHECKING:
    from exam_depository.domain.mail_events import MailEvent


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


# Appended to a data-modifying CTE named `moved` that returns the messages it moved as
# (id, student_id, state): the student shows the state of their latest message (`sending` as
# `queued`), and a sticky state (a dead address) yields only to another sticky one.
STUDENT_FOLLOWS = f"""UPDATE student s
   SET email_state = CASE moved.state WHEN 'sending' THEN 'queued' ELSE moved.state END, email_state_at = now()
  FROM moved
 WHERE s.id = moved.student_id AND s.last_message_id = moved.id AND moved.state <> 'skipped'
   AND (s.email_state IS NULL OR s.email_state NOT IN ({_sql_list(STICKY)})
        OR moved.state IN ({_sql_list(STICKY)}))"""


@dataclass(frozen=True)
class Queued:
    message_id: UUID
    student_id: int


@dataclass(frozen=True)
class Applied:
    matched: bool
    state: MessageState | None  # the message's state after the event (None: unmatched)
    suppressed: bool  # the event suppressed its address


@dataclass(frozen=True)
class UploadNotice:
    """A recorded submission (a receipt) or a rejected upload, to be told to its student."""

    upload_id: UUID
    student_id: int
    kind: Literal["receipt", "rejection"]


@dataclass(frozen=True)
class MessageRow:
    """One message, as a student's view lists it."""

    kind: MessageKind
    state: MessageState
    queued_at: datetime
    sent_at: datetime | None
    event_at: datetime | None
    detail: str | None


def address_key(address: str) -> str:
    """How a suppressed address is kept: the SHA-256 of its normalized form, as the SQL's
    `encode(sha256(convert_to(email_address, 'UTF8')), 'hex')`."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


def states_below(state: MessageState) -> list[MessageState]:
    """The states from which `state` is an advance (the SQL's lists, generated from `RANK`)."""
    return [old for old, rank in RANK.items() if rank < RANK[state]]


def invite(
    conn: Connection, exam_pk: int, student_ids: list[int], *, resend: bool, now: datetime
) -> tuple[list[Queued], Counter[SkipReason]]:
    raise NotImplementedError


def queue_for_uploads(conn: Connection, notices: list[UploadNotice]) -> list[UUID]:
    raise NotImplementedError


def enqueued(conn: Connection, ids: list[UUID]) -> None:
    raise NotImplementedError


def apply_event(conn: Connection, event: MailEvent) -> Applied:
    raise NotImplementedError


def history(conn: Connection, student_id: int, limit: int = 20) -> list[MessageRow]:
    raise NotImplementedError
