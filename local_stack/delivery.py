"""Messages from a local queue to the function it triggers, as Lambda's SQS poller does: the S3
notifications to the recorder, the export jobs to the builder."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from local_stack.functions import FunctionPool, LambdaContext


class QueueDelivery(threading.Thread):
    """Receive batches of up to `batch_size` messages; delete the ones the function handled, leave
    the ones it reported in batchItemFailures (or all, if it raised) to the queue: they come back
    after the visibility timeout, or sooner when the function changed their visibility itself, and
    go to the dead-letter queue after maxReceiveCount. Each record carries what Lambda's do: the
    receipt handle, and the message's attributes (ApproximateReceiveCount among them)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        pool: FunctionPool,
        stop: threading.Event,
        *,
        batch_size: int = 10,
    ) -> None:
        super().__init__(daemon=True, name=f"delivery-{pool.function}")
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.pool = pool
        self.stop = stop
        self.batch_size = batch_size

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the emulator is stopping or restarting: try again shortly
                self.stop.wait(0.5)
                continue
            if messages:
                self.deliver(messages)

    def deliver(self, messages: list[dict[str, Any]]) -> None:
        event = poller_event(messages, queue_arn=self.queue_arn, region=self.sqs.meta.region_name)
        try:
            result = self.pool.invoke(event, LambdaContext(self.pool.function, str(uuid.uuid4())))
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # the whole batch failed, as when a Lambda invocation errors (invoke logged it)
            failed = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )


def poller_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller invokes a function with, for messages received with
    AttributeNames=["All"]: each record's receipt handle and attributes (ApproximateReceiveCount
    among them), as Lambda passes them."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }
