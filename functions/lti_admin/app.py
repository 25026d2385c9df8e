"""The LMS's administration, six routes in one function: POST /lti/registrations (by hand, with an
API key), GET /lti/registrations, POST /lti/registrations/dynamic (a one-time URL), POST
/lti/deep-links (a teacher from the course chooses the exam to place there), GET /exams/{exam_id}/lti
(the courses an exam is placed in) and POST /exams/{exam_id}/lti/roster-sync (read their class
lists now)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters.db.lti import RegistrationRow
from exam_depository.api.models.lti import (
    DeepLinkAnswer,
    DynamicOffer,
    ExamLti,
    Registration,
    Registrations,
    RosterSynced,
    ToolUrls,
)
from exam_depository.api.resolver import EXAMINER, build_resolver, caller, responses
from exam_depository.domain.lti_inputs import DeepLinkIn, RegistrationIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import lti_admin

app = build_resolver()


def _base() -> str:
    event = app.current_event
    stage_path = event.request_context.path or event.path
    return lti_admin.base_url(
        event.headers.get("Host") or event.headers.get("host"), stage_path[: len(stage_path) - len(event.path)]
    )


def _registration(row: RegistrationRow) -> Registration:
    urls = lti_admin.tool_urls(_base())
    return Registration(
        registration_id=row.public_id,
        issuer=row.issuer,
        client_id=row.client_id,
        deployment_ids=row.deployment_ids,
        auth_login_url=row.auth_login_url,
        auth_token_url=row.auth_token_url,
        auth_audience=row.auth_audience,
        key_set_url=row.key_set_url,
        how=row.how,
        platform_name=row.platform_name,
        active=row.active,
        created_at=row.created_at,
        tool=ToolUrls(**urls.__dict__),
    )


@app.post("/lti/registrations", security=EXAMINER, responses=responses(201, Registration, 403, 409, 415, 422))
def register(registration: RegistrationIn) -> Response[Registration]:
    made = lti_admin.register(caller(app), registration)
    return Response(
        status_code=201 if made.created else 200, content_type="application/json", body=_registration(made.registration)
    )


@app.get("/lti/registrations", security=EXAMINER, responses=responses(200, Registrations))
def list_registrations() -> Registrations:
    return Registrations(items=[_registration(row) for row in lti_admin.registrations(caller(app))])


@app.post("/lti/registrations/dynamic", security=EXAMINER, responses=responses(201, DynamicOffer, 403))
def offer() -> Response[DynamicOffer]:
    made = lti_admin.offer(caller(app), datetime.now(UTC))
    body = DynamicOffer(registration_url=lti_admin.offer_url(_base(), made.token), expires_at=made.expires_at)
    return Response(status_code=201, content_type="application/json", body=body)


@app.post("/lti/deep-links", security=EXAMINER, responses=responses(200, DeepLinkAnswer, 403, 404, 410, 415, 422))
def deep_link(request: DeepLinkIn) -> DeepLinkAnswer:
    answer = lti_admin.complete_deep_link(caller(app), request, _base(), datetime.now(UTC))
    return DeepLinkAnswer(return_url=answer.return_url, jwt=answer.jwt)


@app.get("/exams/<exam_id>/lti", security=EXAMINER, responses=responses(200, ExamLti, 404))
def exam_lti(exam_id: str) -> ExamLti:
    state = lti_admin.exam_lti(caller(app), exam_id)
    return ExamLti.model_validate(
        {
            "links": [
                {
                    "link_id": link.link_id,
                    "course": link.course,
                    "context_id": link.context_id,
                    "deployment_id": link.deployment_id,
                    "platform": link.platform,
                    "line_item": link.line_item,
                    "roster_service": link.roster_service,
                    "created_at": link.created_at,
                    "last_sync": link.last_sync,
                }
                for link in state.links
            ],
            "scores": {
                kind: state.scores.get(kind, 0) for kind in ("queued", "sending", "sent", "superseded", "failed")
            },
        }
    )


@app.post("/exams/<exam_id>/lti/roster-sync", security=EXAMINER, responses=responses(200, RosterSynced, 403, 404, 409))
def roster_sync(exam_id: str) -> RosterSynced:
    return RosterSynced.model_validate({"links": lti_admin.sync_roster(caller(app), exam_id)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
