"""When to wake a database that pauses when idle (Aurora Serverless v2 at 0 ACU resumes in
15-30 s): shortly before the moments a class arrives at once, so that the first of them finds it
awake.

Two moments of an exam bring a class at once: its opening, and its due time (a class hands in
in the last minutes before it). The cut-off brings no one new: it is the due time's grace.
Extensions are one student's each: their first request waits for the resume, as any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, get_args

from exam_depository.domain.rules import Window

# The moments woken for, by the name their schedule carries.
type Moment = Literal["opens", "due"]
MOMENTS: tuple[Moment, ...] = get_args(Moment.__value__)


def wake_plan(window: Window | None, *, now: datetime, lead: timedelta) -> dict[Moment, datetime | None]:
    """When to wake the database before each of an exam's moments: an instant, or None where no
    wake should be pending: a deleted exam; a wake time already past (a closed exam's too: closing
    moves its opening and due time to the instant it closed); a lead of zero (the wakes are off).
    Whole seconds, as a schedule states them; a wake never comes later than asked.

    A wake time already past needs no wake: the examiner's change that asks for the plan has
    just used the database, which stays awake for its auto-pause delay (at least 5 minutes). A due
    time equal to the opening is woken for once."""
    if window is None or lead <= timedelta(0):
        return dict.fromkeys(MOMENTS)
    plan: dict[Moment, datetime | None] = {}
    at_of: dict[Moment, datetime] = {"opens": window.opens_at, "due": window.due_at}
    for moment, at in at_of.items():
        wake_at = (at - lead).replace(microsecond=0)
        plan[moment] = None if wake_at <= now else wake_at
    if plan["due"] is not None and plan["due"] == plan["opens"]:
        plan["due"] = None
    return plan


def schedule_name(exam_pk: int, moment: Moment) -> str:
    """The name of an exam's wake schedule: one per exam and moment, so that a change replaces it."""
    return f"exam-{exam_pk}-{moment}"
