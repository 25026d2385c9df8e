"""POST /exams/{exam_id}/paper: a presigned S3 POST form for the exam's question paper, a PDF, until
the exam opens (examiner, API key)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.papers import PaperForm
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.form_requests import PaperRequest
from exam_depository.observability import logger, metrics
from exam_depository.usecases import papers

app = build_resolver()


@app.post(
    "/exams/<exam_id>/paper",
    security=EXAMINER,
    description=(
        "A form to POST the exam's question paper (a PDF of at most 20 MiB) straight to S3, until the exam opens; "
        "the one uploaded with the form issued last is the exam's paper once checked (the exam's paper_uploads "
        "say what became of each). 409 paper-locked once the exam opened."
    ),
    responses=responses(201, PaperForm, 403, 404, 409, 415, 429),
)
def request_paper_upload(exam_id: str, request: Annotated[PaperRequest | None, Body()] = None) -> Response[PaperForm]:
    form = views.paper_form(papers.request_paper_upload(caller(app), exam_id, request or PaperRequest()))
    return Response(status_code=201, content_type="application/json", body=form)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
