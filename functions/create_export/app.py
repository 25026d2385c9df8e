"""POST /exams/{exam_id}/exports: start collecting every current submission into one ZIP (examiner)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exports import ExportStarted
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import exports

app = build_resolver()


@app.post("/exams/<exam_id>/exports", security=EXAMINER, responses=responses(202, ExportStarted, 403, 404))
def create_export(exam_id: str) -> Response[ExportStarted]:
    started = views.export_started(exports.start_export(caller(app), exam_id))
    return Response(status_code=202, content_type="application/json", body=started)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
