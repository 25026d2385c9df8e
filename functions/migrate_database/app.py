"""Invoked by ops after a deploy (`make migrate-remote`): apply pending schema migrations."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import logger
from exam_depository.usecases import ops


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    applied = ops.migrate()
    logger.info("Migrations applied", extra={"applied": applied})
    return {"applied": applied}
