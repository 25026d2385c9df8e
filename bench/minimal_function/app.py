"""The floor of a function: the same stack with nothing of ours (Powertools' Logger, a REST
resolver with validation, one pydantic model, one route). bench.cold starts it as it starts each
function; bench.warm invokes it where a route has no outside work to replay."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)


class Item(BaseModel):
    name: str


@app.get("/items/<item_id>")
def get_item(item_id: str) -> Item:
    return Item(name=item_id)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
