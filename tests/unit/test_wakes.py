"""When the database is woken before an exam's moments: `wake_plan` by a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from exam_depository.adapters.scheduler import WakeSettings
from exam_depository.domain.rules import Window
from exam_depository.domain.wakes import MOMENTS, schedule_name, wake_plan
from pydantic import ValidationError

NOW = datetime(2026, 12, 5, 8, 0, 0, 250_000, tzinfo=UTC)
LEAD = timedelta(minutes=3)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def window(opens: float, due: float, cutoff: float) -> Window:
    return Window(at(opens), at(due), at(cutoff))


@pytest.mark.parametrize(
    ("case", "exam", "expected"),
    [
        (
            "both moments ahead: a wake before each, to the whole second before",
            window(24, 72, 73),
            {"opens": (at(24) - LEAD).replace(microsecond=0), "due": (at(72) - LEAD).replace(microsecond=0)},
        ),
        ("open already: only the due time is woken for", window(-1, 2, 3), {"opens": None, "due": at(2) - LEAD}),
        (
            "opening within the lead: the change just used the database, no wake",
            window(0.02, 5, 5),
            {"opens": None, "due": at(5) - LEAD},
        ),
        ("due time within the lead: no wake", window(-5, 0.02, 1), {"opens": None, "due": None}),
        ("both past (closed, or over)", window(-5, -1, 0), {"opens": None, "due": None}),
        ("due when it opens: one wake", window(24, 24, 25), {"opens": at(24) - LEAD, "due": None}),
        ("deleted exam: none", None, {"opens": None, "due": None}),
    ],
)
def test_wake_plan(case: str, exam: Window | None, expected: dict[str, datetime | None]) -> None:
    expected = {moment: wake.replace(microsecond=0) if wake else None for moment, wake in expected.items()}
    assert wake_plan(exam, now=NOW, lead=LEAD) == expected, case


def test_a_lead_of_zero_turns_the_wakes_off_and_removes_pending_ones() -> None:
    assert wake_plan(window(24, 72, 73), now=NOW, lead=timedelta(0)) == {"opens": None, "due": None}


def test_a_wake_is_never_later_than_its_lead_asks() -> None:
    exam = Window(NOW + timedelta(days=1, microseconds=999_999), NOW + timedelta(days=2), NOW + timedelta(days=2))
    wake = wake_plan(exam, now=NOW, lead=LEAD)["opens"]
    assert wake is not None
    assert wake.microsecond == 0
    assert exam.opens_at - LEAD - timedelta(seconds=1) < wake <= exam.opens_at - LEAD


def test_the_plan_names_every_moment_and_each_has_its_own_schedule() -> None:
    assert set(wake_plan(window(24, 72, 73), now=NOW, lead=LEAD)) == set(MOMENTS)
    names = {schedule_name(exam_pk, moment) for exam_pk in (1, 12) for moment in MOMENTS}
    assert len(names) == 4
    # Scheduler's names: at most 64 of [0-9a-zA-Z-_.]; an exam key is a bigint.
    longest = schedule_name(2**63 - 1, max(MOMENTS, key=len))
    assert len(longest) <= 64
    assert longest.replace("-", "").isalnum()


def test_wakes_on_need_their_group_target_and_role_and_off_need_nothing() -> None:
    base = {"AWS_REGION": "eu-west-1"}
    assert WakeSettings.model_validate(base).schedule_group is None  # the local stack: no Scheduler
    assert WakeSettings.model_validate(base | {"WAKE_SCHEDULE_GROUP": "g"}).lead_minutes == 0  # close, delete
    complete = base | {
        "WAKE_SCHEDULE_GROUP": "g",
        "WAKE_LEAD_MINUTES": "3",
        "WAKE_FUNCTION_ARN": "arn:aws:lambda:eu-west-1:123456789012:function:wake",
        "WAKE_ROLE_ARN": "arn:aws:iam::123456789012:role/wake",
    }
    assert WakeSettings.model_validate(complete).lead_minutes == 3
    for missing in ("WAKE_SCHEDULE_GROUP", "WAKE_FUNCTION_ARN", "WAKE_ROLE_ARN"):
        with pytest.raises(ValidationError, match="WAKE_LEAD_MINUTES > 0 needs"):
            WakeSettings.model_validate({name: value for name, value in complete.items() if name != missing})
