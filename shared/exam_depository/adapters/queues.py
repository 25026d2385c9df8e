"""SQS: the export jobs' queue, the one queue the product itself sends to (S3 sends the upload
notifications). The client is `aws.client`'s, created on first use."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID

from exam_depository.adapters import aws
from exam_depository.config import ExportQueueSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def client() -> SQSClient:
    sqs: SQSClient = aws.client("sqs", region=load(ExportQueueSettings).region, read_timeout=5)
    return sqs


def send_export(export_id: UUID) -> None:
    try:
        client().send_message(
            QueueUrl=load(ExportQueueSettings).queue_url, MessageBody=json.dumps({"export_id": str(export_id)})
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"SQS SendMessage failed: {exc}") from exc
