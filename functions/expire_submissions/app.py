"""Scheduled: mark submissions past their retention as expired and delete their files."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import expiry


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = expiry.expire_submissions(datetime.now(UTC))
    metrics.add_metric(name="SubmissionsExpired", unit=MetricUnit.Count, value=report.expired)
    logger.info("Expired submissions marked and their files deleted", extra=asdict(report))
    return asdict(report)
