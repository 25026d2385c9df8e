"""POST /receipts/verify: is a receipt genuine, what does it state, what became of its file (anyone)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api import views
from exam_depository.api.models.reviews import ReceiptCheck, ReceiptIn
from exam_depository.api.resolver import build_resolver, responses
from exam_depository.observability import logger, metrics
from exam_depository.usecases import reviewer

app = build_resolver()


@app.post(
    "/receipts/verify",
    description="A receipt that is not genuine is a 200 with genuine false and the reason, not an error.",
    responses=responses(200, ReceiptCheck, 415),
)
def verify_receipt(receipt: ReceiptIn) -> ReceiptCheck:
    return views.receipt_check(reviewer.check_receipt(receipt.receipt))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
