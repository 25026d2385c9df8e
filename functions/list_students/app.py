"""GET /students: a page of students with their submission counts and current file (examiner)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository import students
from exam_depository.http import EXAMINER, build_resolver, responses
from exam_depository.models import StudentPage
from exam_depository.observability import logger, metrics

app = build_resolver()


@app.get("/students", security=EXAMINER, responses=responses(200, StudentPage))
def list_students(
    limit: Annotated[int, Query(ge=1, le=students.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> StudentPage:
    return students.list_students(limit, cursor)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
