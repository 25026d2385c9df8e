"""Scheduled (and run by ops): make the bucket and the records agree again (docs/DESIGN.md, rule 7)."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import reconcile, recorder, scans

REPORT_METRICS = {
    "recorded": "UnnotifiedObjectsRecorded",
    "deleted": "StrayObjectsDeleted",
    "confirmed_deleted": "DeletionsConfirmed",
    "lost": "LostFiles",
    "unused_forms_dropped": "UnusedFormsDropped",
    "failed": "ReconcileFailures",
    "scans_landed": "OverdueScansLanded",  # a malware scan result whose event never came, read from its tag
    "scans_overdue": "ScansOverdue",  # recorded over half an hour ago, still without a result
}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = asdict(
        reconcile.reconcile(datetime.now(UTC), record=recorder.record_objects, record_scans=scans.record_scan_results)
    )
    for name, metric in REPORT_METRICS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=report[name])
    logger.info("Bucket and records reconciled", extra=report)
    if report["failed"]:
        # Fail the invocation so that its Errors metric shows it; the next run retries.
        raise RuntimeError(f"{report['failed']} listed object(s) could not be recorded")
    return report
