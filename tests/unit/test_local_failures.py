"""A background job of the local stack that fails (a queue's function, a scheduled one) leaves
its error and traceback in the handlers' log, as Lambda writes an invocation's unhandled error
to the function's log; the job is then retried as on AWS."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from exam_depository import config
from exam_depository.adapters import db

from local_stack.delivery import QueueDelivery
from local_stack.functions import FunctionPool
from local_stack.schedules import Schedule, Scheduler
from tests.waiting import wait_until


def _errors(lines: list[dict[str, Any]], function: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["level"] == "ERROR" and line.get("function_name") == function]


def test_a_queued_job_that_raises_is_logged_with_its_traceback(log_lines: list[dict[str, Any]]) -> None:
    # Given an export job whose message names no export (the builder raises on it)
    delivery = QueueDelivery(
        boto3.client("sqs", region_name="eu-west-1"),
        "http://127.0.0.1:9/000000000000/export-jobs",
        "arn:aws:sqs:eu-west-1:000000000000:export-jobs",
        FunctionPool("build_export"),
        threading.Event(),
        batch_size=1,
    )
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": '{"export_id": "not an id"}', "Attributes": {}}

    # When it is delivered (it stays in the queue: nothing is deleted, so no call reaches SQS)
    delivery.deliver([message])

    # Then the error is in the log with its traceback, under the function that raised it
    (error,) = _errors(log_lines, "build_export")
    assert error["exception_name"] == "ValueError"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "badly formed hexadecimal UUID string" in error["exception"]


def test_a_scheduled_run_that_fails_is_logged_with_its_traceback(
    log_lines: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the expiry job with no database to reach
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    config.reset()
    db.reset()
    stop = threading.Event()
    scheduler = Scheduler([Schedule("expire_submissions", 3600)], stop, period_override_s=0.05)

    # When its schedule runs it
    scheduler.start()
    try:
        wait_until(lambda: _errors(log_lines, "expire_submissions"), timeout_s=30, what="the failed run logged")
    finally:
        stop.set()
        scheduler.join(30)
        config.reset()
        db.reset()

    # Then its error is in the log with its traceback
    error = _errors(log_lines, "expire_submissions")[0]
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception_name"] == "ServiceUnavailable"
