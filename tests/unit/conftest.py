"""What several unit test modules share."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from exam_depository.observability import logger


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
