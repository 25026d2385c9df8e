"""Helpers for tests that cause a fault: an endpoint on which nothing listens, and reading the
metrics a handler printed about what failed."""

from __future__ import annotations

import json
import socket


def closed_port() -> int:
    """A loopback port on which nothing listens: a client connecting there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the probe closes


def printed_metric(printed: str, name: str) -> float | None:
    """A metric's value in what Powertools printed (CloudWatch's embedded metric format), or None
    where it was not emitted."""
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line and name in line:
            value = json.loads(line)[name]
            return float(sum(value) if isinstance(value, list) else value)
    return None
