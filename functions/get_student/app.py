"""GET /exams/{exam_id}/students/{nickname}: one student with all its submissions (examiner)."""

from typing import Any

# The use case's statement (db.student_details), loaded at init: the roster's other functions never load it.
import exam_depository.adapters.db.student_details  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_details import StudentDetail
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.get("/exams/<exam_id>/students/<nickname>", security=EXAMINER, responses=responses(200, StudentDetail, 403, 404))
def get_student(exam_id: str, nickname: str) -> StudentDetail:
    exam, student = roster.get_student(caller(app), exam_id, nickname)
    return views.student_detail(exam, student)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
