"""A notification the recorder could not record for a passing reason comes back in seconds, not
after the queue's visibility timeout (180 s, as the template sets it), and a failure to arrange
that fails nothing.

The queue is moto's SQS: the test receives its messages as Lambda's poller does and hands them to
the handler in the records Lambda builds (receipt handle, ApproximateReceiveCount). KMS's throttle
and SQS's refusal are their own error answers, injected into the clients' request paths by
botocore hooks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from exam_depository.adapters import queues, signing

from local_stack.delivery import poller_event
from local_stack.functions import LambdaContext
from tests.integration.conftest import REGION, Api, Bucket
from tests.waiting import wait_until

Handler = Callable[[str], ModuleType]
# Far below the queue's 180 s, far above the recorder's first delay (1 to 2 s) on a busy machine.
SOON_S = 60


class Queue:
    """The notifications' queue, as S3 fills it and as Lambda's poller empties it."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.url = os.environ["SUBMISSION_QUEUE_URL"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def notify(self, *s3_records: dict[str, Any]) -> None:
        for record in s3_records:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps({"Records": [record]}))

    def receive(self) -> list[dict[str, Any]]:
        """The messages visible now, received (each then invisible for the queue's timeout)."""
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"])
        return [dict(message) for message in answer.get("Messages", [])]

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS poller invokes the function with."""
        return poller_event(messages, queue_arn=self.arn, region=REGION)

    def in_flight(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def queue(aws: None) -> Queue:
    return Queue()


@contextmanager
def refused(client: Any, operation: str, code: str) -> Iterator[None]:
    """Every `operation` of `client` answered with the error `code`, as the service answers it."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{operation} refused by the test"}}, operation)

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-call.{service}.{operation}", refuse)
    try:
        yield
    finally:
        client.meta.events.unregister(f"before-call.{service}.{operation}", refuse)


def _upload(api: Api, bucket: Bucket, upload_code: str) -> dict[str, Any]:
    """A student's upload S3 accepted, and the notification S3 sends for it."""
    form = api.request_upload(upload_code).body
    bucket.upload(form, b"%PDF answers")
    return bucket.notification(form["fields"]["key"], len(b"%PDF answers"))


def _student(api: Api, nickname: str) -> str:
    return str(api.create_student(nickname)["upload_code"])


def _code_shown(api: Api, upload_code: str) -> bool:
    response = api.call("get_upload_status", "by_code", path_params={"upload_code": upload_code})
    assert response.status == 200, response.body
    return response.body["current"] is not None


def _deliver(handler: Handler, queue: Queue, messages: list[dict[str, Any]]) -> list[str]:
    """The ids of the messages the recorder reported for retry."""
    result = handler("record_submissions").lambda_handler(queue.event(messages), LambdaContext())
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def _logged(caplog: pytest.LogCaptureFixture, level: int) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.levelno == level)


def _comes_back(queue: Queue) -> list[dict[str, Any]]:
    back: list[dict[str, Any]] = []

    def received() -> bool:
        back.extend(queue.receive())
        return bool(back)

    wait_until(received, timeout_s=SOON_S, what="the failed message came back")
    return back


def test_a_message_failed_by_a_kms_throttle_comes_back_in_seconds_not_after_the_queue_timeout(
    api: Api, bucket: Bucket, queue: Queue, handler: Handler
) -> None:
    # Given an upload S3 accepted, its notification received once from the queue
    student = _student(api, "s01")
    queue.notify(_upload(api, bucket, student))
    (message,) = queue.receive()
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    # When KMS throttles the receipt's signature
    with refused(signing.client(), "Sign", "ThrottlingException"):
        failed = _deliver(handler, queue, [message])

    # Then the message is reported for retry, and SQS delivers it again within seconds, where the
    # queue alone would have held it for 180 s
    assert failed == [message["MessageId"]]
    assert not _code_shown(api, student)
    (again,) = _comes_back(queue)
    assert again["MessageId"] == message["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"

    # When it is delivered again with KMS back, the student sees the code
    assert _deliver(handler, queue, [again]) == []
    assert _code_shown(api, student)


def test_a_failed_change_of_visibility_fails_nothing_and_leaves_the_queue_timeout(
    api: Api, bucket: Bucket, queue: Queue, handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a notification received from the queue, and a recording that fails (KMS throttles)
    queue.notify(_upload(api, bucket, _student(api, "s01")))
    (message,) = queue.receive()

    # When SQS refuses the change of visibility too (a missing permission, say)
    sqs = queues.client(REGION)
    with (
        refused(signing.client(), "Sign", "ThrottlingException"),
        refused(sqs, "ChangeMessageVisibilityBatch", "AccessDenied"),
    ):
        failed = _deliver(handler, queue, [message])

    # Then the handler still answers, with the message reported for retry; the message stays
    # invisible for the queue's own timeout, and the log says why
    assert failed == [message["MessageId"]]
    assert queue.receive() == []
    assert queue.in_flight() == 1
    assert "could not be brought back sooner" in _logged(caplog, logging.ERROR)


def test_a_receipt_sqs_refuses_leaves_that_message_alone_and_the_others_come_back(
    api: Api, bucket: Bucket, queue: Queue, handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two notifications of one batch, one of them with a receipt handle SQS no longer knows
    queue.notify(_upload(api, bucket, _student(api, "s01")), _upload(api, bucket, _student(api, "s02")))
    messages = sorted(queue.receive(), key=lambda message: message["MessageId"])
    assert len(messages) == 2
    stale = {**messages[1], "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a0"}

    # When the batch fails (KMS throttles)
    with refused(signing.client(), "Sign", "ThrottlingException"):
        failed = _deliver(handler, queue, [messages[0], stale])

    # Then both are reported for retry; the one SQS accepted comes back soon, the other is still
    # held for the queue's timeout (in flight, with the one just received again), and logged
    assert sorted(failed) == [messages[0]["MessageId"], messages[1]["MessageId"]]
    back = _comes_back(queue)
    assert [message["MessageId"] for message in back] == [messages[0]["MessageId"]]
    assert queue.in_flight() == 2
    assert "SQS refused to bring some failed messages back sooner" in _logged(caplog, logging.WARNING)
