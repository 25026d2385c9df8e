"""What several unit test modules share."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from exam_depository.observability import logger, metrics


@pytest.fixture(autouse=True)
def process_observability() -> Iterator[None]:
    """The process's Powertools objects as a test found them. A local stack's function pool makes
    the logger's keys and the metric set per context, for the rest of the process (what the local
    stack's own process wants: local_stack.functions._per_instance_observability); a test process
    goes on to other suites, whose handlers are imported on one thread and run on others, and
    whose metrics then went to one context's set and were flushed from another's."""
    provider, attributes = metrics.provider, dict(vars(logger))
    yield
    metrics.provider = provider
    # What a test set on the logger itself (a pool's per-context methods) goes; what it replaced comes back.
    for name in vars(logger).keys() - attributes.keys():
        delattr(logger, name)
    vars(logger).update(attributes)


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The handlers' log lines, as the local stack writes them to stack.log."""
    lines: list[dict[str, Any]] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    capture = Lines()
    capture.setFormatter(logger.registered_formatter)
    shared = logging.getLogger(logger.service)
    shared.addHandler(capture)
    yield lines
    shared.removeHandler(capture)
