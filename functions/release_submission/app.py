"""POST /exams/{exam_id}/submissions/{upload_id}/release: the exam's owner lets a file that could
not be scanned for malware be downloaded, saying why (examiner, API key; audited)."""

from typing import Any
from uuid import UUID

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.submissions import Submission
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.release_inputs import ReleaseIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import releases

app = build_resolver()


@app.post(
    "/exams/<exam_id>/submissions/<upload_id>/release",
    security=EXAMINER,
    responses=responses(200, Submission, 403, 404, 409, 415),
)
def release_submission(exam_id: str, upload_id: UUID, release: ReleaseIn) -> Submission:
    return views.released(releases.release_submission(caller(app), exam_id, upload_id, release))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
