"""The mail ledger: each message to a student recorded before anything is sent (queued by the
send-codes route and by the recorder, in their transactions) and what SES's events say of it (a
bounce or a complaint suppresses the address: `suppressions` keeps those, apart so that adding a
student, which checks them, loads none of the mail's rules).

A message's idempotency key is unique: a replayed notification or a repeated request inserts
nothing. Every statement that moves a message's state moves its student's `email_state` too, by
`STUDENT_FOLLOWS` (the sender's statements in `sending` use it as well).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID, uuid4

from exam_depository.adapters.db.suppressions import address_key
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.mail import (
    RANK,
    REJECTIONS_PER_DAY,
    STICKY,
    InviteCandidate,
    SkipReason,
    invitation_key,
    invite_decision,
)
from exam_depository.domain.statuses import MessageState

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


def states_below(state: MessageState) -> list[MessageState]:
    """The states from which `state` is an advance (the SQL's lists, generated from `RANK`)."""
    return [old for old, rank in RANK.items() if rank < RANK[state]]


# The SQL of an address's key (`address`, an expression), as `suppressions.address_key` computes it.
_ADDRESS_KEY = "encode(sha256(convert_to({address}, 'UTF8')), 'hex')"


def suppressed(address: str) -> str:
    """The SQL of whether the address `address` (an expression) is suppressed."""
    return f"EXISTS (SELECT FROM suppressed_address x WHERE x.address_sha256 = {_ADDRESS_KEY.format(address=address)})"


def invite(
    conn: Connection, exam_pk: int, student_ids: list[int], *, resend: bool, now: datetime
) -> tuple[list[Queued], Counter[SkipReason]]:
    """Queue an invitation to each of these students of the exam whom `invite_decision` lets be
    mailed now, counting why the others were not. Run in the route's transaction (its audit
    event beside it).

    The students are locked first, in id order as the recorder takes them (so that neither waits
    for the other in a circle), and read after, by a statement of its own: a concurrent request
    (a double click) waits for this one's locks, then reads the invitations it committed and
    invites none of them twice (they count as `too_soon`, or `already_invited`). An address's
    daily limit counts this request's own invitations too (several students may share it)."""
    conn.execute(
        """SELECT s.id AS student_id FROM student s WHERE s.exam_id = %s AND s.id = ANY(%s)
            ORDER BY s.id FOR NO KEY UPDATE OF s""",
        (exam_pk, student_ids),
    )
    student_address_key = _ADDRESS_KEY.format(address="s.email_address")
    with conn.cursor(row_factory=rows_of(InviteCandidate)) as cur:
        rows = cur.execute(
            f"""SELECT s.id AS student_id, s.nickname, s.email_address AS email,
                      s.email_address IS NOT NULL AND {suppressed("s.email_address")} AS suppressed,
                      (SELECT max(m.queued_at) FROM message m
                        WHERE m.student_id = s.id AND m.kind = 'invitation' AND m.address = s.email_address
                          AND m.state <> 'skipped') AS invited_at,
                      (SELECT count(*) FROM message m
                        WHERE m.student_id = s.id AND m.kind = 'invitation'
                          AND m.queued_at > %(now)s - interval '24 hours')::int AS invites_24h,
                      (SELECT count(*) FROM address_invitation a
                        WHERE a.exam_pk = s.exam_id AND a.address_sha256 = {student_address_key}
                          AND a.queued_at > %(now)s - interval '24 hours')::int AS address_invites_24h,
                      EXISTS (SELECT FROM lti_learner l WHERE l.student_id = s.id) AS from_lms
                 FROM student s WHERE s.exam_id = %(exam_pk)s AND s.id = ANY(%(ids)s) ORDER BY s.id""",
            {"exam_pk": exam_pk, "ids": student_ids, "now": now},
        ).fetchall()
    skipped: Counter[SkipReason] = Counter()
    wanted: list[int] = []
    chosen_per_address: Counter[str] = Counter()
    for row in rows:
        candidate = replace(row, address_invites_24h=row.address_invites_24h + chosen_per_address[row.email or ""])
        reason = invite_decision(candidate, resend=resend, now=now)
        if reason is None:
            wanted.append(row.student_id)
            chosen_per_address[row.email or ""] += 1
        else:
            skipped[reason] += 1
    if not wanted:
        return [], skipped
    message_ids = [uuid4() for _ in wanted]
    invited = conn.execute(
        """UPDATE student s
              SET invitations = s.invitations + 1, invited_at = %(now)s, email_state = 'queued',
                  email_state_at = %(now)s, last_message_id = chosen.message_id
             FROM unnest(%(ids)s::bigint[], %(message_ids)s::uuid[]) AS chosen (student_id, message_id)
            WHERE s.id = chosen.student_id
        RETURNING s.id, s.invitations, s.email_address, chosen.message_id""",
        {"ids": wanted, "message_ids": message_ids, "now": now},
    ).fetchall()
    conn.execute(
        f"""WITH queued AS (
               INSERT INTO message (id, exam_pk, student_id, kind, idempotency_key, address, queued_at)
               SELECT message_id, %(exam_pk)s, student_id, 'invitation', key, address, %(now)s
                 FROM unnest(%(message_ids)s::uuid[], %(ids)s::bigint[], %(keys)s::text[], %(addresses)s::text[])
                      AS queued (message_id, student_id, key, address)
               ON CONFLICT (idempotency_key) DO NOTHING
               RETURNING address
             ), forgotten AS (
               DELETE FROM address_invitation
                WHERE exam_pk = %(exam_pk)s AND queued_at <= %(now)s - interval '24 hours'
             )
           INSERT INTO address_invitation (exam_pk, address_sha256, queued_at)
           SELECT %(exam_pk)s, {_ADDRESS_KEY.format(address="queued.address")}, %(now)s FROM queued""",
        {
            "exam_pk": exam_pk,
            "now": now,
            "message_ids": [row["message_id"] for row in invited],
            "ids": [row["id"] for row in invited],
            "keys": [invitation_key(row["id"], row["invitations"]) for row in invited],
            "addresses": [row["email_address"] for row in invited],
        },
    )
    return [Queued(row["message_id"], row["id"]) for row in invited], skipped


def queue_for_uploads(conn: Connection, notices: list[UploadNotice]) -> list[UUID]:
    """Queue a receipt for each recorded submission and a notice for each rejected upload whose
    student may be mailed (the exam sends receipts, the student has an address that is not
    suppressed, and for rejections fewer than `REJECTIONS_PER_DAY` in a day), in the recorder's
    transaction: a receipt message exists iff its submission does. One statement; a replayed
    notification inserts nothing (its key exists). Returns the ids queued."""
    rows = conn.execute(
        f"""WITH wanted AS (
               SELECT n.upload_id, n.student_id, n.kind, n.ord, gen_random_uuid() AS id,
                      n.kind || ':' || n.upload_id AS key
                 FROM unnest(%(uploads)s::uuid[], %(students)s::bigint[], %(kinds)s::text[])
                      WITH ORDINALITY AS n (upload_id, student_id, kind, ord)
             ), fresh AS (
               -- each new notice's place among its student's in this batch (a replayed one has none):
               -- the day's limit counts the earlier rows and this batch's own
               SELECT w.*, row_number() OVER (PARTITION BY w.student_id, w.kind ORDER BY w.ord) AS nth
                 FROM wanted w WHERE NOT EXISTS (SELECT FROM message x WHERE x.idempotency_key = w.key)
             ), inserted AS (
               INSERT INTO message (id, exam_pk, student_id, kind, idempotency_key, upload_id, address)
               SELECT w.id, s.exam_id, s.id, w.kind, w.key, w.upload_id, s.email_address
                 FROM fresh w JOIN student s ON s.id = w.student_id JOIN exam e ON e.id = s.exam_id
                WHERE e.email_receipts AND s.email_address IS NOT NULL
                  AND NOT {suppressed("s.email_address")}
                  AND (w.kind = 'receipt'
                       OR (SELECT count(*) FROM message r WHERE r.student_id = s.id AND r.kind = 'rejection'
                             AND r.queued_at > now() - interval '24 hours') + w.nth <= {REJECTIONS_PER_DAY})
               ON CONFLICT (idempotency_key) DO NOTHING
               RETURNING id, student_id
             ), latest AS (
               SELECT DISTINCT ON (i.student_id) i.id, i.student_id
                 FROM inserted i JOIN wanted w ON w.id = i.id ORDER BY i.student_id, w.ord DESC
             ), follows AS (
               UPDATE student s SET email_state = 'queued', email_state_at = now(), last_message_id = latest.id
                 FROM latest WHERE s.id = latest.student_id
             )
           SELECT id FROM inserted""",
        {
            "uploads": [notice.upload_id for notice in notices],
            "students": [notice.student_id for notice in notices],
            "kinds": [notice.kind for notice in notices],
        },
    ).fetchall()
    return [row["id"] for row in rows]


def enqueued(conn: Connection, ids: list[UUID]) -> None:
    """SQS took these messages now (the sweep hands over again only those it never took, or took
    long ago and that are still queued)."""
    conn.execute("UPDATE message SET enqueued_at = now() WHERE id = ANY(%s)", (ids,))


ADDRESS_CHANGED = "address changed"


def skip_queued(conn: Connection, student_id: int) -> int:
    """The student's address changed: their messages not yet claimed by the sender are not sent
    (skipped, as the sender's claim leaves them); one already being sent is SES's and is left as
    it is. Run in the change's transaction, under the student's row lock. Returns how many."""
    skipped = conn.execute(
        "UPDATE message SET state = 'skipped', detail = %s WHERE student_id = %s AND state = 'queued'",
        (ADDRESS_CHANGED, student_id),
    )
    return skipped.rowcount


def apply_event(conn: Connection, event: MailEvent) -> Applied:
    """What SES said of a message: found by our tag (else by SES's id), it learns SES's id and
    when SES took it (any event but a rejection proves SES sent it), and moves to the event's
    state only if that is an advance (events come in any order and more than once); its student
    follows. A permanent bounce or a complaint suppresses the address, and every student who has
    it, in any exam, shows it. One message and at most one address: run in a transaction of its
    own."""
    from exam_depository.domain.mail_events import new_state, suppresses

    state = new_state(event)
    row = conn.execute(
        f"""WITH found AS (
               SELECT id, state AS old_state FROM message
                WHERE id = %(message_id)s OR ses_message_id = %(ses_message_id)s
                ORDER BY id = %(message_id)s DESC NULLS LAST LIMIT 1
                  FOR UPDATE
             ), updated AS (
               UPDATE message m
                  SET ses_message_id = COALESCE(m.ses_message_id, %(ses_message_id)s),
                      sent_at = CASE WHEN %(kind)s = 'reject' THEN m.sent_at ELSE COALESCE(m.sent_at, %(at)s) END,
                      state = CASE WHEN m.state = ANY(%(below)s) THEN %(state)s ELSE m.state END,
                      detail = CASE WHEN m.state = ANY(%(below)s) THEN COALESCE(%(detail)s, m.detail)
                                    ELSE m.detail END,
                      event_at = greatest(m.event_at, %(at)s)
                 FROM found WHERE m.id = found.id
             RETURNING m.id, m.student_id, m.state, m.address, found.old_state = ANY(%(below)s) AS advanced
             ), moved AS (
               SELECT id, student_id, state FROM updated WHERE advanced
             ), follows AS (
               {STUDENT_FOLLOWS}
             )
           SELECT state, address FROM updated""",
        {
            "message_id": event.message_id,
            "ses_message_id": event.ses_message_id,
            "at": event.at,
            "state": state,
            "below": states_below(state) if state is not None else [],
            "detail": event.detail,
            "kind": event.kind,
        },
    ).fetchone()
    if row is None:
        return Applied(matched=False, state=None, suppressed=False)
    message_state: MessageState = row["state"]
    address: str = row["address"]
    reason = suppresses(event)
    if reason is not None:
        sticky = "complained" if reason == "complaint" else "bounced"
        conn.execute(
            """INSERT INTO suppressed_address (address_sha256, reason, since, message_id, detail)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT (address_sha256) DO NOTHING""",
            (address_key(address), reason, event.at, event.message_id, event.detail),
        )
        # Every student with the address, in any exam: it is dead everywhere (a complaint outranks a bounce).
        conn.execute(
            """UPDATE student SET email_state = %(sticky)s, email_state_at = now()
                WHERE email_address = %(address)s
                  AND email_state IS DISTINCT FROM %(sticky)s AND email_state IS DISTINCT FROM 'complained'""",
            {"sticky": sticky, "address": address},
        )
    return Applied(matched=True, state=message_state, suppressed=reason is not None)
