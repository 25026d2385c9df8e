"""The template's scheduled functions (Events of Type Schedule), run locally on their rates."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.functions import FunctionPool, LambdaContext, sample_event

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    function: str  # the folder under functions/
    period_s: float


def schedules(template: dict[str, Any]) -> list[Schedule]:
    """Every Schedule event of the template, its expression at the parameter's default."""
    parameters = template.get("Parameters", {})
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Schedule":
                continue
            expression = event["Properties"]["Schedule"]
            if isinstance(expression, dict):
                expression = parameters[expression["Ref"]]["Default"]
            found.append(Schedule(Path(resource["Properties"]["CodeUri"]).name, _period(expression)))
    return found


def _period(expression: str) -> float:
    matched = _RATE.fullmatch(expression.strip())
    if matched is None:
        raise ValueError(f"the local stack runs rate() schedules only, not {expression!r}")
    return int(matched.group(1)) * _UNIT_SECONDS[matched.group(2).rstrip("s")]


class Scheduler(threading.Thread):
    """Invoke each scheduled function every period (the first run one period after the start),
    with its sample event, as EventBridge would; a failed run is logged and the next one retries."""

    def __init__(self, planned: list[Schedule], stop: threading.Event, *, period_override_s: float | None) -> None:
        super().__init__(daemon=True, name="schedules")
        self.planned = planned
        self.stop = stop
        self.period_override_s = period_override_s
        self.pools = {schedule.function: FunctionPool(schedule.function) for schedule in planned}

    def run(self) -> None:
        import time

        due = {s.function: time.monotonic() + self._period(s) for s in self.planned}
        while not self.stop.wait(min(due.values(), default=time.monotonic() + 60) - time.monotonic()):
            for schedule in self.planned:
                if time.monotonic() < due[schedule.function]:
                    continue
                due[schedule.function] = time.monotonic() + self._period(schedule)
                event = sample_event(schedule.function, "scheduled")
                # A failed run is in the log (invoke wrote it); the next one retries, as on AWS.
                with contextlib.suppress(Exception):
                    self.pools[schedule.function].invoke(event, LambdaContext(schedule.function, str(uuid.uuid4())))

    def _period(self, schedule: Schedule) -> float:
        return self.period_override_s or schedule.period_s
