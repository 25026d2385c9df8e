"""Scheduled (one-time, by an exam's wake schedule): use the database once, so that a paused
Aurora Serverless database has resumed when the exam opens or falls due."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.domain.wakes import Moment
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import exams
from pydantic import BaseModel


class WakeEvent(BaseModel):
    """The input each wake schedule carries: which exam and which of its moments it is for."""

    exam_pk: int
    moment: Moment


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    wake = WakeEvent.model_validate(event)
    exams.wake_database(wake.exam_pk, wake.moment)
    metrics.add_metric(name="DatabaseWakes", unit=MetricUnit.Count, value=1)
