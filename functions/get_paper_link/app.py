"""GET /submissions/{upload_code}/paper: a short-lived link to the exam's question paper, once the
student's clock runs, until their cut-off (student, no key)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.papers import PaperLink
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import papers

app = build_resolver()


@app.get(
    "/submissions/<upload_code>/paper",
    description=(
        "A link to the exam's question paper that lives a minute, never past the student's own cut-off: in a timed "
        "exam once the student started (409 not-started before), in an untimed one from its opening (409 "
        "exam-not-open before); 409 exam-closed after the cut-off; 404 no-paper when the exam has none."
    ),
    responses=responses(200, PaperLink, 404, 409),
)
def get_paper_link(upload_code: str) -> PaperLink:
    request_id = app.current_event.request_context.request_id  # where a first link went, for the audit log
    return views.paper_link(papers.paper_link(upload_code, request_id=request_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
