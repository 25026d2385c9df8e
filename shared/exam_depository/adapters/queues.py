"""SQS: the export jobs' queue, the one queue the product itself sends to (S3 sends the upload
notifications). The client is created on first use."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID

from exam_depository.config import ExportQueueSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_client: SQSClient | None = None


def client() -> SQSClient:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # The SDK reads AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL itself (an emulator; never on Lambda).
        _client = boto3.client(
            "sqs",
            region_name=load(ExportQueueSettings).region,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5),
        )
    return _client


def reset() -> None:
    global _client
    _client = None


def send_export(export_id: UUID) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client().send_message(
            QueueUrl=load(ExportQueueSettings).queue_url, MessageBody=json.dumps({"export_id": str(export_id)})
        )
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(f"SQS SendMessage failed: {exc}") from exc
