"""SQS: the export jobs' queue and the mail queue, the queues the product itself sends to (S3 sends
the upload notifications), and the notifications' queue, whose failed messages the recorder brings
back sooner than the queue would. The clients are `aws.client`'s, created on first use."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import Field

from exam_depository.adapters import aws
from exam_depository.config import EnvSettings, MailSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class ExportQueueSettings(EnvSettings):
    """Where export jobs are queued (the route that starts them)."""

    queue_url: str = Field(alias="EXPORT_QUEUE_URL", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)


class RedeliverySettings(EnvSettings):
    """The recorder's: the queue of the S3 notifications, whose messages it could not record it
    makes visible again after a short delay rather than after the queue's visibility timeout."""

    queue_url: str = Field(alias="SUBMISSION_QUEUE_URL", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)


# SQS takes at most 10 entries in one ChangeMessageVisibilityBatch.
BATCH_LIMIT = 10


def client(region: str) -> SQSClient:
    sqs: SQSClient = aws.client("sqs", region=region, read_timeout=5)
    return sqs


def send_export(export_id: UUID) -> None:
    settings = load(ExportQueueSettings)
    try:
        client(settings.region).send_message(
            QueueUrl=settings.queue_url, MessageBody=json.dumps({"export_id": str(export_id)})
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"SQS SendMessage failed: {exc}") from exc


def visibility_timeout_s(queue_url: str, region: str) -> int:
    """The queue's own visibility timeout: after it, SQS delivers a failed message again anyway.
    Asked when needed (a batch failed), not at start: most environments never need it."""
    try:
        answer = client(region).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    except aws.failures() as exc:
        raise ServiceUnavailable(f"SQS GetQueueAttributes failed: {exc}") from exc
    return int(answer["Attributes"]["VisibilityTimeout"])


def change_visibility(queue_url: str, region: str, delays: list[tuple[str, int]]) -> dict[str, str]:
    """Make each received message, named by its receipt handle, visible again `seconds` after now
    (SQS counts a changed visibility from the change, not from the receipt): `delays` holds
    (receipt handle, seconds). Returns the entries SQS refused, receipt handle -> its error code
    (a handle that expired, a message already deleted); raises ServiceUnavailable when a request
    got no answer or an error answer as a whole."""
    refused: dict[str, str] = {}
    for start in range(0, len(delays), BATCH_LIMIT):
        chunk = delays[start : start + BATCH_LIMIT]
        try:
            answer = client(region).change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for index, (handle, seconds) in enumerate(chunk)
                ],
            )
        except aws.failures() as exc:
            raise ServiceUnavailable(f"SQS ChangeMessageVisibilityBatch failed: {exc}") from exc
        for entry in answer.get("Failed", []):
            refused[chunk[int(entry["Id"])][0]] = entry["Code"]
    return refused


# --- mail


# Above this many ids (a send-codes to a large roster, the sweep after an outage) the batches go
# out ten at a time: 1,000 ids are 100 requests, about 2 s one after another.
MAIL_PARALLEL_ABOVE = 100
MAIL_SENDERS = 10


def mail_client(region: str) -> SQSClient:
    """A client that answers within 2 s and never retries: the recorder and the routes hand
    messages over after their commit and must not wait on SQS; what it does not take, the
    sender's sweep enqueues (the one `request_sweep` asks for, or the daily one)."""
    sqs: SQSClient = aws.client(
        "sqs", region=region, read_timeout=2, name="sqs-mail", retries={"mode": "standard", "max_attempts": 1}
    )
    return sqs


def send_mail(ids: Sequence[UUID]) -> list[UUID]:
    """Hand queued messages to the mail queue, one SQS message each (`{"message_id": "<uuid>"}`:
    no address, code or content travels through SQS), in batches of 10. Returns the ids SQS took;
    the others (a batch refused or unanswered) are left to the sweep, never raised: the caller's
    work is committed and a hand-off that failed loses nothing."""
    settings = load(MailSettings)
    if not ids or settings.queue_url is None or settings.region is None:
        return []
    queue_url, region = settings.queue_url, settings.region
    batches = [list(ids[start : start + BATCH_LIMIT]) for start in range(0, len(ids), BATCH_LIMIT)]
    if len(ids) > MAIL_PARALLEL_ABOVE:
        with ThreadPoolExecutor(max_workers=MAIL_SENDERS) as pool:
            taken = list(pool.map(lambda batch: _send_mail_batch(queue_url, region, batch), batches))
    else:
        taken = [_send_mail_batch(queue_url, region, batch) for batch in batches]
    return [message_id for batch in taken for message_id in batch]


