"""The LTI tool's open routes (no key; a platform and a browser call them): GET|POST /lti/login (OIDC
login initiation), POST /lti/launch, GET /lti/jwks.json (the tool's public keys), GET
/lti/register/{offer} (dynamic registration), POST /lti/tickets (a learner's landing exchanged for
their upload code). The pages are in pages/."""

import base64
import hashlib
import html
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.api.models.lti_tool import TicketRedeemed, ToolJwks
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.config import load
from exam_depository.domain.lti_inputs import TicketIn
from exam_depository.observability import logger, metrics
from exam_depository.usecases import lti_tool

app = build_resolver()


PAGES = Path(__file__).parent / "pages"


@cache
def _template(name: str) -> tuple[str, str]:
    """A page, and its one constant script's SHA-256 as a CSP source."""
    text = (PAGES / name).read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode() if script else ""
    return text, f"'sha256-{digest}'" if digest else "'none'"


def _answer(answer: lti_tool.Answer) -> Response[str]:
    if isinstance(answer, lti_tool.Redirect):
        headers = {"Location": answer.location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return Response(303, None, "", headers=headers)
    text, script = _template(answer.name)
    for key, value in answer.values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    # Framed by any https page: the page holding the course is often on another host than the
    # platform's issuer and login URL (Canvas's issuer is canvas.instructure.com, its courses on a
    # school's own host), and these pages hold nothing to click on but "Open in a new window".
    # Loopback http for the tests' platform.
    loopback = load(LtiSettings).allow_loopback
    # The confirm page's script sends the state it read back to the launch (`is_confirmation`).
    connect = "connect-src 'self'; " if answer.name == "confirm.html" else ""
    framers = "https:" + (" http://localhost:* http://127.0.0.1:*" if loopback else "")
    csp = (
        f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; {connect}"
        f"form-action 'self'; base-uri 'none'; frame-ancestors {framers}"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(answer.status, "text/html; charset=utf-8", text, headers=headers, cookies=list(answer.cookies))  # type: ignore[arg-type]


def _request_id() -> str | None:
    request_id: str | None = app.current_event.request_context.request_id
    return request_id


@app.get("/lti/login", include_in_schema=False)
@app.post("/lti/login", include_in_schema=False)
def login() -> Response[str]:
    return _answer(lti_tool.login(app.current_event.raw_event, datetime.now(UTC)))


@app.post("/lti/launch", include_in_schema=False)
def launch() -> Response[str]:
    event = app.current_event.raw_event
    answer = lti_tool.launch(event, datetime.now(UTC), _request_id())
    if not lti_tool.is_confirmation(event):
        return _answer(answer)
    # The confirm page's fetch: where to go (its script navigates the frame), or why not.
    if isinstance(answer, lti_tool.Redirect):
        found = {"location": answer.location}
    else:
        found = {"sentence": answer.values.get("sentence", ""), "type": answer.values.get("type", "")}
    status = 200 if isinstance(answer, lti_tool.Redirect) else answer.status
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
    return Response(status, "application/json", json.dumps(found), headers=headers)


@app.get("/lti/jwks.json", responses=responses(200, ToolJwks))
def jwks() -> Response[ToolJwks]:
    # Platforms cache a tool's key set: a rotation publishes the new key beside the old for a day.
    keys = ToolJwks.model_validate(lti_tool.jwks())
    return Response(200, "application/json", keys, headers={"Cache-Control": "public, max-age=3600"})


@app.get("/lti/register/<offer>", include_in_schema=False)
def register(offer: str) -> Response[str]:
    return _answer(lti_tool.register(app.current_event.raw_event, offer, datetime.now(UTC)))


@app.post("/lti/tickets", responses=responses(200, TicketRedeemed, 410, 415, 422))
def redeem_ticket(ticket: TicketIn) -> TicketRedeemed:
    return TicketRedeemed(upload_code=lti_tool.redeem_ticket(ticket.ticket, datetime.now(UTC)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
