"""GET /exams/{exam_id}/students: a page of the roster or of a search of it, or all of it as CSV
with the upload codes (Accept: text/csv), for a mail merge (examiner, API key)."""

from typing import Annotated, Any, Literal

# The roster page's statement, cursors and search, loaded at init: the roster's other functions
# never load them.
import exam_depository.adapters.db.student_pages
import exam_depository.domain.cursors
import exam_depository.domain.search  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_summaries import StudentPage
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses, wants_csv
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.get(
    "/exams/<exam_id>/students",
    security=EXAMINER,
    responses={
        **responses(200, StudentPage, 400, 403, 404),
        200: {
            "description": "A page of students; with Accept: text/csv, the whole roster with upload codes",
            "content": {"application/json": {"model": StudentPage}, "text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def list_students(
    exam_id: str,
    limit: Annotated[int, Query(ge=1, le=roster.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["handed_in", "late", "none"] | None, Query()] = None,
    q: Annotated[
        str | None,
        Query(
            description="A search: only the students of whom every whitespace-separated term of q is part of the "
            "nickname, first name, last name or email, case and accents aside; 1 to 100 characters once trimmed "
            "(400 otherwise, and with Accept: text/csv, which is the whole roster). A cursor serves only the q "
            "and status it came with (400 otherwise)."
        ),
    ] = None,
) -> Response[StudentPage | str]:
    if wants_csv(app):
        exam, students = roster.roster_download(caller(app), exam_id, q)
        filename, text = views.roster_download(exam, students)
        disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(200, "text/csv; charset=utf-8", text, headers=disposition)
    page = roster.list_students(caller(app), exam_id, limit, cursor, status=status, search=q)
    return Response(200, "application/json", views.student_page_json(page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
