"""GET /verifications/{verification_code}: what was submitted under a code (reviewer)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.reviews import Verification
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import reviewer

app = build_resolver()


@app.get("/verifications/<verification_code>", responses=responses(200, Verification, 404))
def get_verification(verification_code: str) -> Verification:
    return views.verification(reviewer.verify(verification_code))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
