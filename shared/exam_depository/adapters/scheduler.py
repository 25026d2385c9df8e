"""EventBridge Scheduler: the one-time schedules that wake the database before an exam's moments.
The client is `aws.client`'s, created on first use.

Each schedule fires once (`at(...)`, UTC, no flexible window) and deletes itself after it did
(ActionAfterCompletion DELETE), so that none is left behind; a change puts it again, by name.
A call fails with ServiceUnavailable where Scheduler cannot serve any (unreachable, throttling,
failing itself), and with WakeRefused where it refused that one schedule.
"""

from __future__ import annotations

import json
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field, model_validator

from exam_depository.adapters import aws
from exam_depository.config import EnvSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient


class WakeSettings(EnvSettings):
    """The wake schedules (EventBridge Scheduler) of the examiner's exam functions: a one-time
    schedule per exam and moment invokes the wake function `lead_minutes` before an exam opens
    and before it is due. Without a group (the local stack, tests that do not ask) no schedule is
    touched; with a group and a lead of 0 the wakes are off and changes delete pending ones."""

    schedule_group: str | None = Field(default=None, alias="WAKE_SCHEDULE_GROUP", min_length=1)
    # template.yaml's WakeLeadMinutes; at most the database's auto-pause delay (docs/OPERATIONS.md).
    lead_minutes: int = Field(default=0, alias="WAKE_LEAD_MINUTES", ge=0, le=60)
    target_arn: str | None = Field(default=None, alias="WAKE_FUNCTION_ARN", min_length=1)
    role_arn: str | None = Field(default=None, alias="WAKE_ROLE_ARN", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)

    @model_validator(mode="after")
    def _complete_when_on(self) -> Self:
        if self.lead_minutes > 0 and None in (self.schedule_group, self.target_arn, self.role_arn):
            raise ValueError("WAKE_LEAD_MINUTES > 0 needs WAKE_SCHEDULE_GROUP, WAKE_FUNCTION_ARN and WAKE_ROLE_ARN")
        return self


# A wake delivered more than this late is useless (the class has arrived, and woken the database
# itself): Scheduler drops it instead of retrying on.
MAX_LATENESS_S = 300


# Quick to give up: its calls come after an examiner's change, inside the request, and a wake is
# worth less than the examiner's answer. One try (a retry's backoff could add up to 6 s), 1 s to
# connect and 2 s to read: Scheduler answers in a fraction of that, and a wake not put is put
# again by the exam's next change. tests/unit/test_template.py adds these up against the exam
# functions' Timeout.
CLIENT_CONFIG: dict[str, Any] = {
    "connect_timeout": 1,
    "read_timeout": 2,
    "retries": {"mode": "standard", "total_max_attempts": 1},
}
# The calls `put_wake` or `delete_wake` makes at most: a create and, where the schedule exists
# already, an update.
MAX_CALLS_PER_WAKE = 2


def client() -> EventBridgeSchedulerClient:
    scheduler: EventBridgeSchedulerClient = aws.client("scheduler", region=load(WakeSettings).region, **CLIENT_CONFIG)
    return scheduler


def put_wake(name: str, at: datetime, payload: dict[str, Any]) -> None:
    """Create the schedule `name` firing at `at` (UTC), or replace the one of that name."""
    settings = load(WakeSettings)
    assert settings.target_arn
    assert settings.role_arn
    schedule: dict[str, Any] = {
        "Name": name,
        "GroupName": _group(),
        "ScheduleExpression": f"at({at:%Y-%m-%dT%H:%M:%S})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": {
            "Arn": settings.target_arn,
            "RoleArn": settings.role_arn,
            "Input": json.dumps(payload),
            "RetryPolicy": {"MaximumEventAgeInSeconds": MAX_LATENESS_S, "MaximumRetryAttempts": 3},
        },
    }
    try:
        try:
            client().create_schedule(**schedule)
        except client().exceptions.ConflictException:
            client().update_schedule(**schedule)
    except aws.failures() as exc:
        raise _failure(f"put {name}", exc) from exc


def delete_wake(name: str) -> None:
    """Delete the schedule `name`; one already gone (fired, or never made) is as good."""
    try:
        client().delete_schedule(Name=name, GroupName=_group())
    except client().exceptions.ResourceNotFoundException:
        return
    except aws.failures() as exc:
        raise _failure(f"delete {name}", exc) from exc


class WakeRefused(Exception):
    """Scheduler answered, and refused this one schedule (a wake time already past when the call
    arrived, an input it rejects): the exam's other wakes may still be put."""


def _failure(what: str, exc: Exception) -> Exception:
    """ServiceUnavailable where Scheduler cannot be reached, throttles, or fails itself (5xx): the
    next call would fare no better. WakeRefused for any other answer: a refusal of this call."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        if code not in _THROTTLED and status < 500 and status != HTTPStatus.TOO_MANY_REQUESTS:
            return WakeRefused(f"Scheduler refused to {what}: {code}")
    return ServiceUnavailable(f"Scheduler could not {what}: {exc}", service="Scheduler")


# Scheduler's throttling answer (HTTP 429), and botocore's other names for one.
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})


def _group() -> str:
    group = load(WakeSettings).schedule_group
    assert group is not None  # the use case calls only where a group is set
    return group