def _send_mail_batch(queue_url: str, region: str, batch: list[UUID]) -> list[UUID]:
    try:
        answer = mail_client(region).send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "MessageBody": json.dumps({"message_id": str(message_id)})}
                for index, message_id in enumerate(batch)
            ],
        )
    except aws.failures():
        return []
    return [batch[int(entry["Id"])] for entry in answer.get("Successful", [])]


# The sender's sweep, asked for through the mail queue itself rather than on a short schedule:
# a schedule that reads the messages every few minutes would keep a database that may pause
# (Aurora Serverless at 0 ACU) from ever pausing. SQS's longest delay; also the sweep's grace.
SWEEP_DELAY_S = 900
SWEEP_REQUEST = {"sweep": True}
# A request this process sent is counted on only until shortly before it falls due: SQS holds it
# at least SWEEP_DELAY_S from its own receipt, and the clocks may differ by a little.
_SWEEP_MARGIN_S = 30
_sweep_due_at: float | None = None  # (time.time()) when the last request this process sent falls due


def request_sweep() -> bool:
    """Make sure a sweep comes, SWEEP_DELAY_S from now or sooner: send a delayed sweep request to
    the mail queue, unless one this process sent is still to come (that sweep sees all this
    one would, and asks for the next while anything is unsettled). Returns whether a request is
    on its way; never raises (a request SQS did not take is the scheduled backstop's)."""
    global _sweep_due_at
    settings = load(MailSettings)
    if settings.queue_url is None or settings.region is None:
        return False
    now = time.time()
    if _sweep_due_at is not None and now < _sweep_due_at - _SWEEP_MARGIN_S:
        return True
    try:
        mail_client(settings.region).send_message(
            QueueUrl=settings.queue_url, MessageBody=json.dumps(SWEEP_REQUEST), DelaySeconds=SWEEP_DELAY_S
        )
    except aws.failures():
        return False
    _sweep_due_at = now + SWEEP_DELAY_S
    return True


# --- lti

# The LTI worker's messages (its queue, LtiJobsQueue, and its schedule's input). Each names a row
# and carries nothing else: the row is the truth, a message only says what to look at.
LTI_TICK: dict[str, str] = {"kind": "tick"}


def lti_score_job(score_id: UUID) -> dict[str, str]:
    """Send this queued hand-in status (an `lti_score` row) to its gradebook."""
    return {"kind": "score", "id": str(score_id)}


def lti_sync_job(link_id: UUID) -> dict[str, str]:
    """Read this course's class list again (an `lti_link` row's roster)."""
    return {"kind": "sync", "link_id": str(link_id)}


def send_lti_jobs(bodies: list[dict[str, str]]) -> None:
    """Hand jobs to the LTI worker's queue in batches of 10, through the client that answers within
    2 s and never retries (the recorder calls this after its commit and must not wait). What SQS
    does not take is logged and counted (LtiHandOffFailed), never raised: the rows stay queued and
    the worker's scheduled sweep hands them over."""
    # Imported here: the recorder's functions load this module, and hand over jobs only when a
    # student from a course with a gradebook column handed in.
    from exam_depository.adapters.lti_settings import LtiSettings

    settings = load(LtiSettings)
    if not bodies:
        return
    failed = len(bodies)
    if settings.jobs_queue_url is not None and settings.region is not None:
        failed = 0
        for start in range(0, len(bodies), BATCH_LIMIT):
            batch = bodies[start : start + BATCH_LIMIT]
            try:
                answer = mail_client(settings.region).send_message_batch(
                    QueueUrl=settings.jobs_queue_url,
                    Entries=[{"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(batch)],
                )
            except aws.failures():
                failed += len(batch)
                continue
            failed += len(answer.get("Failed", []))
    if failed:
        from exam_depository.observability import MetricUnit, logger, metrics

        logger.warning("SQS did not take LTI jobs; the worker's sweep hands them over", extra={"jobs": failed})
        metrics.add_metric(name="LtiHandOffFailed", unit=MetricUnit.Count, value=failed)
