"""GET /exams: a page of the caller's exams, each with its counts (examiner, API key)."""

from typing import Annotated, Any

# The page's cursors, loaded at init: the exams' other functions never load them.
import exam_depository.domain.cursors  # noqa: F401
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exams import ExamPage
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import exams

app = build_resolver()


@app.get("/exams", security=EXAMINER, responses=responses(200, ExamPage))
def list_exams(
    limit: Annotated[int, Query(ge=1, le=exams.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExamPage:
    return views.exam_page(exams.list_exams(caller(app), limit, cursor))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
