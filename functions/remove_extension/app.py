"""DELETE /exams/{exam_id}/students/{nickname}/extension: the exam's window again (examiner)."""

from typing import Any

# The use case's statements (db.extensions, and db.attempts with the attempt limits that a change of
# extra attempts is checked against), loaded at init: the roster's other functions never load them.
import exam_depository.adapters.db.attempts
import exam_depository.adapters.db.extensions
import exam_depository.domain.attempt_limits  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.delete(
    "/exams/<exam_id>/students/<nickname>/extension", security=EXAMINER, responses=responses(204, None, 403, 404)
)
def remove_extension(exam_id: str, nickname: str) -> Response[str]:
    roster.remove_extension(caller(app), exam_id, nickname)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
