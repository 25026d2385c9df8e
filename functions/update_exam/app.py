"""PATCH /exams/{exam_id}: change an exam's title, window, time zone, attempts, anonymity (examiner)."""

from typing import Any

# The attempts used and the limits a change of max_attempts is checked against, loaded at init:
# the exams' other functions never load them.
import exam_depository.adapters.db.attempts
import exam_depository.domain.attempt_limits  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exams import Exam
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.exam_changes import ExamChange
from exam_depository.observability import logger, metrics
from exam_depository.usecases import exams

app = build_resolver()


@app.patch("/exams/<exam_id>", security=EXAMINER, responses=responses(200, Exam, 403, 404, 409, 415))
def update_exam(exam_id: str, change: ExamChange) -> Exam:
    return views.exam(exams.update_exam(caller(app), exam_id, change))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
