"""Waiting for a state, never for a length of time: the tests run on busy machines too."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.05  # how often the state is looked at, not how long anything is given


def wait_until(condition: Callable[[], object], *, timeout_s: float, what: str) -> None:
    """Return as soon as `condition()` is true; fail saying `what` did not happen within the
    bound (a generous one: it only ends a test that would otherwise hang)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s"
        time.sleep(POLL_S)
