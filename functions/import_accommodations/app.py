"""POST /exams/{exam_id}/accommodations/import: extra time from a CSV, all or nothing (examiner)."""

from typing import Any

# The use case's statements (db.extensions), loaded at init: the roster's other functions never load them.
import exam_depository.adapters.db.extensions  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_summaries import AccommodationImportResult
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, request_csv, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.post(
    "/exams/<exam_id>/accommodations/import",
    security=EXAMINER,
    description=(
        "Body: text/csv, UTF-8, header row nickname,extra_time_percent[,extra_time_minutes] in any order; "
        "percent 0 to 300, minutes 0 to 1440 (empty: 0). Every bad row is answered by line and nothing changes."
    ),
    responses=responses(200, AccommodationImportResult, 403, 404, 413, 415),
)
def import_accommodations(exam_id: str) -> AccommodationImportResult:
    exam, accommodated = roster.import_accommodations(caller(app), exam_id, request_csv(app))
    return views.accommodation_import_result(exam, accommodated)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
