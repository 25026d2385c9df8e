"""SQS batches of S3 ObjectCreated notifications -> recorded submissions, one transaction a batch;
the examiners' question papers (the papers prefix) come through the same queue and are recorded
apart (`paper_recorder.record_papers`).

A message that fails is reported in batchItemFailures: SQS retries it, then moves it to the
dead-letter queue. Recording is idempotent, so a retried message is harmless. The failed messages'
visibility is shortened first (`recorder.retry_soon`): they come back in seconds, with backoff,
not after the queue's visibility timeout.
"""

import functools
import json
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters import snapstart  # noqa: F401  # registers the SnapStart hooks
from exam_depository.adapters.storage import objects_created
from exam_depository.config import StorageSettings, load
from exam_depository.domain.recording import BatchResult, ObjectCreated, Outcome
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import recorder

# One metric per outcome (the dashboard shows some of them; a test holds it to this table).
OUTCOME_METRICS = {
    "recorded": "SubmissionsRecorded",
    "superseded": "SubmissionsRecordedOutOfOrder",
    "rejected": "UploadsRejected",
    "form_reused": "FormReusesRejected",
    "duplicate": "DuplicateEvents",
    "orphan": "OrphanObjectsDeleted",
    "gone": "ObjectsAlreadyGone",
    "ignored": "ObjectsIgnored",
    "paper_recorded": "PapersRecorded",
    "paper_rejected": "PapersRejected",
}
# Object versions S3 confirmed deleted (superseded, rejected, reused, orphans).
DELETED_METRIC = "ObjectVersionsDeleted"
# Every recorded submission gets one, in the transaction that records it.
RECEIPTS_METRIC = "ReceiptsIssued"
RECORDED = ("recorded", "superseded")


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    created: list[ObjectCreated] = []
    message_of: list[str] = []
    failed_messages: set[str] = set()
    for message in event["Records"]:
        try:
            objects = objects_created(json.loads(message["body"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            logger.exception("Unreadable notification; it goes to the dead-letter queue after its retries")
            failed_messages.add(message["messageId"])
            continue
        created.extend(objects)
        message_of.extend(message["messageId"] for _ in objects)

    # When Lambda stops this invocation: the PDF checks of the batch end before it.
    ends_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    result = _record(created, ends_at)
    failed_messages |= {message_of[index] for index in result.failed}
    for outcome in result.outcomes:
        if outcome is not None:
            metrics.add_metric(name=OUTCOME_METRICS[outcome], unit=MetricUnit.Count, value=1)
    if result.deleted:
        metrics.add_metric(name=DELETED_METRIC, unit=MetricUnit.Count, value=result.deleted)
    receipts_issued = sum(1 for outcome in result.outcomes if outcome in RECORDED)
    if receipts_issued:
        metrics.add_metric(name=RECEIPTS_METRIC, unit=MetricUnit.Count, value=receipts_issued)
    failed = [message for message in event["Records"] if message["messageId"] in failed_messages]
    if failed:
        # An unreadable notification too: it fails at every try, so it reaches the dead-letter
        # queue (and its alarm) in minutes rather than in a quarter of an hour.
        recorder.retry_soon(
            [(message["receiptHandle"], int(message["attributes"]["ApproximateReceiveCount"])) for message in failed]
        )
    return {"batchItemFailures": [{"itemIdentifier": message["messageId"]} for message in failed]}


def _record(created: list[ObjectCreated], ends_at: float) -> BatchResult:
    """The answers to the recorder, the question papers to theirs (each untouched if it has none),
    and their results back in the batch's order."""
    prefix = load(StorageSettings).papers_prefix
    paper_indices = [index for index, event in enumerate(created) if event.key.startswith(prefix)]
    other_indices = [index for index, event in enumerate(created) if not event.key.startswith(prefix)]
    outcomes: list[Outcome | None] = [None] * len(created)
    failed: set[int] = set()
    deleted = 0
    answers = functools.partial(recorder.record_objects, ends_at=ends_at)
    for indices, record in ((other_indices, answers), (paper_indices, _record_papers)):
        if not indices:
            continue
        result = record([created[index] for index in indices])
        for index, outcome in zip(indices, result.outcomes, strict=True):
            outcomes[index] = outcome
        failed |= {indices[item] for item in result.failed}
        deleted += result.deleted
    return BatchResult(outcomes, failed, deleted)


def _record_papers(created: list[ObjectCreated]) -> BatchResult:
    # Imported at the first paper: an exam has one, and the answers, which come by the thousand at
    # a deadline, are recorded by environments that need not load the papers' code at init.
    from exam_depository.usecases import paper_recorder

    return paper_recorder.record_papers(created)
