"""POST /students/import: create students from a CSV roster, all or nothing (examiner, API key)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository import students
from exam_depository.errors import UnsupportedMediaType
from exam_depository.http import EXAMINER, build_resolver, request_body_bytes, responses
from exam_depository.models import ImportResult
from exam_depository.observability import logger, metrics

app = build_resolver()
CSV_TYPES = ("text/csv", "application/csv")


@app.post(
    "/students/import",
    security=EXAMINER,
    description="Body: text/csv, UTF-8, header row nickname,first_name,last_name[,email]; at most 5,000 rows.",
    responses={
        **responses(201, ImportResult, 409, 413, 415),
        200: {"description": "Every row existed already", "content": {"application/json": {"model": ImportResult}}},
    },
)
def import_students() -> Response[ImportResult]:
    content_type = app.current_event.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType("Send the roster as text/csv.")
    result, created = students.import_roster(request_body_bytes(app))
    return Response(status_code=201 if created else 200, content_type="application/json", body=result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
