"""POST /exams/{exam_id}/extensions/import: extensions from a CSV, all or nothing (examiner)."""

from typing import Any

# The use case's statements (db.extensions, and db.attempts with the attempt limits that a change of
# extra attempts is checked against), loaded at init: the roster's other functions never load them.
import exam_depository.adapters.db.attempts
import exam_depository.adapters.db.extensions
import exam_depository.domain.attempt_limits  # noqa: F401
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.student_summaries import ExtensionImportResult
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, request_csv, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.post(
    "/exams/<exam_id>/extensions/import",
    security=EXAMINER,
    description=(
        "Body: text/csv, UTF-8, header row nickname,due_at[,cutoff_at][,extra_attempts]; times in RFC 3339 "
        "with their offset. A missing cutoff_at keeps the exam's time between due and cut-off."
    ),
    responses=responses(200, ExtensionImportResult, 403, 404, 413, 415),
)
def import_extensions(exam_id: str) -> ExtensionImportResult:
    exam, extended = roster.import_extensions(caller(app), exam_id, request_csv(app))
    return views.extension_import_result(exam, extended)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
