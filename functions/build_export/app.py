"""SQS export jobs -> a ZIP of an exam's current submissions in S3 (one job per invocation).

An export that cannot succeed is marked failed and its message consumed; S3 or the database
unavailable raises, so SQS retries the job, until its last try, which marks it failed too.
"""

import json
import os
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import checkpoints, export_builder

OUTCOME_METRICS = {"done": "ExportsDone", "failed": "ExportsFailed"}
BYTES_METRIC = "ExportBytes"
# The export queue's maxReceiveCount (template.yaml; a test holds them equal).
MAX_TRIES = int(os.environ.get("EXPORT_MAX_TRIES", "3"))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    (message,) = event["Records"]  # the event source's BatchSize is 1: a job is minutes long
    export_id = UUID(json.loads(message["body"])["export_id"])
    tries = int(message.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    built = export_builder.build_export(export_id, last_try=tries >= MAX_TRIES, checkpoint=checkpoints.sign_checkpoint)
    if built.outcome in OUTCOME_METRICS:
        metrics.add_metric(name=OUTCOME_METRICS[built.outcome], unit=MetricUnit.Count, value=1)
    if built.bytes:
        metrics.add_metric(name=BYTES_METRIC, unit=MetricUnit.Bytes, value=built.bytes)
    logger.info("Export job handled", extra={"export_id": str(export_id), "outcome": built.outcome, "try": tries})
    return {"outcome": built.outcome}
