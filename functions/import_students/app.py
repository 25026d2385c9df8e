"""POST /exams/{exam_id}/students/import: students from a CSV roster, all or nothing (examiner)."""

from typing import Any

# The suppressed addresses' statements (db.suppressions), loaded at init: the roster's functions that
# add no student never load them.
import exam_depository.adapters.db.suppressions  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.roster_imports import ImportResult
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, request_csv, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.post(
    "/exams/<exam_id>/students/import",
    security=EXAMINER,
    description=(
        "Body: text/csv, UTF-8 (a BOM is fine), header row nickname,first_name,last_name[,email][,upload_code]; "
        "at most 5,000 rows. 201 when students were created, 200 when every row was in the exam already."
    ),
    responses={
        **responses(201, ImportResult, 403, 404, 409, 413, 415),
        200: {"description": "Every row existed already", "content": {"application/json": {"model": ImportResult}}},
    },
)
def import_students(exam_id: str) -> Response[ImportResult]:
    result = roster.import_roster(caller(app), exam_id, request_csv(app))
    status = 201 if result.created else 200
    return Response(status_code=status, content_type="application/json", body=views.import_result(result))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
