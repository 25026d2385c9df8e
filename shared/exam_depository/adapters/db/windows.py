"""A student's personal window in SQL: `domain.rules.personal_window` written once, as expressions
the statements that write a student's window inline (the roster's page, the recorder's state, an
export's manifest), each over its own aliases of the exam's row (`e`) and the student's (`s`).
The rows must have the columns the rule reads: the exam's `due_at`, `cutoff_at` and
`duration_minutes`, the student's extension times, `started_at` and extra time. A test holds
these to the Python rule over random rows."""

from __future__ import annotations


def effective_due(e: str = "e", s: str = "s") -> str:
    """`effective_window`'s due time: the later of the exam's and the extension's (greatest()
    skips a NULL: no extension)."""
    return f"greatest({e}.due_at, {s}.extension_due_at)"


def effective_cutoff(e: str = "e", s: str = "s") -> str:
    return f"greatest({e}.cutoff_at, {s}.extension_cutoff_at)"


def time_allowed_seconds(e: str = "e", s: str = "s") -> str:
    """`time_allowed` in whole seconds, NULL when the exam is not timed: the percentage rounded up
    to the second by integer division (Python's // on non-negative integers), then the minutes."""
    return (
        f"CASE WHEN {e}.duration_minutes IS NOT NULL"
        f" THEN ({e}.duration_minutes * 60 * (100 + {s}.extra_time_percent) + 99) / 100"
        f" + {s}.extra_time_minutes * 60 END"
    )


def _clock_due(e: str, s: str) -> str:
    """The start plus the time allowed, capped by the effective due time. An interval of seconds
    alone: added to a timestamptz it moves the instant, whatever the session's time zone."""
    return f"least({effective_due(e, s)}, {s}.started_at + make_interval(secs => {time_allowed_seconds(e, s)}))"


def _clocked(e: str, s: str, timed: str, otherwise: str) -> str:
    """`timed` for a student of a timed exam who started, else `otherwise` (their effective time)."""
    return (
        f"CASE WHEN {e}.duration_minutes IS NOT NULL AND {s}.started_at IS NOT NULL THEN {timed} ELSE {otherwise} END"
    )


def personal_due(e: str = "e", s: str = "s") -> str:
    return _clocked(e, s, _clock_due(e, s), effective_due(e, s))


def _late_period(e: str) -> str:
    """The exam's late period as an interval of seconds alone: the difference of two timestamptz
    counts whole days, and a day added to a timestamptz is a day of the session's wall clock (23
    or 25 hours across a change of daylight saving time)."""
    return f"make_interval(secs => extract(epoch FROM {e}.cutoff_at - {e}.due_at))"


def personal_cutoff(e: str = "e", s: str = "s") -> str:
    """The clock's due time plus the exam's own late period, never past the effective cut-off."""
    return _clocked(
        e,
        s,
        f"least({effective_cutoff(e, s)}, {_clock_due(e, s)} + {_late_period(e)})",
        effective_cutoff(e, s),
    )
