"""GET /exams/{exam_id}/audit: a page of the exam's audit log, newest first, filtered by student or
action, or the whole chain as CSV (Accept: text/csv), oldest first (owner, co-examiner)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.audit import AuditPage
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses, wants_csv
from exam_depository.domain.audit import AuditAction
from exam_depository.observability import logger, metrics
from exam_depository.usecases import audit

app = build_resolver()


@app.get(
    "/exams/<exam_id>/audit",
    security=EXAMINER,
    responses={
        **responses(200, AuditPage, 400, 403, 404, 413),
        200: {
            "description": "A page of the log, newest first; with Accept: text/csv, the whole chain, oldest first",
            "content": {"application/json": {"model": AuditPage}, "text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def list_audit(
    exam_id: str,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    nickname: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Only the events about this student: a nickname of the roster, or a pseudonym (also of a "
            "student deleted since). Not with Accept: text/csv, which is the whole log (400).",
        ),
    ] = None,
    action: Annotated[AuditAction | None, Query(description="Only the events of this action.")] = None,
) -> Response[AuditPage | str]:
    if wants_csv(app):
        filtered = nickname is not None or action is not None
        exam, content = audit.audit_download(caller(app), exam_id, filtered=filtered)
        body, headers = views.audit_download(exam, content, app.current_event.headers.get("accept-encoding"))
        return Response(200, "text/csv; charset=utf-8", body, headers=headers, compress=True)
    page = audit.audit_page(caller(app), exam_id, limit, cursor, nickname=nickname, action=action)
    return Response(200, "application/json", views.audit_page(page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
