"""POST /exams/{exam_id}/close: end the window now for every student, extensions included (examiner)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exams import Exam
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import checkpoints, exams

app = build_resolver()


@app.post("/exams/<exam_id>/close", security=EXAMINER, responses=responses(200, Exam, 403, 404))
def close_exam(exam_id: str) -> Exam:
    return views.exam(exams.close_exam(caller(app), exam_id, checkpoint=checkpoints.sign_checkpoint))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
