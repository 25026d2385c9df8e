"""The sender's statements on the mail ledger: claim a message before SES sees it, take the next
slots of the sending rate, record what SES answered, give back what it did not take, and sweep
up what a crash or a lost SQS message left behind.

A message is sent only by the environment whose claim moved it from `queued` to `sending`, and the
claim commits before SES is called: a second delivery of its SQS message, a retried batch, another
environment with the same id all find it no longer `queued` and send nothing. The one way back to
`queued` is `release` (SES answered that it did not take it) or the sweep (a claim SES never
answered, after a grace long enough for SES's Send event to have said otherwise). Each claim writes
a fresh token, which the sweep's re-queue clears: just before each SES call the sender `confirm`s
its token, so a claim the sweep took back (a sender slower than the grace) is sent by its new
claimant only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from exam_depository.adapters.db import windows
from exam_depository.adapters.db.messages import STUDENT_FOLLOWS, states_below
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.mail import MAX_ATTEMPTS
from exam_depository.domain.messages import ExamFacts, InvitationFacts, MessageFacts, ReceiptFacts, RejectionFacts
from exam_depository.domain.statuses import MessageKind

DETAIL_LIMIT = 500
REQUEUED_DETAIL = "no answer from SES; queued again"
GAVE_UP_DETAIL = f"gave up after {MAX_ATTEMPTS} attempts"
SUPPRESSED_DETAIL = "suppressed"
# A message queued or sending this long is unsettled: the sender is failing (the alarm's metric).
UNSETTLED_AFTER = timedelta(minutes=30)

_ADDRESS_KEY = "encode(sha256(convert_to(m.address, 'UTF8')), 'hex')"


@dataclass(frozen=True)
class Claimed:
    message_id: UUID
    kind: MessageKind
    address: str
    attempt: int  # this call's number: 1 for the first
    facts: MessageFacts
    token: UUID  # this claim's: `confirm` finds it still there, or the claim was taken back


@dataclass(frozen=True)
class _ClaimRow:
    message_id: UUID
    kind: MessageKind
    address: str
    attempt: int
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: str
    language: str
    first_name: str
    last_name: str
    upload_code: str
    max_attempts: int
    filename: str | None  # the submission's (receipt) or the upload's (rejection)
    size_bytes: int | None
    sha256: str | None
    submitted_at: datetime | None
    late: bool | None
    verification_code: str | None
    receipt: str | None
    attempt_number: int | None
    replaced_filename: str | None
    replaced_at: datetime | None
    rejection_reason: str | None
    found_type: str | None
    attempts_used: int


def claim(conn: Connection, ids: list[UUID], *, now: datetime) -> list[Claimed]:
    """Claim the messages among `ids` that are queued (attempts left), with what each must say.
    In the same statement, a queued message whose address was suppressed since is `skipped`.
    Ids not returned are settled, skipped or claimed by someone else: their SQS messages are
    acknowledged. Commit before sending: the claim is what keeps a message from going twice.
    A message whose facts are gone (its submission deleted) is failed in the same transaction."""
    token = uuid4()
    with conn.cursor(row_factory=rows_of(_ClaimRow)) as cur:
        rows = cur.execute(
            f"""WITH skipped AS (
               UPDATE message m SET state = 'skipped', detail = '{SUPPRESSED_DETAIL}'
                WHERE m.id = ANY(%(ids)s) AND m.state = 'queued'
                  AND EXISTS (SELECT FROM suppressed_address x WHERE x.address_sha256 = {_ADDRESS_KEY})
            RETURNING m.id
             ), claimed AS (
               UPDATE message m SET state = 'sending', attempts = m.attempts + 1, claimed_at = %(now)s,
                                   claim_token = %(token)s
                WHERE m.id = ANY(%(ids)s) AND m.state = 'queued' AND m.attempts < {MAX_ATTEMPTS}
                  AND m.id NOT IN (SELECT id FROM skipped)
            RETURNING m.id, m.student_id, m.kind, m.address, m.attempts, m.upload_id
             ), moved AS (
               SELECT id, student_id, 'sending' AS state FROM claimed
             ), follows AS (
               {STUDENT_FOLLOWS}
             )
           SELECT c.id AS message_id, c.kind, c.address, c.attempts AS attempt,
                  e.title, e.opens_at, {windows.personal_due()} AS due_at, {windows.personal_cutoff()} AS cutoff_at,
                  e.timezone, e.language, s.first_name, s.last_name, s.upload_code,
                  e.max_attempts + s.extra_attempts AS max_attempts,
                  COALESCE(sub.filename, u.filename) AS filename, sub.size_bytes, sub.sha256, sub.submitted_at,
                  sub.late, sub.verification_code, sub.receipt,
                  (SELECT count(*) FROM submission x
                    WHERE x.student_id = s.id AND x.id <= sub.id)::int AS attempt_number,
                  replaced.filename AS replaced_filename, replaced.submitted_at AS replaced_at,
                  u.rejection_reason, u.found_type,
                  (SELECT count(*) FROM submission x WHERE x.student_id = s.id)::int AS attempts_used
             FROM claimed c
             JOIN student s ON s.id = c.student_id
             JOIN exam e ON e.id = s.exam_id
             LEFT JOIN upload u ON u.id = c.upload_id
             LEFT JOIN submission sub ON sub.upload_id = c.upload_id AND c.kind = 'receipt'
             LEFT JOIN LATERAL (
               SELECT p.filename, p.submitted_at FROM submission p
                WHERE sub.status = 'current' AND p.student_id = sub.student_id AND p.issue_seq < sub.issue_seq
                  AND p.status = 'superseded'
                ORDER BY p.issue_seq DESC LIMIT 1) replaced ON true""",
            {"ids": ids, "now": now, "token": token},
        ).fetchall()
    claimed: list[Claimed] = []
    gone: list[UUID] = []
    for row in rows:
        facts = _facts(row)
        if facts is None:
            gone.append(row.message_id)
        else:
            claimed.append(Claimed(row.message_id, row.kind, row.address, row.attempt, facts, token))
    for message_id in gone:
        mark_failed(conn, message_id, "what it was to say is gone (its upload was deleted)")
    return claimed


def _facts(row: _ClaimRow) -> MessageFacts | None:
    exam = ExamFacts(row.title, row.opens_at, row.due_at, row.cutoff_at, row.timezone, row.language)
    if row.kind == "invitation":
        return InvitationFacts(exam, row.first_name, row.last_name, row.upload_code)
    if row.kind == "receipt":
        if (
            row.filename is None
            or row.size_bytes is None
            or row.sha256 is None
            or row.submitted_at is None
            or row.verification_code is None
            or row.receipt is None
            or row.attempt_number is None
        ):
            return None
        replaces = None
        if row.replaced_filename is not None and row.replaced_at is not None:
            replaces = (row.replaced_filename, row.replaced_at)
        return ReceiptFacts(
            exam,
            row.first_name,
            row.filename,
            row.size_bytes,
            row.sha256,
            row.submitted_at,
            bool(row.late),
            _display(row.verification_code),
            row.receipt,
            row.attempt_number,
            row.max_attempts,
            replaces,
        )
    if row.filename is None or row.rejection_reason is None:
        return None
    return RejectionFacts(
        exam,
        row.first_name,
        row.filename,
        row.rejection_reason,  # type: ignore[arg-type]  # the column's CHECK holds it to RejectionReason
        row.found_type,
        max(row.max_attempts - row.attempts_used, 0),
    )


def _display(code: str) -> str:
    from exam_depository.domain import codes

    return codes.display(codes.normalize(code) or code)


def slots(conn: Connection, count: int, rate_per_s: float) -> datetime:
    """Take the next `count` sending slots at `rate_per_s`, across every sender environment: the
    first slot's time (the i-th is first + i / rate). Run alone in autocommit: the pace row's lock
    lasts this one statement."""
    row = conn.execute(
        """UPDATE mail_pace SET next_at = greatest(next_at, clock_timestamp()) + make_interval(secs => %(span)s)
        RETURNING next_at - make_interval(secs => %(span)s) AS first""",
        {"span": count / rate_per_s},
    ).fetchone()
    assert row is not None  # the migration inserts the one row
    first: datetime = row["first"]
    return first


def confirm(conn: Connection, message_id: UUID, token: UUID) -> bool:
    """Whether the claim is still this sender's, just before it calls SES; if so, the claim's
    time is now (the sweep's grace counts from the last confirmation). False: the sweep queued
    the message again (the claim outlived its grace), and it is not this sender's to send. Run
    alone in autocommit."""
    row = conn.execute(
        """UPDATE message SET claimed_at = now()
            WHERE id = %s AND state = 'sending' AND claim_token = %s
        RETURNING id""",
        (message_id, token),
    ).fetchone()
    return row is not None


def mark_unanswered(conn: Connection, message_id: UUID, token: UUID, detail: str) -> None:
    """SES may have accepted the message (no answer came): it stays `sending`, its attempt
    counted, for SES's Send event to mark it sent or the sweep to queue it again after its grace;
    the detail says why."""
    conn.execute(
        "UPDATE message SET detail = %s WHERE id = %s AND state = 'sending' AND claim_token = %s",
        (detail[:DETAIL_LIMIT], message_id, token),
    )


def mark_sent(conn: Connection, message_id: UUID, ses_message_id: str, at: datetime) -> None:
    """SES accepted the message: its id and time, and `sent` unless an event got further first."""
    _move(
        conn,
        """UPDATE message m
              SET state = CASE WHEN m.state = ANY(%(below)s) THEN 'sent' ELSE m.state END,
                  ses_message_id = COALESCE(m.ses_message_id, %(ses_message_id)s),
                  sent_at = COALESCE(m.sent_at, %(at)s)
             FROM message old WHERE m.id = %(id)s AND old.id = m.id
        RETURNING m.id, m.student_id, m.state, old.state = ANY(%(below)s) AS advanced""",
        {"id": message_id, "ses_message_id": ses_message_id, "at": at, "below": states_below("sent")},
    )


def release(conn: Connection, message_ids: list[UUID], token: UUID, detail: str) -> None:
    """SES did not take these (throttled, unavailable): queued again, and the call not counted
    as an attempt. Their SQS messages come back (the sender makes them visible again), so they
    count as handed over now: the sweep leaves them to SQS for its grace. Only the claims that
    are still this sender's (`token`): one the sweep took back may be another sender's now."""
    _move(
        conn,
        """UPDATE message m
              SET state = 'queued', attempts = greatest(m.attempts - 1, 0), detail = %(detail)s, enqueued_at = now(),
                  claim_token = NULL
            WHERE m.id = ANY(%(ids)s) AND m.state = 'sending' AND m.claim_token = %(token)s
        RETURNING m.id, m.student_id, m.state, true AS advanced""",
        {"ids": message_ids, "token": token, "detail": detail[:DETAIL_LIMIT]},
    )


def mark_failed(conn: Connection, message_id: UUID, detail: str) -> None:
    """Never sent: SES refused the message itself, or it was given up."""
    _move(
        conn,
        """UPDATE message m SET state = 'failed', detail = %(detail)s
            WHERE m.id = %(id)s AND m.state IN ('queued', 'sending')
        RETURNING m.id, m.student_id, m.state, true AS advanced""",
        {"id": message_id, "detail": detail[:DETAIL_LIMIT]},
    )


def _move(conn: Connection, update: str, params: dict[str, Any]) -> None:
    """Run `update` (returning id, student_id, state, advanced) and let each student follow the
    message that moved."""
    conn.execute(
        f"""WITH updated AS ({update}), moved AS (SELECT id, student_id, state FROM updated WHERE advanced),
           follows AS ({STUDENT_FOLLOWS})
           SELECT count(*) FROM updated""",
        params,
    )


def sweep(conn: Connection, *, now: datetime, grace: timedelta) -> list[UUID]:
    """What the sender must be handed again: (1) a claim older than `grace` that SES never
    answered and no Send event settled is queued again (failed once it had every attempt), its
    token cleared so that the sender holding it sends nothing more of it; (2)
    every queued message never handed to SQS, or handed over longer than `grace` ago, is returned
    and counted as handed over now. Run in one transaction."""
    conn.execute(
        f"""WITH updated AS (
               UPDATE message m
                  SET state = CASE WHEN m.attempts >= {MAX_ATTEMPTS} THEN 'failed' ELSE 'queued' END,
                      detail = CASE WHEN m.attempts >= {MAX_ATTEMPTS} THEN %(gave_up)s ELSE %(requeued)s END,
                      claim_token = NULL
                WHERE m.state = 'sending' AND m.claimed_at < %(before)s AND m.ses_message_id IS NULL
            RETURNING m.id, m.student_id, m.state
             ), moved AS (SELECT id, student_id, state FROM updated), follows AS ({STUDENT_FOLLOWS})
           SELECT count(*) FROM updated""",
        {"before": now - grace, "gave_up": GAVE_UP_DETAIL, "requeued": REQUEUED_DETAIL},
    )
    rows = conn.execute(
        """UPDATE message SET enqueued_at = %(now)s
            WHERE state = 'queued' AND (enqueued_at IS NULL OR enqueued_at < %(before)s)
        RETURNING id""",
        {"now": now, "before": now - grace},
    ).fetchall()
    return [row["id"] for row in rows]


def unsettled_counts(conn: Connection) -> dict[str, int]:
    """Messages queued or sending for longer than `UNSETTLED_AFTER`, by state."""
    rows = conn.execute(
        """SELECT state, count(*)::int AS count FROM message
            WHERE state IN ('queued', 'sending') AND queued_at < now() - %s
            GROUP BY state""",
        (UNSETTLED_AFTER,),
    ).fetchall()
    return {"queued": 0, "sending": 0} | {row["state"]: row["count"] for row in rows}


def any_unsettled(conn: Connection) -> bool:
    """Whether any message is queued or sending, however recent: while one is, the sweeps go on."""
    row = conn.execute("SELECT EXISTS (SELECT FROM message WHERE state IN ('queued', 'sending')) AS any").fetchone()
    return bool(row is not None and row["any"])
