"""SQS batches of malware scan results -> each submission's scan state, one transaction a batch.

GuardDuty Malware Protection for S3 (or the local scanner, which speaks the same) puts a result
on EventBridge for each scanned object version; a rule sends it to the scan queue, whose message
body is the event. Results arrive at least once and in any order: recording them is idempotent
and order-free (`domain.scans.precedence`). A result that ends the keeping of a student's
earlier files (their current file found clean) deletes them. A message that fails is reported in
batchItemFailures: SQS retries it, then moves it to the dead-letter queue (and its alarm) — an
event of a shape we do not know fails there rather than being passed over.
"""

import json
from typing import Any

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.config import StorageSettings, load
from exam_depository.domain.scans import Ignored, ScanResult, scan_result_of
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import scans

IGNORED_METRIC = "ScanResultsIgnored"  # well formed, about no submission (the plan's validation object)
UNMATCHED_METRIC = "ScanResultsUnmatched"  # about a submission key no upload has
STATE_METRIC = "ScanResults"  # a submission's state changed, by state (dimension `state`)
# Earlier files no longer kept in place of a later one, S3 confirmed deleted (the recorder's metric).
DELETED_METRIC = "ObjectVersionsDeleted"


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    storage = load(StorageSettings)
    results: list[ScanResult | Ignored] = []
    failed: set[str] = set()
    message_of: list[str] = []
    for message in event["Records"]:
        try:
            result = scan_result_of(json.loads(message["body"]), bucket=storage.bucket, prefix=storage.prefix)
        except (ValueError, KeyError, TypeError, RecursionError):
            logger.exception("Unreadable scan result; it goes to the dead-letter queue after its retries")
            failed.add(message["messageId"])
            continue
        results.append(result)
        message_of.append(message["messageId"])

    batch = scans.record_scan_results(results)
    failed |= {message_of[index] for index in batch.failed}
    ignored = sum(1 for result in results if isinstance(result, Ignored))
    if ignored:
        metrics.add_metric(name=IGNORED_METRIC, unit=MetricUnit.Count, value=ignored)
    if batch.unmatched:
        metrics.add_metric(name=UNMATCHED_METRIC, unit=MetricUnit.Count, value=batch.unmatched)
    if batch.deleted:
        metrics.add_metric(name=DELETED_METRIC, unit=MetricUnit.Count, value=batch.deleted)
    for state in sorted(set(batch.changed)):
        with single_metric(
            name=STATE_METRIC,
            unit=MetricUnit.Count,
            value=batch.changed.count(state),
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="state", value=state)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(failed)]}
