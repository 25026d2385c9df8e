"""Apply pending schema migrations: as a step of the stack's deployment (CloudFormation's requests
for its custom resource DatabaseMigration, answered to their ResponseURL), or when ops invoke it
(`make migrate-remote`, after a restore)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import logger
from exam_depository.usecases import ops


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]] | None:
    if "RequestType" in event:  # CloudFormation's: its answer goes to the ResponseURL, not here
        ops.migrate_for_deployment(event, log_stream=context.log_stream_name)
        return None
    applied = ops.migrate()
    logger.info("Migrations applied", extra={"applied": applied})
    return {"applied": applied}
