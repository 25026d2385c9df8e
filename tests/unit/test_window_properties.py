"""Properties of the window over random exams, extensions, clocks and instants (hypothesis): late
is exactly "after the effective due time", no form is issued outside the window, and no form
outlives the effective cut-off; a timed student's own window lies within the effective one, grows
with extra time, an extension or a later start, and is the same instants in any time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from exam_depository.domain.errors import ExamClosed, ExamNotOpen, NoTimeLeft
from exam_depository.domain.rules import (
    Clock,
    Window,
    effective_window,
    form_expiry,
    form_refusal,
    is_late,
    personal_window,
    start_refusal,
    time_allowed,
)
from hypothesis import assume, given
from hypothesis import strategies as st

START = datetime(2026, 12, 1, tzinfo=UTC)
TTL_S = 600
seconds = st.integers(min_value=0, max_value=7 * 86400)
instants = seconds.map(lambda s: START + timedelta(seconds=s, microseconds=s % 997))


@st.composite
def windows(draw: st.DrawFn) -> tuple[Window, datetime | None, datetime | None]:
    """An exam's window in order, and maybe an extension (any times: it may be earlier)."""
    opens = draw(instants)
    due = opens + timedelta(seconds=draw(seconds))
    cutoff = due + timedelta(seconds=draw(st.integers(0, 86400)))
    extension_due = draw(st.none() | instants)
    extension_cutoff = None if extension_due is None else extension_due + timedelta(seconds=draw(st.integers(0, 3600)))
    return Window(opens, due, cutoff), extension_due, extension_cutoff


def _refusal(window: Window, now: datetime) -> object:
    return form_refusal(
        window=window, now=now, attempts_used=0, max_attempts=5, open_forms=0, max_open_forms=10, form_ttl_s=TTL_S
    )


@given(windows(), instants)
def test_late_is_exactly_after_the_effective_due_time(
    drawn: tuple[Window, datetime | None, datetime | None], at: datetime
) -> None:
    exam, extension_due, extension_cutoff = drawn
    window = effective_window(exam, extension_due, extension_cutoff)
    assert is_late(at, window.due_at) is (at > max(exam.due_at, extension_due or exam.due_at))
    # an extension never makes anything earlier
    assert window.due_at >= exam.due_at
    assert window.cutoff_at >= exam.cutoff_at
    assert window.opens_at <= window.due_at <= window.cutoff_at


@given(windows(), instants)
def test_no_form_is_issued_outside_the_window_and_none_outlives_the_cutoff(
    drawn: tuple[Window, datetime | None, datetime | None], now: datetime
) -> None:
    window = effective_window(*drawn)
    refusal = _refusal(window, now)
    if now < window.opens_at:
        assert isinstance(refusal, ExamNotOpen)
    elif now >= window.cutoff_at:
        assert isinstance(refusal, ExamClosed)
    if refusal is None:
        expiry = form_expiry(now, TTL_S, window.cutoff_at)
        assert window.opens_at <= now < expiry <= window.cutoff_at
        assert expiry <= now + timedelta(seconds=TTL_S)
        assert expiry.microsecond == 0


# --- a timed exam's clock ----------------------------------------------------------------------

