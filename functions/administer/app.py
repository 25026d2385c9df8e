"""Invoked by ops (make assign-exam, make link-key), never by a route: who owns what.

{"command": "assign-exam", "exam_id": "legacy", "api_key_id": "<key id>"}: give an exam that
belongs to no one (the legacy exam of an upgrade) to the examiner of that key.
{"command": "link-key", "api_key_id": "<new key id>", "same_examiner_as": "<old key id>"}: a
rotated key keeps its examiner's exams.
{"command": "unsuppress", "address": "ana@example.edu"}: mail may go to an address again that
bounced hard or complained (the address is never logged).
"""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import logger
from exam_depository.usecases import ops
from pydantic import BaseModel, Field, TypeAdapter

KeyId = Annotated[str, Field(min_length=1, max_length=128)]


class AssignExam(BaseModel):
    command: Literal["assign-exam"]
    exam_id: str
    api_key_id: KeyId


class LinkKey(BaseModel):
    command: Literal["link-key"]
    api_key_id: KeyId
    same_examiner_as: KeyId


class Unsuppress(BaseModel):
    command: Literal["unsuppress"]
    address: Annotated[str, Field(min_length=3, max_length=254)]


Command: TypeAdapter[AssignExam | LinkKey | Unsuppress] = TypeAdapter(
    Annotated[AssignExam | LinkKey | Unsuppress, Field(discriminator="command")]
)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    command = Command.validate_python(event)
    if isinstance(command, AssignExam):
        ops.assign_exam(command.exam_id, command.api_key_id, request_id=context.aws_request_id)
        done = f"exam {command.exam_id} now belongs to the examiner of key {command.api_key_id}"
    elif isinstance(command, Unsuppress):
        lifted = ops.unsuppress(command.address)
        done = "mail may go to the address again" if lifted else "the address was not suppressed"
    else:
        ops.link_key(command.api_key_id, command.same_examiner_as)
        done = f"key {command.api_key_id} now belongs to the examiner of key {command.same_examiner_as}"
    logger.info("Ownership changed", extra={"command": command.command})
    return {"done": done}
