"""SQS: the export jobs' queue, the one queue the product itself sends to (S3 sends the upload
notifications), and the notifications' queue, whose failed messages the recorder brings back
sooner than the queue would. The client is `aws.client`'s, created on first use."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import Field

from exam_depository.adapters import aws
from exam_depository.config import EnvSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class ExportQueueSettings(EnvSettings):
    """Where export jobs are queued (the route that starts them)."""

    queue_url: str = Field(alias="EXPORT_QUEUE_URL", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)


class RedeliverySettings(EnvSettings):
    """The recorder's: the queue of the S3 notifications, whose messages it could not record it
    makes visible again after a short delay rather than after the queue's visibility timeout."""

    queue_url: str = Field(alias="SUBMISSION_QUEUE_URL", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)


# SQS takes at most 10 entries in one ChangeMessageVisibilityBatch.
BATCH_LIMIT = 10


def client(region: str) -> SQSClient:
    sqs: SQSClient = aws.client("sqs", region=region, read_timeout=5)
    return sqs


def send_export(export_id: UUID) -> None:
    settings = load(ExportQueueSettings)
    try:
        client(settings.region).send_message(
            QueueUrl=settings.queue_url, MessageBody=json.dumps({"export_id": str(export_id)})
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"SQS SendMessage failed: {exc}") from exc


def visibility_timeout_s(queue_url: str, region: str) -> int:
    """The queue's own visibility timeout: after it, SQS delivers a failed message again anyway.
    Asked when needed (a batch failed), not at start: most environments never need it."""
    try:
        answer = client(region).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    except aws.failures() as exc:
        raise ServiceUnavailable(f"SQS GetQueueAttributes failed: {exc}") from exc
    return int(answer["Attributes"]["VisibilityTimeout"])


def change_visibility(queue_url: str, region: str, delays: list[tuple[str, int]]) -> dict[str, str]:
    """Make each received message, named by its receipt handle, visible again `seconds` after now
    (SQS counts a changed visibility from the change, not from the receipt): `delays` holds
    (receipt handle, seconds). Returns the entries SQS refused, receipt handle -> its error code
    (a handle that expired, a message already deleted); raises ServiceUnavailable when a request
    got no answer or an error answer as a whole."""
    refused: dict[str, str] = {}
    for start in range(0, len(delays), BATCH_LIMIT):
        chunk = delays[start : start + BATCH_LIMIT]
        try:
            answer = client(region).change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                    for index, (handle, seconds) in enumerate(chunk)
                ],
            )
        except aws.failures() as exc:
            raise ServiceUnavailable(f"SQS ChangeMessageVisibilityBatch failed: {exc}") from exc
        for entry in answer.get("Failed", []):
            refused[chunk[int(entry["Id"])][0]] = entry["Code"]
    return refused
