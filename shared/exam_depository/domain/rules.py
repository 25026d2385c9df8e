"""The product's rules as plain functions of plain values: no I/O, no AWS, no database.

The use cases read the rows, ask these functions what to do, and write what they say. The
recorder's decisions are in `recording.py`. docs/DESIGN.md lists each rule with what enforces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exam_depository.domain.errors import (
    AttemptsUsed,
    DomainError,
    ExamClosed,
    ExamNotOpen,
    InvalidInput,
    NoTimeLeft,
    NotStarted,
    TooManyOpenForms,
)
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.statuses import ExamState, Kind, SubmissionStatus


def attempts_left(attempts_used: int, max_attempts: int) -> int:
    return max(0, max_attempts - attempts_used)


def status_at(stored: SubmissionStatus, expires_at: datetime, now: datetime) -> SubmissionStatus:
    """What a submission is now: the retention holds from its instant, whatever the jobs did."""
    if stored == "current" and now >= expires_at:
        return "expired"
    return stored


def expiry_of(submitted_at: datetime, cutoff_at: datetime, retention_days: int) -> datetime:
    """Until when a recorded file is kept: `retention_days` after the later of its upload and
    the student's cut-off in force, so that an examiner who collects at the cut-off finds every
    file, whenever it was handed in. A later change of the window only moves it later
    (`kept_longer`)."""
    return max(submitted_at, cutoff_at) + timedelta(days=retention_days)


def kept_longer(expires_at: datetime, submitted_at: datetime, cutoff_at: datetime, retention_days: int) -> datetime:
    """A file's expiry after its student's cut-off moved: later if the new cut-off says so, never
    earlier (a window shortened after the fact must not delete what the examiner has not
    collected). db.exams.keep_until_cutoff applies the same to every file of an exam in SQL."""
    return max(expires_at, expiry_of(submitted_at, cutoff_at, retention_days))


def window_refusal(
    window: Window, *, now: datetime, max_window_days: int, earliest_file: datetime | None
) -> InvalidInput | None:
    """Why an exam's window (or a student's, with an extension) cannot be set, or None.

    S3's lifecycle rule deletes an object `RetentionDays + MaxWindowDays + 1` days after it was
    created, whatever the records say: it must never come before `expiry_of`. A file is created
    at the earliest when the exam opens (or, if the window moved since, when its first file was
    recorded), so a cut-off at most `max_window_days` after both keeps the backstop behind."""
    if window.cutoff_at <= now:
        return InvalidInput(
            "The cut-off is already past: no one could hand in. Close an exam with its close action.",
            extra={"cutoff_at": window.cutoff_at},
        )
    return window_length_refusal(
        window.opens_at, window.cutoff_at, max_window_days=max_window_days, earliest_file=earliest_file
    )


def window_length_refusal(
    opens_at: datetime, cutoff_at: datetime, *, max_window_days: int, earliest_file: datetime | None
) -> InvalidInput | None:
    """`window_refusal`'s bound alone, for any cut-off of the exam: its own, or an extension's
    (which must hold too when the exam's opening moves earlier)."""
    longest = timedelta(days=max_window_days)
    if cutoff_at - opens_at > longest:
        return InvalidInput(
            f"The cut-off must be at most {max_window_days} days after the exam opens (files are kept "
            "from the cut-off on, and the storage's own deletion counts from the upload); "
            "extensions count too.",
            extra={"opens_at": opens_at, "cutoff_at": cutoff_at, "max_window_days": max_window_days},
        )
    if earliest_file is not None and cutoff_at - earliest_file > longest:
        return InvalidInput(
            f"The cut-off must be at most {max_window_days} days after the first file of the exam was handed in.",
            extra={"earliest_submission_at": earliest_file, "max_window_days": max_window_days},
        )
    return None


# --- The window ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """An exam's window, or a student's own: when it opens, when answers are due, and the cut-off
    until which late ones are accepted."""

    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime


def pdf_check_refusal(accepted_types: Sequence[Kind], check_pdfs: bool) -> str | None:
    """Checking PDFs needs an exam that takes PDFs: `pdf` listed, or any type."""
    if check_pdfs and accepted_types and "pdf" not in accepted_types:
        return "Checking PDFs (check_pdfs) needs pdf among the accepted_types, or none (any type)"
    return None


def order_refusal(window: Window) -> str | None:
    """Why a window cannot be, whatever the exam: its times out of order. None when they are in
    order (equal due and cut-off: no late uploads)."""
    if window.opens_at <= window.due_at <= window.cutoff_at:
        return None
    return "the window must be in order: opens_at <= due_at <= cutoff_at"


def exam_state(window: Window, now: datetime) -> ExamState:
    """Where an exam stands in its own window at `now`: upcoming before it opens, open until it
    is due, in its late period until the cut-off, closed from the cut-off on (at once when due
    and cut-off are equal). Students' extensions do not change it: an examiner reads the exam's
    own window, and each student's row says its own."""
    if now < window.opens_at:
        return "upcoming"
    if now < window.due_at:
        return "open"
    if now < window.cutoff_at:
        return "late_period"
    return "closed"


def effective_window(exam: Window, extension_due: datetime | None, extension_cutoff: datetime | None) -> Window:
    """A student's window: the exam's, with an extension's times where they are later. An
    extension never moves a time earlier, even after the exam's own window was changed."""
    if extension_due is None and extension_cutoff is None:
        return exam  # most students of a page of 500
    return Window(
        opens_at=exam.opens_at,
        due_at=max(exam.due_at, extension_due, key=_instant) if extension_due else exam.due_at,
        cutoff_at=max(exam.cutoff_at, extension_cutoff, key=_instant) if extension_cutoff else exam.cutoff_at,
    )


def _instant(moment: datetime) -> datetime:
    """`moment` in UTC, to compare by: Python compares two times of one zone by their wall clocks,
    fold ignored, so in the hour a clock goes back 02:59 CEST comes after 02:00 CET, an hour later."""
    return moment.astimezone(UTC)


# --- A timed exam's clock ----------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One student's clock in a timed exam: the exam's duration, their extra time (a percentage
    of it, then minutes), and when they started (None: not yet)."""

    duration_minutes: int
    extra_time_percent: int = 0
    extra_time_minutes: int = 0
    started_at: datetime | None = None


def clock_of(
    duration_minutes: int | None, extra_time_percent: int, extra_time_minutes: int, started_at: datetime | None
) -> Clock | None:
    """A student's clock from the exam's duration and their own columns; None when the exam is
    not timed (extra time then waits, unused, until it is)."""
    if duration_minutes is None:
        return None
    return Clock(duration_minutes, extra_time_percent, extra_time_minutes, started_at)


def time_allowed(clock: Clock) -> timedelta:
    """How long a student has from their start: the duration with the percentage added, rounded
    up to the second (never less than the percentage grants), then the extra minutes."""
    percent_s = -(-clock.duration_minutes * 60 * (100 + clock.extra_time_percent) // 100)
    return timedelta(seconds=percent_s + 60 * clock.extra_time_minutes)


def personal_window(
    exam: Window, extension_due: datetime | None, extension_cutoff: datetime | None, clock: Clock | None
) -> Window:
    """A student's own window: `effective_window` (the exam's, or an extension's times where
    later), and in a timed exam once they started, their clock: due when their time allowed is
    over, late uploads for the exam's own late period after it. Never past the effective window:
    extra time lengthens the clock, an extension moves the cap. Instants only: every sum and
    difference is taken in UTC, since Python adds to (and subtracts within) one zone in wall-clock
    time, and a database session in a zone of its own gives zoned instants: 3 h across a change of
    daylight saving time would be 2 or 4. adapters.db.windows writes the same in SQL."""
    effective = effective_window(exam, extension_due, extension_cutoff)
    if clock is None or clock.started_at is None:
        return effective  # untimed, or not started
    late_period = exam.cutoff_at.astimezone(UTC) - exam.due_at.astimezone(UTC)
    due = min(clock.started_at.astimezone(UTC) + time_allowed(clock), effective.due_at.astimezone(UTC))
    cutoff = min(due + late_period, effective.cutoff_at.astimezone(UTC))
    return Window(effective.opens_at, due, cutoff)


def start_refusal(effective: Window, now: datetime) -> DomainError | None:
    """Why a student cannot start their clock now, or None: not before the exam opens (for them),
    not once their cut-off passed, and not once their due time passed (no time would be left)."""
    if now < effective.opens_at:
        return ExamNotOpen(f"The exam opens at {rfc3339(effective.opens_at)}.", extra={"opens_at": effective.opens_at})
    if now >= effective.cutoff_at:
        return ExamClosed(
            f"The exam closed at {rfc3339(effective.cutoff_at)}.", extra={"cutoff_at": effective.cutoff_at}
        )
    if now >= effective.due_at:
        return NoTimeLeft(
            f"The due time ({rfc3339(effective.due_at)}) has passed: no time would be left to start.",
            extra={"due_at": effective.due_at},
        )
    return None


def is_late(submitted_at: datetime, due_at: datetime) -> bool:
    """Late: S3 accepted the bytes after the due time. Late uploads count like any other."""
    return submitted_at > due_at


def form_expiry(now: datetime, ttl_s: int, cutoff_at: datetime) -> datetime:
    """When an upload form stops working: its lifetime, but never after the cut-off, so that S3
    itself refuses a POST after it. Whole seconds, as S3 policies state them."""
    return min(now + timedelta(seconds=ttl_s), cutoff_at).replace(microsecond=0)


def extension_cutoff(exam: Window, due_at: datetime, cutoff_at: datetime | None) -> datetime:
    """An extension's cut-off when none is given: its due time plus the exam's own grace."""
    return cutoff_at if cutoff_at is not None else due_at + (exam.cutoff_at - exam.due_at)


def extension_refusal(exam: Window, due_at: datetime, cutoff_at: datetime) -> str | None:
    """Why an extension cannot be given, or None: it only moves times later."""
    if due_at < exam.due_at:
        return f"due_at must not be before the exam's ({rfc3339(exam.due_at)}): an extension only moves it later"
    if cutoff_at < exam.cutoff_at:
        return f"cutoff_at must not be before the exam's ({rfc3339(exam.cutoff_at)})"
    if cutoff_at < due_at:
        return "cutoff_at must not be before due_at"
    return None


# --- Issuing an upload form -------------------------------------------------------------------


def form_refusal(
    *,
    window: Window,
    now: datetime,
    attempts_used: int,
    max_attempts: int,
    open_forms: int,
    max_open_forms: int,
    form_ttl_s: int,
    not_started: bool = False,
) -> DomainError | None:
    """Why no upload form may be issued now, or None when one may: nothing outside the (personal)
    window (a form must live at least a second before the cut-off), nothing in a timed exam
    before the student started (they would hand in on the whole window), nothing past the
    attempts."""
    if now < window.opens_at:
        return ExamNotOpen(f"The exam opens at {rfc3339(window.opens_at)}.", extra={"opens_at": window.opens_at})
    if form_expiry(now, form_ttl_s, window.cutoff_at) <= now:
        return ExamClosed(f"The exam closed at {rfc3339(window.cutoff_at)}.", extra={"cutoff_at": window.cutoff_at})
    if not_started:
        return NotStarted("The exam is timed: start your attempt first; the clock runs from then.")
    if attempts_used >= max_attempts:
        return AttemptsUsed(f"All {max_attempts} attempts are used; ask your examiner.")
    if open_forms >= max_open_forms:
        return TooManyOpenForms(
            f"{open_forms} upload forms are open and unused; upload with one of them, or ask again when "
            f"they expire ({form_ttl_s // 60} minutes after they were issued)."
        )
    return None


# --- Naming a student outside the roster ------------------------------------------------------


def shown_as(nickname: str, pseudonym: str, *, anonymous: bool) -> str:
    """The name a student has in what leaves the examiner's roster (a receipt, an export's
    folders and manifest): its nickname, or in an anonymous exam its pseudonym, which only the
    examiner's roster maps back."""
    return pseudonym if anonymous else nickname
