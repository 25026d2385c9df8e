"""GET /.well-known/jwks.json: the public keys receipts are signed with, to check one offline (anyone)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.reviews import Jwks
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import reviewer

app = build_resolver()


@app.get("/.well-known/jwks.json", responses=responses(200, Jwks))
def get_jwks() -> Response[Jwks]:
    # Public, and the same for minutes at a time: caches may keep it.
    keys = views.jwks(reviewer.jwks())
    return Response(200, "application/json", keys, headers={"Cache-Control": "public, max-age=300"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
