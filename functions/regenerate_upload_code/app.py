"""POST /exams/{exam_id}/students/{nickname}/upload_code: a new upload code for a student whose
code leaked; the old one stops working (examiner, API key)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.roster import Student
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.post(
    "/exams/<exam_id>/students/<nickname>/upload_code",
    security=EXAMINER,
    responses=responses(201, Student, 403, 404),
    description="No body. The student with its new upload_code; from then on the old code answers 404 on "
    "POST and GET /submissions/{upload_code}. A form issued with the old code before still records.",
)
def regenerate_upload_code(exam_id: str, nickname: str) -> Response[Student]:
    student = views.student(roster.regenerate_upload_code(caller(app), exam_id, nickname))
    return Response(status_code=201, content_type="application/json", body=student)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
