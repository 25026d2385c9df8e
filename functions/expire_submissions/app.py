"""Scheduled: mark submissions past their retention as expired and delete their files; sign a
checkpoint of each finished exam's audit log; purge the logs of exams deleted long ago."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import checkpoints, expiry


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    report = expiry.expire_submissions(datetime.now(UTC), checkpoint=checkpoints.sign_checkpoint)
    metrics.add_metric(name="SubmissionsExpired", unit=MetricUnit.Count, value=report.expired)
    logger.info("Expired submissions marked and their files deleted", extra=asdict(report))
    return asdict(report)
