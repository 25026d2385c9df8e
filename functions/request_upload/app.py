"""POST /submissions/{upload_code}: a presigned S3 POST form for one file (student, no key)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters import snapstart  # noqa: F401  # registers the SnapStart hooks
from exam_depository.api import views
from exam_depository.api.models.uploads import UploadForm
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.domain.form_requests import UploadRequest
from exam_depository.observability import MetricUnit, logger, metrics
from exam_depository.usecases import student

app = build_resolver()
ISSUED_METRIC = "UploadsIssued"


@app.post("/submissions/<upload_code>", responses=responses(201, UploadForm, 404, 409, 415, 429))
def request_upload(upload_code: str, request: Annotated[UploadRequest | None, Body()] = None) -> Response[UploadForm]:
    form = views.upload_form(student.request_upload(upload_code, request or UploadRequest()))
    metrics.add_metric(name=ISSUED_METRIC, unit=MetricUnit.Count, value=1)
    return Response(status_code=201, content_type="application/json", body=form)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
