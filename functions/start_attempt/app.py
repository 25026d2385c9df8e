"""POST /submissions/{upload_code}/start: start the student's clock in a timed exam, on the
server's clock; again, the same start (student, no key)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.uploads import Started
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import student

app = build_resolver()


@app.post(
    "/submissions/<upload_code>/start",
    description=(
        "No body. Starts the clock of a timed exam: the student has until started_at plus the duration with "
        "their extra time, never later than the exam's (or their extension's) due time. Repeating it answers "
        "the first start. 409 not-timed, exam-not-open, exam-closed, or no-time-left (the due time has passed)."
    ),
    responses=responses(200, Started, 404, 409),
)
def start_attempt(upload_code: str) -> Started:
    return views.started(student.start_attempt(upload_code))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