# Zones whose offsets change where the drawn instants fall: Paris's changes of 29 March and
# 25 October 2026, Lord Howe's half-hour one (5 April 2026), and a zone far from UTC.
ZONES = [ZoneInfo(name) for name in ("UTC", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Kiritimati")]
AROUND_CHANGES = st.sampled_from(
    [
        datetime(2026, 3, 29, 1, tzinfo=UTC),  # Paris springs forward
        datetime(2026, 10, 25, 1, tzinfo=UTC),  # and falls back
        datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe: half an hour back
    ]
)
clocks = st.builds(
    Clock,
    duration_minutes=st.integers(1, 10080),
    extra_time_percent=st.integers(0, 300),
    extra_time_minutes=st.integers(0, 1440),
)


@st.composite
def started(draw: st.DrawFn) -> tuple[Window, datetime | None, datetime | None, Clock]:
    """A window (near a change of daylight saving time, or anywhere), maybe an extension, and a
    clock started where starting is allowed: from the opening to before the effective due time."""
    exam, extension_due, extension_cutoff = draw(windows())
    shift = timedelta(0)
    if draw(st.booleans()):  # the exam's due time hours from a change: the clock and the grace straddle it
        shift = draw(AROUND_CHANGES) + timedelta(seconds=draw(st.integers(-6 * 3600, 6 * 3600))) - exam.due_at
    exam = Window(exam.opens_at + shift, exam.due_at + shift, exam.cutoff_at + shift)
    if extension_due is not None and extension_cutoff is not None:
        extension_due, extension_cutoff = extension_due + shift, extension_cutoff + shift
    effective = effective_window(exam, extension_due, extension_cutoff)
    assume(effective.opens_at < effective.due_at)
    span = int((effective.due_at - effective.opens_at).total_seconds())
    started_at = effective.opens_at + timedelta(seconds=draw(st.integers(0, max(0, span - 1))))
    assume(started_at < effective.due_at)
    return exam, extension_due, extension_cutoff, replace(draw(clocks), started_at=started_at)


@given(started())
def test_a_personal_window_lies_in_the_effective_window_in_order_and_its_grace_is_at_most_the_exams(
    drawn: tuple[Window, datetime | None, datetime | None, Clock],
) -> None:
    exam, extension_due, extension_cutoff, clock = drawn
    effective = effective_window(exam, extension_due, extension_cutoff)
    personal = personal_window(exam, extension_due, extension_cutoff, clock)
    assert personal.opens_at == effective.opens_at
    assert personal.opens_at <= personal.due_at <= personal.cutoff_at
    assert personal.due_at <= effective.due_at
    assert personal.cutoff_at <= effective.cutoff_at
    assert personal.cutoff_at - personal.due_at <= exam.cutoff_at - exam.due_at
    assert clock.started_at is not None
    assert personal.due_at == min(clock.started_at + time_allowed(clock), effective.due_at)
    # and a form is never issued outside it, nor outlives its cut-off
    now = clock.started_at + (personal.cutoff_at - clock.started_at) / 2
    refusal = form_refusal(
        window=personal, now=now, attempts_used=0, max_attempts=5, open_forms=0, max_open_forms=10, form_ttl_s=TTL_S
    )
    if refusal is None:
        assert form_expiry(now, TTL_S, personal.cutoff_at) <= personal.cutoff_at


@given(started(), st.integers(0, 300), st.integers(0, 1440), st.integers(0, 86400), st.integers(0, 86400))
def test_more_extra_time_a_later_extension_or_a_later_start_never_give_an_earlier_due_time(
    drawn: tuple[Window, datetime | None, datetime | None, Clock],
    more_percent: int,
    more_minutes: int,
    later_extension_s: int,
    later_start_s: int,
) -> None:
    exam, extension_due, extension_cutoff, clock = drawn
    before = personal_window(exam, extension_due, extension_cutoff, clock)
    more_time = replace(
        clock,
        extra_time_percent=min(300, clock.extra_time_percent + more_percent),
        extra_time_minutes=min(1440, clock.extra_time_minutes + more_minutes),
    )
    later = timedelta(seconds=later_extension_s)
    extended = (extension_due or exam.due_at) + later, (extension_cutoff or exam.cutoff_at) + later
    assert clock.started_at is not None
    later_start = replace(clock, started_at=clock.started_at + timedelta(seconds=later_start_s))
    for after in (
        personal_window(exam, extension_due, extension_cutoff, more_time),
        personal_window(exam, *extended, clock),
        personal_window(exam, extension_due, extension_cutoff, later_start),
    ):
        assert after.due_at >= before.due_at
        assert after.cutoff_at >= before.cutoff_at


@given(
    started(),
    # one zone for every input (a database session's), or each its own
    st.sampled_from(ZONES).map(lambda zone: [zone] * 6) | st.lists(st.sampled_from(ZONES), min_size=6, max_size=6),
)
def test_a_personal_window_is_the_same_instants_whatever_zones_its_inputs_are_given_in(
    drawn: tuple[Window, datetime | None, datetime | None, Clock], zones: list[ZoneInfo]
) -> None:
    exam, extension_due, extension_cutoff, clock = drawn
    in_utc = personal_window(exam, extension_due, extension_cutoff, clock)
    assert clock.started_at is not None
    zoned_exam = Window(
        *(instant.astimezone(zone) for instant, zone in zip(exam.__dict__.values(), zones, strict=False))
    )
    zoned_window = personal_window(
        zoned_exam,
        extension_due and extension_due.astimezone(zones[3]),
        extension_cutoff and extension_cutoff.astimezone(zones[4]),
        replace(clock, started_at=clock.started_at.astimezone(zones[5])),
    )
    # Equal as instants, to the microsecond (aware datetimes compare by instant)
    assert (zoned_window.due_at, zoned_window.cutoff_at) == (in_utc.due_at, in_utc.cutoff_at)


@given(windows(), clocks, instants)
def test_a_clock_starts_only_inside_the_window_before_its_due_time(
    drawn: tuple[Window, datetime | None, datetime | None], clock: Clock, now: datetime
) -> None:
    effective = effective_window(*drawn)
    refusal = start_refusal(effective, now)
    if refusal is None:
        assert effective.opens_at <= now < effective.due_at
        assert personal_window(drawn[0], drawn[1], drawn[2], replace(clock, started_at=now)).due_at > now
    else:
        assert isinstance(refusal, ExamNotOpen | ExamClosed | NoTimeLeft)
