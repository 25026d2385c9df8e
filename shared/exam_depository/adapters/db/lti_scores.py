"""The LTI worker's side of the gradebook's outbox: claiming queued scores for sending, settling
or releasing them, and the sweep that hands over again what the queue lost. The recorder queues
them (`lti.queue_scores`, in its batch's transaction); only the worker loads this module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from exam_depository.adapters.db.lti import REGISTRATION_COLUMNS, RegistrationRow
from exam_depository.adapters.db.transactions import Connection, Row, rows_of

MAX_SCORE_ATTEMPTS = 8
SCORE_GAVE_UP = f"gave up after {MAX_SCORE_ATTEMPTS} attempts"
SCORE_REQUEUED = "no answer from the platform; queued again"


@dataclass(frozen=True)
class ScoreOwner:
    """Whose score it is, for the audit event its sending or failing appends."""

    id: UUID
    exam_pk: int
    pseudonym: str
    platform: str  # the issuer
    lti_user: str  # the platform's user id (sub)


@dataclass(frozen=True)
class ClaimedScore:
    """A score claimed for sending: what to post where, and through which registration."""

    id: UUID
    payload: dict[str, object]
    lineitem_url: str
    registration: RegistrationRow
    owner: ScoreOwner


@dataclass(frozen=True)
class SweptScores:
    resend: list[UUID]  # to hand to the queue again (counted as handed over now)
    failed: list[ScoreOwner]  # given up by this sweep, after every attempt


_OWNER_COLUMNS = """s.exam_id AS exam_pk, s.pseudonym, r.issuer AS platform, u.sub AS lti_user"""
_OWNER_JOINS = """JOIN student s ON s.id = c.student_id JOIN lti_link k ON k.id = c.link_id
    JOIN lti_registration r ON r.id = k.registration_id
    JOIN lti_learner l ON l.student_id = c.student_id JOIN lti_user u ON u.id = l.lti_user_id"""


def _owner(row: Row) -> ScoreOwner:
    return ScoreOwner(row["id"], row["exam_pk"], row["pseudonym"], row["platform"], row["lti_user"])


def claim_scores(conn: Connection, ids: Sequence[UUID], now: datetime) -> list[ClaimedScore]:
    """Claim queued scores for sending (state sending, one more attempt), committed by the caller
    before any call: a duplicate delivery or a concurrent batch claims nothing. Scores out of
    attempts, or of a link without a line item any more, are not claimed."""
    rows = conn.execute(
        f"""WITH claimed AS (
               UPDATE lti_score SET state = 'sending', attempts = attempts + 1, claimed_at = %(now)s
                WHERE id = ANY(%(ids)s) AND state = 'queued' AND attempts < {MAX_SCORE_ATTEMPTS}
                  AND EXISTS (SELECT FROM lti_link k WHERE k.id = lti_score.link_id AND k.lineitem_url IS NOT NULL)
            RETURNING id, payload, link_id, student_id)
            SELECT c.id, c.payload, k.lineitem_url, k.registration_id, {_OWNER_COLUMNS}
              FROM claimed c {_OWNER_JOINS}
             ORDER BY c.id""",
        {"ids": list(ids), "now": now},
    ).fetchall()
    if not rows:
        return []
    with conn.cursor(row_factory=rows_of(RegistrationRow)) as cur:
        registrations = {
            r.id: r
            for r in cur.execute(
                f"SELECT {REGISTRATION_COLUMNS} FROM lti_registration r WHERE r.id = ANY(%s)",
                (sorted({row["registration_id"] for row in rows}),),
            ).fetchall()
        }
    return [
        ClaimedScore(row["id"], row["payload"], row["lineitem_url"], registrations[row["registration_id"]], _owner(row))
        for row in rows
    ]


def settle_score(
    conn: Connection,
    score_id: UUID,
    state: Literal["sent", "superseded", "failed"],
    status_code: int | None,
    detail: str | None,
) -> None:
    conn.execute(
        """UPDATE lti_score SET state = %s, status_code = %s, detail = %s,
                  sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END
            WHERE id = %s AND state = 'sending'""",
        (state, status_code, None if detail is None else detail[:500], state, score_id),
    )


def release_scores(conn: Connection, ids: Sequence[UUID], detail: str, *, refund_attempt: bool = False) -> None:
    """Scores being sent go back to the queue (the platform was busy or unreachable): their attempt
    counts, unless `refund_attempt` (the call was never made)."""
    conn.execute(
        """UPDATE lti_score SET state = 'queued', detail = %s,
                  attempts = CASE WHEN %s THEN greatest(attempts - 1, 0) ELSE attempts END
            WHERE id = ANY(%s) AND state = 'sending'""",
        (detail[:500], refund_attempt, list(ids)),
    )


def sweep_scores(conn: Connection, now: datetime, grace: timedelta) -> SweptScores:
    """What the sender must be handed again, as the mail's sweep: a claim older than `grace` is
    queued again (failed once it had every attempt, as is a queued score out of attempts); every
    queued score never handed to the queue, or handed over longer than `grace` ago, is returned and
    counted as handed over now. Run in one transaction."""
    failed = conn.execute(
        f"""WITH given_up AS (
               UPDATE lti_score SET state = 'failed', detail = %(gave_up)s
                WHERE attempts >= {MAX_SCORE_ATTEMPTS}
                  AND (state = 'queued' OR (state = 'sending' AND claimed_at < %(before)s))
            RETURNING id, link_id, student_id)
            SELECT c.id, {_OWNER_COLUMNS} FROM given_up c {_OWNER_JOINS} ORDER BY c.id""",
        {"before": now - grace, "gave_up": SCORE_GAVE_UP},
    ).fetchall()
    conn.execute(
        """UPDATE lti_score SET state = 'queued', detail = %s WHERE state = 'sending' AND claimed_at < %s""",
        (SCORE_REQUEUED, now - grace),
    )
    rows = conn.execute(
        """UPDATE lti_score SET enqueued_at = %(now)s
            WHERE state = 'queued' AND (enqueued_at IS NULL OR enqueued_at < %(before)s)
        RETURNING id""",
        {"now": now, "before": now - grace},
    ).fetchall()
    return SweptScores([row["id"] for row in rows], [_owner(row) for row in failed])


def unsettled_scores(conn: Connection, before: datetime) -> int:
    """How many scores queued before `before` are still queued or sending (an LMS slow or down)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM lti_score WHERE state IN ('queued', 'sending') AND queued_at < %s", (before,)
    ).fetchone()
    return int(row["n"]) if row else 0
