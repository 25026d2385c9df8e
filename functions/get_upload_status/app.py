"""GET /submissions/{upload_code}: attempts, current file and uploads in flight (student)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters import snapstart  # noqa: F401  # registers the SnapStart hooks
from exam_depository.api import views
from exam_depository.api.models.uploads import UploadProgress
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import student

app = build_resolver()


@app.get("/submissions/<upload_code>", responses=responses(200, UploadProgress, 404))
def get_upload_status(upload_code: str) -> UploadProgress:
    return views.upload_progress(student.upload_progress(upload_code))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
