"""PUT /exams/{exam_id}/students/{nickname}/extension: a student's own later times, and extra
attempts (examiner, API key)."""

from typing import Any

# The use case's statements (db.extensions, and db.attempts with the attempt limits that a change of
# extra attempts is checked against), loaded at init: the roster's other functions never load them.
import exam_depository.adapters.db.attempts
import exam_depository.adapters.db.extensions
import exam_depository.domain.attempt_limits  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_summaries import StudentSummary
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.inputs import ExtensionIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.put(
    "/exams/<exam_id>/students/<nickname>/extension",
    security=EXAMINER,
    responses=responses(200, StudentSummary, 403, 404, 415),
)
def set_extension(exam_id: str, nickname: str, extension: ExtensionIn) -> StudentSummary:
    exam, student = roster.set_extension(caller(app), exam_id, nickname, extension)
    return views.student_summary(exam, student)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
