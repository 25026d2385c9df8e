"""What the LTI tool's open routes answer: the tool's key set and a learner's ticket."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from pydantic import Field

from exam_depository.api.models.common import ApiModel


class ToolJwks(ApiModel):
    keys: list[dict[str, str]] = Field(description="The tool's public keys (RS256), the signing one first.")


class TicketRedeemed(ApiModel):
    upload_code: str = Field(description="The learner's upload code, for this page's calls only.")
