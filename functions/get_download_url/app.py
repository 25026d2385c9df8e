"""GET /verifications/{verification_code}/download_url: a short-lived link to the file (reviewer)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.reviews import DownloadLink
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import reviewer

app = build_resolver()


@app.get("/verifications/<verification_code>/download_url", responses=responses(200, DownloadLink, 404, 410))
def get_download_url(verification_code: str) -> DownloadLink:
    request_id = app.current_event.request_context.request_id  # where the link went, for the audit log
    return views.download_link(reviewer.download_link(verification_code, request_id=request_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
