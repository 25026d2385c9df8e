"""POST /exams/{exam_id}/students: add one student and its upload code (examiner, API key)."""

from typing import Any

# The suppressed addresses' statements (db.suppressions), loaded at init: the roster's functions that
# add no student never load them.
import exam_depository.adapters.db.suppressions  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.roster import Student
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.inputs import StudentIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.post("/exams/<exam_id>/students", security=EXAMINER, responses=responses(201, Student, 403, 404, 409, 415))
def create_student(exam_id: str, student: StudentIn) -> Response[Student]:
    created = views.student(roster.create_student(caller(app), exam_id, student))
    return Response(status_code=201, content_type="application/json", body=created)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
