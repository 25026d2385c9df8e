"""CloudFormation, as the provider of a custom resource sees it: the request CloudFormation sends
the function (Create, Update or Delete, with a ResponseURL) and the answer the function PUTs there.

CloudFormation waits for that answer, up to the resource's ServiceTimeout, and reads nothing
else: the function's return value and its errors never reach it. On AWS the ResponseURL is a
presigned S3 URL (reached through the S3 gateway endpoint inside the VPC); in MiniStack it is the
emulator's own HTTPS URL, whose certificate comes from a local CA named by AWS_CA_BUNDLE.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

# Each of the connect, the send and the wait for the answer; S3 answers in milliseconds.
RESPONSE_TIMEOUT_S = 10


class CustomResourceRequest(BaseModel):
    """What CloudFormation sends a custom resource's function: the fields this product reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    request_type: str = Field(alias="RequestType")
    # A presigned URL: whoever holds it may answer for the function. Never logged (repr=False).
    response_url: str = Field(alias="ResponseURL", repr=False)
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    properties: dict[str, Any] = Field(alias="ResourceProperties", default_factory=dict)
    old_properties: dict[str, Any] = Field(alias="OldResourceProperties", default_factory=dict)

    @property
    def physical_resource_id(self) -> str:
        """One id for the resource's whole life in its stack: a different one in an Update's answer
        would tell CloudFormation the resource was replaced, and it would then send a Delete for
        the old one. From the stack's name (`arn:…:stack/<name>/<uuid>`) and the logical id."""
        parts = self.stack_id.split("/")
        stack = parts[1] if len(parts) == 3 else self.stack_id
        return f"{stack}-{self.logical_resource_id}"


def request_of(event: dict[str, Any]) -> CustomResourceRequest:
    return CustomResourceRequest.model_validate(event)


def respond(
    request: CustomResourceRequest,
    status: Literal["SUCCESS", "FAILED"],
    reason: str,
    data: dict[str, str] | None = None,
) -> None:
    """PUT the answer to the request's ResponseURL, as CloudFormation's own helper (cfnresponse)
    does: JSON with an empty Content-Type, the type the presigned URL was signed for. A refused or
    failed PUT raises (http.client.HTTPException or OSError, ssl errors included): Lambda then
    invokes the function again, as it does for a failed asynchronous invocation, and the answer
    is made again."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": request.physical_resource_id,
            "StackId": request.stack_id,
            "RequestId": request.request_id,
            "LogicalResourceId": request.logical_resource_id,
            "Data": data or {},
        }
    ).encode()
    url = urlsplit(request.response_url)
    if url.hostname is None or url.scheme not in ("https", "http"):
        raise ValueError("the ResponseURL is no HTTP(S) URL")
    connection = (
        http.client.HTTPSConnection(url.hostname, url.port, timeout=RESPONSE_TIMEOUT_S, context=_tls())
        if url.scheme == "https"
        else http.client.HTTPConnection(url.hostname, url.port, timeout=RESPONSE_TIMEOUT_S)
    )
    try:
        connection.request(
            "PUT",
            f"{url.path or '/'}?{url.query}" if url.query else url.path or "/",
            body=body,
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    if not 200 <= answer.status < 300:
        raise http.client.HTTPException(f"the ResponseURL answered {answer.status}")


def _tls() -> ssl.SSLContext:
    """The system's roots, or the bundle that AWS_CA_BUNDLE names: the variable every AWS SDK
    reads, set off AWS to trust an emulator's local CA (Lambda never sets it)."""
    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
