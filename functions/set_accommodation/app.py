"""PUT /exams/{exam_id}/students/{nickname}/accommodation: a student's extra time in a timed
exam (examiner, API key)."""

from typing import Any

# The use case's statements (db.extensions), loaded at init: the roster's other functions never load them.
import exam_depository.adapters.db.extensions  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_summaries import StudentSummary
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.inputs import AccommodationIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.put(
    "/exams/<exam_id>/students/<nickname>/accommodation",
    security=EXAMINER,
    description=(
        "Extra time, in percent of the exam's duration and in minutes (zeros remove it). It may be set before "
        "the exam is timed, and after the student started: their due time moves at once."
    ),
    responses=responses(200, StudentSummary, 403, 404, 415),
)
def set_accommodation(exam_id: str, nickname: str, accommodation: AccommodationIn) -> StudentSummary:
    exam, student = roster.set_accommodation(caller(app), exam_id, nickname, accommodation)
    return views.student_summary(exam, student)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
