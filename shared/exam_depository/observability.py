"""The Powertools objects every function shares: configured by POWERTOOLS_* environment values.

No Powertools Tracer: its aws-xray-sdk loads botocore at import and cost about 150 ms of every
cold start (docs/COST.md, make bench). Lambda's active tracing still records each invocation.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, overload

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice


class _Logger(Logger):
    """Powertools' Logger, with the API Gateway correlation id read from the event directly.

    Powertools finds a correlation id with a JMESPath search, parsed and walked on every
    invocation: for `requestContext.requestId` that was a tenth of a cheap route's warm time.
    The id set, the keys and the log lines are Powertools' own; a handler that logs its event
    keeps Powertools' path whole (that line carries the id, set before it)."""

    @overload
    def inject_lambda_context[Handler: Callable[..., Any]](
        self,
        lambda_handler: Handler,
        log_event: bool | None = None,
        correlation_id_path: str | None = None,
        clear_state: bool | None = False,
        flush_buffer_on_uncaught_error: bool = False,
    ) -> Handler: ...

    @overload
    def inject_lambda_context[Handler: Callable[..., Any]](
        self,
        lambda_handler: None = None,
        log_event: bool | None = None,
        correlation_id_path: str | None = None,
        clear_state: bool | None = False,
        flush_buffer_on_uncaught_error: bool = False,
    ) -> Callable[[Handler], Handler]: ...

    def inject_lambda_context(
        self,
        lambda_handler: Any = None,
        log_event: bool | None = None,
        correlation_id_path: str | None = None,
        clear_state: bool | None = False,
        flush_buffer_on_uncaught_error: bool = False,
    ) -> Any:
        if lambda_handler is None:
            return functools.partial(
                self.inject_lambda_context,
                log_event=log_event,
                correlation_id_path=correlation_id_path,
                clear_state=clear_state,
                flush_buffer_on_uncaught_error=flush_buffer_on_uncaught_error,
            )
        logs_event = resolve_truthy_env_var_choice(
            env=os.getenv(constants.LOGGER_LOG_EVENT_ENV, "false"), choice=log_event
        )
        if correlation_id_path != correlation_paths.API_GATEWAY_REST or logs_event:
            return super().inject_lambda_context(
                lambda_handler, log_event, correlation_id_path, clear_state, flush_buffer_on_uncaught_error
            )

        @functools.wraps(lambda_handler)
        def with_request_id(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            self.set_correlation_id(_rest_request_id(event))
            return lambda_handler(event, context, *args, **kwargs)

        return super().inject_lambda_context(
            with_request_id, log_event, None, clear_state, flush_buffer_on_uncaught_error
        )


def _rest_request_id(event: Any) -> Any:
    """What the JMESPath `requestContext.requestId` finds: None where either key is missing."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    return request_context.get("requestId") if isinstance(request_context, dict) else None


logger = _Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics"]
