"""SQS batches of SES's events about our messages -> each message's state and its student's.

SES publishes each message's events (Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay)
through the configuration set the message names to EventBridge's default bus; a rule sends those
of our configuration set to the mail events queue, whose message body is the event. Events arrive
at least once and in any order: recording them is idempotent and order-free (a state only
advances). A message that fails is reported in batchItemFailures: SQS retries it, then moves it
to the dead-letter queue (and its alarm) — an event of a shape we do not know fails there rather
than being passed over.
"""

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.config import load
from exam_depository.domain.mail_events import Ignored, MailEvent, mail_event_of
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases.mail_events import MailEventsSettings, record_mail_events

UNMATCHED_METRIC = "MailEventsUnmatched"  # not ours (another set, an identity's notification) or about no message
SUPPRESSED_METRIC = "MailAddressesSuppressed"  # a permanent bounce or a complaint: never mailed again


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    configuration_set = load(MailEventsSettings).configuration_set
    events: list[MailEvent | Ignored] = []
    failed: set[str] = set()
    message_of: list[str] = []
    for message in event["Records"]:
        try:
            events.append(mail_event_of(json.loads(message["body"]), configuration_set=configuration_set))
        except (ValueError, KeyError, TypeError, RecursionError):
            logger.exception("Unreadable mail event; it goes to the dead-letter queue after its retries")
            failed.add(message["messageId"])
            continue
        message_of.append(message["messageId"])

    batch = record_mail_events(events)
    failed |= {message_of[index] for index in batch.failed}
    if batch.unmatched:
        metrics.add_metric(name=UNMATCHED_METRIC, unit=MetricUnit.Count, value=batch.unmatched)
    if batch.suppressed:
        metrics.add_metric(name=SUPPRESSED_METRIC, unit=MetricUnit.Count, value=batch.suppressed)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(failed)]}
