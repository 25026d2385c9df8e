"""The mail queue's batches -> each message claimed, paced to SES's rate and sent; a sweep request
among them (`{"sweep": true}`, sent delayed by whoever handed mail over, and by each sweep that
left something unsettled) or the daily schedule's `{"sweep": true}` -> the sweep, which hands over
again what a crash or a lost SQS message left queued. `{"sweep": true, "grace_s": 60}` invoked
directly shortens the sweep's grace once (ops after an incident, the crash tests; never under 60 s).

A message SES did not take (throttled, unavailable, the day's quota, out of time) is reported in
batchItemFailures after its visibility is set to when it should come back; one SES may have taken
(no answer came) is acknowledged and left to its Send event or the sweep; an unreadable body
fails until the dead-letter queue takes it. The table is the truth: what is given back is queued
there, and the sweep hands it over again whatever SQS does with it.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import sending

# The function's last seconds are kept for recording what was sent and giving back the rest.
RESERVE_S = 10


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep") is True:
        return _sweep(event)
    records: list[tuple[dict[str, Any], UUID]] = []
    sweep_requests: list[str] = []
    failed: list[str] = []
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
            if sending.is_sweep_request(body):
                sweep_requests.append(record["messageId"])
                continue
            records.append((record, UUID(body["message_id"])))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            logger.exception("Unreadable mail message; it goes to the dead-letter queue after its retries")
            failed.append(record["messageId"])
    deadline = datetime.now(UTC) + timedelta(seconds=context.get_remaining_time_in_millis() / 1000 - RESERVE_S)
    result = sending.send_batch(list(dict.fromkeys(message_id for _, message_id in records)), deadline=deadline)
    _count(result)
    back = [
        (record, result.retry_after_s[message_id])
        for record, message_id in records
        if message_id in result.retry_after_s
    ]
    sending.come_back([(record["receiptHandle"], seconds) for record, seconds in back])
    failed += [record["messageId"] for record, _ in back]
    if sweep_requests:
        # One sweep for every request in the batch, after its messages: what they left is seen.
        try:
            _sweep({})
        except Exception:
            logger.exception("The requested sweep failed; its request comes back after the queue's timeout")
            failed += sweep_requests
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _sweep(event: dict[str, Any]) -> dict[str, Any]:
    swept = sending.sweep(timedelta(seconds=float(event["grace_s"]))) if "grace_s" in event else sending.sweep()
    metrics.add_metric(name="MailSweptEnqueued", unit=MetricUnit.Count, value=swept.enqueued)
    metrics.add_metric(name="MessagesUnsettled", unit=MetricUnit.Count, value=swept.unsettled)
    logger.info(
        "Mail swept",
        extra={"enqueued": swept.enqueued, "not_taken": swept.not_taken, "next_requested": swept.next_requested},
    )
    return {
        "enqueued": swept.enqueued,
        "not_taken": swept.not_taken,
        "unsettled": swept.unsettled,
        "next_requested": swept.next_requested,
    }


def _count(result: sending.BatchResult) -> None:
    for name, value in (
        ("MailSent", result.sent),
        ("MailFailed", result.failed),
        ("MailUnanswered", result.unanswered),
        ("MailThrottled", result.throttled),
        ("MailDailyQuotaReached", int(result.daily_quota_reached)),
        ("MailUnavailable", int(result.unavailable)),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
