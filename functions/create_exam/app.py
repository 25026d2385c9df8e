"""POST /exams: create an exam with its window (examiner, API key)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exams import Exam
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.exam_inputs import ExamIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import exams

app = build_resolver()


@app.post("/exams", security=EXAMINER, responses=responses(201, Exam, 409, 415))
def create_exam(exam: ExamIn) -> Response[Exam]:
    created = views.exam(exams.create_exam(caller(app), exam))
    return Response(status_code=201, content_type="application/json", body=created)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
