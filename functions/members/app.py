"""An exam's members (examiner, API key), five routes in one function: POST
/exams/{exam_id}/members/invitations (an owner invites), POST /members/invitations/{invitation_code}
(the invitee joins with their own key), GET /exams/{exam_id}/members, PATCH and DELETE
/exams/{exam_id}/members/{member_id} (an owner changes or removes a member; a member leaves)."""

from typing import Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.exams import Exam
from exam_depository.api.models.members import InvitationCreated, Member, Members
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.member_inputs import InvitationIn, MemberChangeIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import members

app = build_resolver()


@app.post(
    "/exams/<exam_id>/members/invitations",
    security=EXAMINER,
    responses=responses(201, InvitationCreated, 403, 404, 409, 415),
)
def invite(exam_id: str, invitation: InvitationIn) -> Response[InvitationCreated]:
    created = views.invitation_created(members.invite(caller(app), exam_id, invitation))
    return Response(status_code=201, content_type="application/json", body=created)


@app.post("/members/invitations/<invitation_code>", security=EXAMINER, responses=responses(200, Exam, 404, 409, 410))
def redeem(invitation_code: str) -> Exam:
    return views.exam(members.redeem(caller(app), invitation_code))


@app.get("/exams/<exam_id>/members", security=EXAMINER, responses=responses(200, Members, 404))
def list_members(exam_id: str) -> Members:
    return views.members(members.list_members(caller(app), exam_id))


@app.patch(
    "/exams/<exam_id>/members/<member_id>", security=EXAMINER, responses=responses(200, Member, 403, 404, 409, 415)
)
def change_member(exam_id: str, member_id: UUID, change: MemberChangeIn) -> Member:
    exam, member = members.change_member(caller(app), exam_id, member_id, change)
    return views.member(member, exam.member_id)


@app.delete("/exams/<exam_id>/members/<member_id>", security=EXAMINER, responses=responses(204, None, 403, 404, 409))
def remove_member(exam_id: str, member_id: UUID) -> Response[str]:
    members.remove_member(caller(app), exam_id, member_id)
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
