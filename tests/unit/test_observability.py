"""The shared Logger's correlation id: read from the event without JMESPath, as Powertools' search
of `requestContext.requestId` would find it."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.logging import correlation_paths
from exam_depository.observability import logger

from local_stack.functions import LambdaContext


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def _handler(event: dict[str, Any], context: Any) -> None:
    logger.info("Handled")


@pytest.mark.parametrize(
    ("event", "correlation_id"),
    [
        ({"requestContext": {"requestId": "c0ffee-1"}}, "c0ffee-1"),
        ({"requestContext": {"requestId": 42}}, 42),
        ({"requestContext": {}}, None),
        ({"requestContext": "not an object"}, None),
        ({}, None),
    ],
)
def test_each_invocation_logs_its_own_request_id_or_none(
    log_lines: list[dict[str, Any]], event: dict[str, Any], correlation_id: object
) -> None:
    # Given an earlier invocation that set an id
    _handler({"requestContext": {"requestId": "earlier"}}, LambdaContext())
    log_lines.clear()

    # When the handler is invoked with this event
    _handler(event, LambdaContext())

    # Then its line carries the event's request id, or none at all (never the earlier one)
    (line,) = log_lines
    assert line["message"] == "Handled"
    assert line.get("correlation_id") == correlation_id
    assert line["function_request_id"] == LambdaContext().aws_request_id


def test_a_handler_that_logs_its_event_logs_it_with_its_request_id(
    log_lines: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a handler that logs its event (Powertools' own path, which sets the id first)
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def logs_event(event: dict[str, Any], context: Any) -> None:
        pass

    # When it is invoked
    logs_event({"requestContext": {"requestId": "with-event"}}, LambdaContext())

    # Then the event's line already carries the request id
    (line,) = log_lines
    assert line["message"] == {"requestContext": {"requestId": "with-event"}}
    assert line["correlation_id"] == "with-event"
