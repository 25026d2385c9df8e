"""GET /exams/{exam_id}/exports/{export_id}: an export's progress, and its ZIP when done (examiner)."""

from typing import Any
from uuid import UUID

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exports import Export
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import exports

app = build_resolver()


@app.get("/exams/<exam_id>/exports/<export_id>", security=EXAMINER, responses=responses(200, Export, 403, 404, 410))
def get_export(exam_id: str, export_id: UUID) -> Export:
    export, url = exports.export_status(caller(app), exam_id, export_id)
    return views.export(export, url)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
