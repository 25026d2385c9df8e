"""The sender: messages handed over by SQS are claimed, paced to the account's rate, sent by SES
one by one and recorded as SES answers; the sweep hands over again what a crash or a lost SQS
message left behind.

When the sweep runs. Not on a short schedule: each sweep reads the messages, and a database that
may pause (Aurora Serverless at 0 ACU, after 5 minutes without a connection) would never pause.
Sweeps follow mail instead. Whoever hands messages to the mail queue (the routes, the recorder)
and the sender, before it claims a batch, send a sweep request delayed by SQS
(`queues.SWEEP_DELAY_S`, 15 minutes) unless one they sent is still to come; a sweep that leaves
anything queued or sending asks for the next, one that finds nothing asks for none. A daily
scheduled sweep is the backstop for a hand-off that SQS refused whole, request included.

What is guaranteed. SES takes no idempotency token, so a call it accepted cannot be told from a new
one. An SQS redelivery, a retried or concurrent batch, two sender environments: none sends a message
twice, because only the claim that moved it from `queued` to `sending` sends it, that claim commits
before SES is called, and the sender confirms its claim's token just before each call (a claim
the sweep took back is not sent by its old holder). Nothing is lost: every message is a committed
row before SQS hears of it, and the sweep hands over again whatever is still queued. The one
window: SES accepted a message and the sender never learnt it, because it died before `mark_sent`
recorded it or because SES's answer never came (the read timed out, the connection closed, SES
answered 5xx). The row stays `sending` with no SES id, its attempt counted; SES's Send event
carries our tag `message` and marks it sent, so the sweep, a grace later, finds nothing to send
again. Only if that event is lost or later than the grace (EventBridge delivers SES's events best
effort) does the student get the message twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from uuid import UUID

import exam_depository.adapters.db.sending  # noqa: F401
from exam_depository.adapters import db, mail, queues
from exam_depository.config import MailSettings, load
from exam_depository.domain import messages
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.mail import SENDING_GRACE
from exam_depository.domain.mail_events import without_addresses
from exam_depository.observability import logger

# A throttled call is tried again after a pause, twice; then the batch gives the rest back.
THROTTLE_RETRIES = 2
THROTTLE_PAUSE_S = 1.0
# When the SQS messages of what was given back come back (the queue's own timeout is 6 minutes).
RETRY_AFTER_THROTTLING_S = 30
RETRY_AFTER_UNAVAILABLE_S = 60
RETRY_AFTER_DAILY_QUOTA_S = 900
RETRY_AFTER_OUT_OF_TIME_S = 5
# The least grace an operator may ask of the sweep. A claim is confirmed just before its SES call,
# which lasts at most mail.CONNECT_TIMEOUT_S + mail.SEND_TIMEOUT_S (13 s): the sweep must not take
# back a claim whose call is under way. And SES's Send event needs a moment to arrive: a message SES
# accepted without our learning it is sent again if its event comes later than the grace (the
# shorter the grace, the likelier).
MIN_SWEEP_GRACE = timedelta(seconds=60)


@dataclass
class BatchResult:
    """What became of a batch: the ids whose SQS messages must come back, each after how many
    seconds (released: SES did not take them); the others are acknowledged. The counts are the
    metrics'."""

    retry_after_s: dict[UUID, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    unanswered: int = 0  # SES may have taken them: left `sending` for the Send event or the sweep
    throttled: int = 0
    daily_quota_reached: bool = False
    unavailable: bool = False


@dataclass(frozen=True)
class SweepResult:
    enqueued: int  # handed to SQS again
    not_taken: int  # SQS did not take them: the next sweep after the grace tries again
    unsettled: int  # queued or sending for more than 30 minutes (the alarm's metric)
    next_requested: bool  # something is still queued or sending, and the next sweep is on its way


def send_batch(ids: list[UUID], *, deadline: datetime | None = None) -> BatchResult:
    """Send the messages among `ids` that are still queued, no faster than the sending rate; stop
    sending at `deadline` (the function's time less a reserve) and give the rest back."""
    settings = load(MailSettings)
    result = BatchResult()
    if not settings.enabled or not ids:
        return result  # no mail: acknowledged, the rows stay as they are
    # Before anything is claimed: a claim this environment dies holding is the sweep's, so one
    # must be coming whatever happens next (a request this environment sent earlier will do).
    queues.request_sweep()
    if not settings.upload_page_url or not settings.verify_page_url:
        raise RuntimeError("the sender needs UPLOAD_PAGE_URL and VERIFY_PAGE_URL")
    try:
        quota = mail.send_quota()
    except (mail.Unavailable, mail.Throttled) as exc:
        logger.warning("SES did not give its quota; the batch comes back", extra={"error": str(exc)})
        result.unavailable = True
        result.retry_after_s = dict.fromkeys(ids, RETRY_AFTER_UNAVAILABLE_S)
        return result
    # SES's rate when it gives one (a positive number), never more than ours.
    rate = min(settings.rate_per_second, quota.max_send_rate) if quota.max_send_rate > 0 else settings.rate_per_second

    with db.transaction() as conn:
        claimed = db.sending.claim(conn, ids, now=_now())
    if not claimed:
        return result
    with db.statement() as conn:
        first = db.sending.slots(conn, len(claimed), rate)

    catalogues = messages.load_catalogues()
    for index, message in enumerate(claimed):
        slot = first + timedelta(seconds=index / rate)
        if deadline is not None and slot > deadline:
            _give_back(claimed[index:], "the sender ran out of time; queued again", RETRY_AFTER_OUT_OF_TIME_S, result)
            break
        _wait_until(slot)
        if not _send_one(message, claimed[index + 1 :], settings, catalogues, result):
            break
    return result


def _send_one(
    message: db.sending.Claimed,
    rest: list[db.sending.Claimed],
    settings: MailSettings,
    catalogues: messages.Catalogues,
    result: BatchResult,
) -> bool:
    """Write, send and record one message; False when SES's answer stopped the batch (`rest`
    was given back, and this message too unless SES may have taken it)."""
    raw = _written(message, settings, catalogues, result)
    if raw is None:
        return True
    return _send_written(message, rest, raw, settings, result)


def _written(
    message: db.sending.Claimed, settings: MailSettings, catalogues: messages.Catalogues, result: BatchResult
) -> bytes | None:
    """The message as SES takes it; None when it cannot be written (it is failed)."""
    try:
        rendered = messages.render(
            message.facts,
            upload_page_url=settings.upload_page_url,
            verify_page_url=settings.verify_page_url,
            catalogues=catalogues,
        )
        return mail.mime(
            rendered,
            sender=settings.sender_address,
            sender_name=settings.sender_name,
            to=message.address,
            message_id=message.message_id,
            kind=message.kind,
            configuration_set=settings.configuration_set,
        )
    except (ValueError, LookupError) as exc:
        # Our fault, and it would be again: recorded, never sent, never retried.
        logger.exception("A message could not be written", extra={"message_id": str(message.message_id)})
        _fail(message.message_id, f"could not be written: {type(exc).__name__}", result)
        return None


def _send_written(
    message: db.sending.Claimed, rest: list[db.sending.Claimed], raw: bytes, settings: MailSettings, result: BatchResult
) -> bool:
    unsent = [message, *rest]
    try:
        source = formataddr((settings.sender_name, settings.sender_address))
        ses_message_id = _send_with_retries(message, raw, source=source, result=result)
    except _ClaimLost:
        logger.warning(
            "The sweep took a claim back before it was sent; its new claimant sends it",
            extra={"message_id": str(message.message_id)},
        )
        return True
    except mail.Throttled as exc:
        if exc.daily:
            result.daily_quota_reached = True
            _give_back(unsent, "SES's daily quota is reached; queued again", RETRY_AFTER_DAILY_QUOTA_S, result)
        else:
            _give_back(unsent, f"SES throttled it: {exc}; queued again", RETRY_AFTER_THROTTLING_S, result)
        return False
    except mail.Refused as exc:
        logger.warning("SES refused a message", extra={"message_id": str(message.message_id), "code": exc.code})
        # SES's words can quote the address ("Email address is not verified ...: <address>").
        _fail(message.message_id, f"SES refused it: {without_addresses(str(exc), (message.address,))}", result)
        return True
    except mail.Unanswered as exc:
        logger.warning(
            "SES did not answer; the message is left to its Send event or the sweep, the batch comes back",
            extra={"message_id": str(message.message_id), "code": exc.code},
        )
        with db.statement() as conn:
            db.sending.mark_unanswered(
                conn, message.message_id, message.token, f"no answer from SES ({exc.code}); it may have sent it"
            )
        result.unanswered += 1
        result.unavailable = True
        _give_back(rest, f"SES did not answer: {exc}; queued again", RETRY_AFTER_UNAVAILABLE_S, result)
        return False
    except mail.Unavailable as exc:
        logger.warning("SES is unavailable; the batch comes back", extra={"code": exc.code})
        result.unavailable = True
        _give_back(unsent, f"SES was unavailable: {exc}; queued again", RETRY_AFTER_UNAVAILABLE_S, result)
        return False
    # At once and alone: SES's acceptance and our record of it are one round trip apart.
    with db.statement() as conn:
        db.sending.mark_sent(conn, message.message_id, ses_message_id, _now())
    result.sent += 1
    return True


def sweep(grace: timedelta = SENDING_GRACE) -> SweepResult:
    """Queue again the claims SES never answered, older than `grace`, and hand SQS every queued
    message it never took or took longer than `grace` ago. While any message is still queued or
    sending, ask for the next sweep; when none is, ask for nothing: the sweeps stop, and a
    database that may pause can."""
    grace = max(grace, MIN_SWEEP_GRACE)
    with db.transaction() as conn:
        ids = db.sending.sweep(conn, now=_now(), grace=grace)
        unsettled = db.sending.unsettled_counts(conn)
        remaining = db.sending.any_unsettled(conn)
    taken = queues.send_mail(ids) if ids else []
    next_requested = queues.request_sweep() if remaining else False
    if remaining and not next_requested:
        logger.warning("SQS did not take the next sweep's request; the scheduled sweep is the backstop")
    return SweepResult(
        enqueued=len(taken),
        not_taken=len(ids) - len(taken),
        unsettled=sum(unsettled.values()),
        next_requested=next_requested,
    )


def is_sweep_request(body: object) -> bool:
    """Whether a mail queue message's body (parsed) asks for a sweep rather than naming a message."""
    return body == queues.SWEEP_REQUEST


def come_back(delays: list[tuple[str, int]]) -> None:
    """Make these SQS messages (receipt handle, seconds) visible again after their delay rather
    than after the queue's timeout. Best effort: if SQS refuses, they come back after the
    queue's timeout anyway."""
    settings = load(MailSettings)
    if not delays or settings.queue_url is None or settings.region is None:
        return
    try:
        refused = queues.change_visibility(settings.queue_url, settings.region, delays)
    except ServiceUnavailable:
        logger.warning("SQS did not change the mail messages' visibility; they come back after its timeout")
        return
    if refused:
        logger.warning(
            "SQS refused to change some mail messages' visibility", extra={"codes": sorted(set(refused.values()))}
        )


class _ClaimLost(Exception):
    """The sweep took the claim back: the message is not this sender's to send."""


def _send_with_retries(message: db.sending.Claimed, raw: bytes, *, source: str, result: BatchResult) -> str:
    retries = 0
    while True:
        with db.statement() as conn:
            if not db.sending.confirm(conn, message.message_id, message.token):
                raise _ClaimLost
        try:
            return mail.send_raw(raw, source=source, to=message.address)
        except mail.Throttled as exc:
            result.throttled += 1
            if exc.daily or retries == THROTTLE_RETRIES:
                raise
            retries += 1
            time.sleep(THROTTLE_PAUSE_S)


def _give_back(unsent: list[db.sending.Claimed], detail: str, after_s: int, result: BatchResult) -> None:
    if not unsent:
        return
    ids = [message.message_id for message in unsent]
    with db.statement() as conn:
        db.sending.release(conn, ids, unsent[0].token, detail)  # one claim, one token
    for message_id in ids:
        result.retry_after_s[message_id] = after_s


def _fail(message_id: UUID, detail: str, result: BatchResult) -> None:
    with db.statement() as conn:
        db.sending.mark_failed(conn, message_id, detail)
    result.failed += 1


def _wait_until(slot: datetime) -> None:
    delay = (slot - _now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def _now() -> datetime:
    return datetime.now(UTC)
