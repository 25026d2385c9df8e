"""Properties of the window over random exams, extensions and instants (hypothesis): late is
exactly "after the effective due time", no form is issued outside the window, and no form
outlives the effective cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exam_depository.domain.errors import ExamClosed, ExamNotOpen
from exam_depository.domain.rules import Window, effective_window, form_expiry, form_refusal, is_late
from hypothesis import given
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
