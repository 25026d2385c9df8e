"""DELETE /exams/{exam_id}/students/{nickname}: remove a student, its records and files (examiner)."""

from typing import Any

# The use case's statements, S3 and the files' folders, loaded at init: the roster's other
# functions never load them.
import exam_depository.adapters.db.student_deletion
import exam_depository.adapters.storage
import exam_depository.domain.filenames  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import roster

app = build_resolver()


@app.delete("/exams/<exam_id>/students/<nickname>", security=EXAMINER, responses=responses(204, None, 403, 404))
def delete_student(exam_id: str, nickname: str) -> Response[str]:
    roster.delete_student(caller(app), exam_id, nickname)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
