"""Mail to an exam's students (examiner, API key), two routes in one function: POST
/exams/{exam_id}/students/send-codes (email students their upload codes) and PUT
/exams/{exam_id}/students/{nickname}/email (give a student another address, or none)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.mail import CodesQueued
from exam_depository.api.models.roster import Student
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.inputs import EmailChangeIn, SendCodesIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import mail

app = build_resolver()


@app.post(
    "/exams/<exam_id>/students/send-codes",
    security=EXAMINER,
    responses=responses(202, CodesQueued, 403, 404, 409, 415, 422, 429),
)
def send_codes(exam_id: str, request: SendCodesIn) -> Response[CodesQueued]:
    queued = views.codes_queued(mail.send_codes(caller(app), exam_id, request))
    return Response(status_code=202, content_type="application/json", body=queued)


@app.put(
    "/exams/<exam_id>/students/<nickname>/email",
    security=EXAMINER,
    responses=responses(200, Student, 403, 404, 409, 415),
)
def change_email(exam_id: str, nickname: str, change: EmailChangeIn) -> Student:
    return views.student(mail.change_email(caller(app), exam_id, nickname, change))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
