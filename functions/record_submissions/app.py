"""SQS batches of S3 ObjectCreated notifications -> recorded submissions.

A message that fails is reported in batchItemFailures: SQS retries it, then moves it to the
dead-letter queue. Recording is idempotent, so a retried message is harmless.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository import submissions
from exam_depository.notifications import objects_created
from exam_depository.observability import MetricUnit, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
OUTCOME_METRICS = {
    "recorded": "SubmissionsRecorded",
    "superseded": "SubmissionsRecordedLate",
    "updated": "SubmissionsOverwritten",
    "rejected": "UploadsRejected",
    "duplicate": "DuplicateEvents",
    "orphan": "OrphanObjectsDeleted",
    "gone": "ObjectsAlreadyGone",
    "ignored": "ObjectsIgnored",
}


def record_message(record: SQSRecord) -> None:
    for created in objects_created(record.json_body):
        result = submissions.record_object(created)
        metrics.add_metric(name=OUTCOME_METRICS[result.outcome], unit=MetricUnit.Count, value=1)
        if result.deleted:
            metrics.add_metric(name="ObjectsDeleted", unit=MetricUnit.Count, value=result.deleted)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_message, processor=processor, context=context)
