"""The rules as plain functions, each decision by a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from exam_depository.domain import attempt_limits, rules
from exam_depository.domain.errors import (
    AttemptsUsed,
    ExamClosed,
    ExamNotOpen,
    NoTimeLeft,
    NotStarted,
    TooManyOpenForms,
)
from exam_depository.domain.recording import (
    Decision,
    Duplicate,
    FormReused,
    Orphan,
    Record,
    Reject,
    SeenObject,
    StudentFacts,
    UploadFacts,
    must_not_exist,
    placement,
    recording_decision,
)
from exam_depository.domain.statuses import SubmissionStatus

MAX = 3 * 1024 * 1024


def test_attempts_left_never_goes_negative() -> None:
    assert rules.attempts_left(0, 5) == 5
    assert rules.attempts_left(5, 5) == 0
    assert rules.attempts_left(7, 5) == 0


def test_a_current_submission_expires_at_its_instant() -> None:
    expires = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert rules.status_at("current", expires, expires - timedelta(microseconds=1)) == "current"
    assert rules.status_at("current", expires, expires) == "expired"
    assert rules.status_at("superseded", expires, expires + timedelta(days=1)) == "superseded"


DAY = timedelta(days=1)
CUTOFF = datetime(2026, 12, 24, 12, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("submitted", "cutoff", "kept_until"),
    [
        (CUTOFF - 17 * DAY, CUTOFF, CUTOFF + 3 * DAY),  # handed in weeks before the deadline
        (CUTOFF - timedelta(seconds=1), CUTOFF, CUTOFF + 3 * DAY),
        (CUTOFF, CUTOFF, CUTOFF + 3 * DAY),
        (CUTOFF + DAY, CUTOFF, CUTOFF + 4 * DAY),  # after the cut-off: an extension's, then removed
    ],
    ids=["weeks early", "a second early", "at the cut-off", "after the cut-off"],
)
def test_a_file_is_kept_the_retention_after_the_later_of_its_upload_and_its_cutoff(
    submitted: datetime, cutoff: datetime, kept_until: datetime
) -> None:
    assert rules.expiry_of(submitted, cutoff, 3) == kept_until
    assert rules.expiry_of(submitted, cutoff, 3) >= submitted + 3 * DAY


@pytest.mark.parametrize(
    ("new_cutoff", "kept_until"),
    [(CUTOFF + 7 * DAY, CUTOFF + 10 * DAY), (CUTOFF - 7 * DAY, CUTOFF + 3 * DAY)],
    ids=["a later cut-off keeps it longer", "an earlier cut-off never deletes it sooner"],
)
def test_a_moved_cutoff_only_ever_keeps_a_file_longer(new_cutoff: datetime, kept_until: datetime) -> None:
    submitted = CUTOFF - 10 * DAY
    assert rules.kept_longer(CUTOFF + 3 * DAY, submitted, new_cutoff, 3) == kept_until


OPENS = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cutoff", "earliest_file", "refused_because"),
    [
        (OPENS + 120 * DAY, None, None),
        (OPENS + 120 * DAY + timedelta(seconds=1), None, "after the exam opens"),
        (OPENS + 10 * DAY, OPENS + DAY, None),
        (OPENS + 121 * DAY, OPENS + 2 * DAY, "after the exam opens"),
        (OPENS + 100 * DAY, OPENS - 30 * DAY, "first file"),  # the exam opened later since
        (OPENS - timedelta(seconds=1), None, "already past"),
    ],
    ids=["the longest window", "a second longer", "files in it", "too long", "longer than from its first file", "past"],
)
def test_a_window_is_refused_when_past_or_longer_than_the_storage_keeps_files(
    cutoff: datetime, earliest_file: datetime | None, refused_because: str | None
) -> None:
    window = rules.Window(OPENS, min(cutoff, OPENS + DAY), cutoff)
    refusal = rules.window_refusal(window, now=OPENS, max_window_days=120, earliest_file=earliest_file)
    if refused_because is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused_because in refusal.detail


DUE, LATE_END = OPENS + 7 * DAY, OPENS + 7 * DAY + timedelta(minutes=15)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("window", "now", "state"),
    [
        ((OPENS, DUE, LATE_END), OPENS - DAY, "upcoming"),
        ((OPENS, DUE, LATE_END), OPENS - TICK, "upcoming"),
        ((OPENS, DUE, LATE_END), OPENS, "open"),
        ((OPENS, DUE, LATE_END), DUE - TICK, "open"),
        ((OPENS, DUE, LATE_END), DUE, "late_period"),
        ((OPENS, DUE, LATE_END), LATE_END - TICK, "late_period"),
        ((OPENS, DUE, LATE_END), LATE_END, "closed"),
        ((OPENS, DUE, LATE_END), LATE_END + 30 * DAY, "closed"),
        ((OPENS, DUE, DUE), DUE - TICK, "open"),  # no grace: no late period
        ((OPENS, DUE, DUE), DUE, "closed"),
        ((OPENS, OPENS, OPENS), OPENS - TICK, "upcoming"),  # closed at its opening
        ((OPENS, OPENS, OPENS), OPENS, "closed"),
    ],
    ids=[
        "a day before it opens",
        "the instant before it opens",
        "as it opens",
        "the instant before it is due",
        "as it is due",
        "the instant before the cut-off",
        "at the cut-off",
        "a month after",
        "no grace: before it is due",
        "no grace: as it is due",
        "one instant: before",
        "one instant: at it",
    ],
)
def test_an_exams_state_follows_its_own_window_boundaries_included(
    window: tuple[datetime, datetime, datetime], now: datetime, state: str
) -> None:
    assert rules.exam_state(rules.Window(*window), now) == state


@pytest.mark.parametrize(
    ("used", "before", "after", "refused"),
    [
        (3, 3, 1, True),  # an extension's extra attempts taken back after they were used
        (3, 3, 3, False),
        (2, 3, 1, True),
        (1, 3, 1, False),
        (3, 1, 2, False),  # a raise, even while more were used than either allows
        (0, 5, 1, False),
    ],
)
def test_a_limit_is_never_lowered_below_what_a_student_used_and_a_raise_is_never_refused(
    used: int, before: int, after: int, refused: bool
) -> None:
    refusal = attempt_limits.limit_refusal([attempt_limits.LimitChange("ann", used, before, after)])
    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal.extra == {"students": 1, "nicknames": ["ann"]}


@pytest.mark.parametrize(
    ("new", "current", "expected"), [(5, None, "current"), (5, 3, "current"), (3, 5, "superseded")]
)
def test_the_upload_issued_last_is_current(new: int, current: int | None, expected: str) -> None:
    assert placement(new, current) == expected


@pytest.mark.parametrize(
    ("used", "open_forms", "refusal"),
    [(0, 0, None), (4, 9, None), (5, 0, AttemptsUsed), (6, 0, AttemptsUsed), (4, 10, TooManyOpenForms)],
)
def test_a_form_is_refused_when_attempts_are_used_or_too_many_are_open(
    used: int, open_forms: int, refusal: type | None
) -> None:
    now = datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
    found = rules.form_refusal(
        window=rules.Window(now - timedelta(hours=1), now + timedelta(hours=1), now + timedelta(hours=1)),
        now=now,
        attempts_used=used,
        max_attempts=5,
        open_forms=open_forms,
        max_open_forms=10,
        form_ttl_s=600,
    )
    if refusal is None:
        assert found is None
    else:
        assert type(found) is refusal


# --- a timed exam's clock ------------------------------------------------------------------------

HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)


@pytest.mark.parametrize(
    ("clock", "allowed"),
    [
        (rules.Clock(180), 3 * HOUR),
        (rules.Clock(180, extra_time_percent=25), 3 * HOUR + 45 * MINUTE),
        (rules.Clock(1, extra_time_percent=33), timedelta(seconds=80)),  # 79.8 s, rounded up
        (rules.Clock(180, extra_time_minutes=30), 3 * HOUR + 30 * MINUTE),
        (rules.Clock(60, extra_time_percent=50, extra_time_minutes=10), 100 * MINUTE),  # the percent, then minutes
        (rules.Clock(10080, extra_time_percent=300, extra_time_minutes=1440), timedelta(days=29)),  # the most
    ],
    ids=["3 h", "25 %", "33 % of a minute, rounded up", "30 minutes", "50 % then 10 minutes", "the most"],
)
def test_the_time_allowed_is_the_duration_with_the_percentage_rounded_up_then_the_minutes(
    clock: rules.Clock, allowed: timedelta
) -> None:
    assert rules.time_allowed(clock) == allowed


# An exam open 08:00 to 14:00 with 15 minutes' grace; a 3-hour clock.
T = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
EXAM = rules.Window(T, T + 6 * HOUR, T + 6 * HOUR + 15 * MINUTE)


def _at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("exam", "extension", "clock", "window"),
    [
        (EXAM, None, None, (_at(0), _at(6), _at(6.25))),
        (EXAM, None, rules.Clock(180), (_at(0), _at(6), _at(6.25))),
        (EXAM, None, rules.Clock(180, started_at=_at(1)), (_at(0), _at(4), _at(4.25))),
        (EXAM, None, rules.Clock(180, 25, started_at=_at(1)), (_at(0), _at(4.75), _at(5))),
        (EXAM, None, rules.Clock(180, started_at=_at(4)), (_at(0), _at(6), _at(6.25))),
        (EXAM, (_at(9), _at(9.5)), rules.Clock(180, started_at=_at(5)), (_at(0), _at(8), _at(8.25))),
        (EXAM, (_at(6.5), _at(6.75)), rules.Clock(180, started_at=_at(4)), (_at(0), _at(6.5), _at(6.75))),
        (
            EXAM,
            (_at(8), _at(8) + 5 * MINUTE),
            rules.Clock(180, started_at=_at(4.95)),
            (_at(0), _at(7.95), _at(8) + 5 * MINUTE),
        ),
        (rules.Window(_at(0), _at(2), _at(2)), None, rules.Clock(180, started_at=_at(1)), (_at(0), _at(2), _at(2))),
    ],
    ids=[
        "untimed: the exam's window",
        "not started: the whole window",
        "started early: the clock",
        "extra time lengthens the clock",
        "started late: the exam's due time comes first",
        "an extension beyond the clock: the clock",
        "an extension before the clock's end caps it",
        "the grace clamped by the extension's cut-off",
        "a closed exam: closed for the clock too",
    ],
)
def test_a_students_own_window_is_their_clock_within_the_effective_window(
    exam: rules.Window,
    extension: tuple[datetime, datetime] | None,
    clock: rules.Clock | None,
    window: tuple[datetime, datetime, datetime],
) -> None:
    due, cutoff = extension or (None, None)
    assert rules.personal_window(exam, due, cutoff, clock) == rules.Window(*window)


@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        (EXAM.opens_at - TICK, ExamNotOpen),
        (EXAM.opens_at, None),
        (EXAM.due_at - TICK, None),
        (EXAM.due_at, NoTimeLeft),
        (EXAM.cutoff_at - TICK, NoTimeLeft),
        (EXAM.cutoff_at, ExamClosed),
    ],
    ids=[
        "before it opens",
        "as it opens",
        "the instant before it is due",
        "as it is due",
        "in the late period",
        "at the cut-off",
    ],
)
def test_a_clock_starts_from_the_opening_until_the_due_time(now: datetime, refusal: type | None) -> None:
    found = rules.start_refusal(EXAM, now)
    assert found is None if refusal is None else type(found) is refusal
    if isinstance(found, NoTimeLeft):
        assert found.extra == {"due_at": EXAM.due_at}


@pytest.mark.parametrize(
    ("now", "used", "refusal"),
    [
        (EXAM.opens_at - TICK, 0, ExamNotOpen),
        (EXAM.opens_at, 0, NotStarted),
        (EXAM.due_at, 5, NotStarted),  # before the attempts: a student who never started is told to start
        (EXAM.cutoff_at, 0, ExamClosed),
    ],
    ids=["not open yet", "open", "open, attempts used", "closed"],
)
def test_a_form_of_a_timed_exam_needs_a_start_but_an_exam_not_open_or_closed_says_so_first(
    now: datetime, used: int, refusal: type
) -> None:
    found = rules.form_refusal(
        window=EXAM,
        now=now,
        attempts_used=used,
        max_attempts=5,
        open_forms=0,
        max_open_forms=10,
        form_ttl_s=600,
        not_started=True,
    )
    assert type(found) is refusal


PENDING = UploadFacts("pending", None, issue_seq=7)
RECORDED = UploadFacts("recorded", "v1", issue_seq=7)
REJECTED = UploadFacts("rejected", "v1", issue_seq=7)
FRESH = StudentFacts(attempts_used=0, max_attempts=5, current_issue_seq=None)
NEWER_CURRENT = StudentFacts(attempts_used=2, max_attempts=5, current_issue_seq=9)
OLDER_CURRENT = StudentFacts(attempts_used=2, max_attempts=5, current_issue_seq=3)
USED_UP = StudentFacts(attempts_used=5, max_attempts=5, current_issue_seq=3)
# A form issued before the exam was closed at CLOSED, expiring ten minutes later.
CLOSED = datetime(2026, 12, 14, 11, 0, tzinfo=UTC)
OUTLIVING = UploadFacts("pending", None, issue_seq=7, form_expires_at=CLOSED + timedelta(minutes=10))
EXPIRING_AT_CUTOFF = UploadFacts("pending", None, issue_seq=7, form_expires_at=CLOSED)
CLOSED_NOW = StudentFacts(attempts_used=0, max_attempts=5, current_issue_seq=None, cutoff_at=CLOSED)
AFTER = CLOSED + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("upload", "seen", "student", "decision"),
    [
        (None, SeenObject("v1", 10), None, Orphan()),
        (PENDING, SeenObject("v1", 10), FRESH, Record("current")),
        (PENDING, SeenObject("v1", 10), OLDER_CURRENT, Record("current")),
        (PENDING, SeenObject("v1", 10), NEWER_CURRENT, Record("superseded")),
        (PENDING, SeenObject("v1", MAX), FRESH, Record("current")),
        (PENDING, SeenObject("v1", MAX + 1), FRESH, Reject("too_large")),
        (PENDING, SeenObject("v1", 0), FRESH, Reject("empty")),
        (PENDING, SeenObject("v1", 10), USED_UP, Reject("limit_reached")),
        (RECORDED, SeenObject("v1", 10), FRESH, Duplicate()),
        (RECORDED, SeenObject("v2", 10), FRESH, FormReused()),
        (RECORDED, SeenObject("v2", MAX + 1), FRESH, FormReused()),
        (REJECTED, SeenObject("v1", 10), FRESH, Duplicate()),
        (REJECTED, SeenObject("v2", 10), FRESH, FormReused()),
        (OUTLIVING, SeenObject("v1", 10, accepted_at=AFTER), CLOSED_NOW, Reject("after_cutoff")),
        (OUTLIVING, SeenObject("v1", 10, accepted_at=CLOSED), CLOSED_NOW, Record("current")),
        (EXPIRING_AT_CUTOFF, SeenObject("v1", 10, accepted_at=AFTER), CLOSED_NOW, Record("current")),
    ],
    ids=[
        "no form",
        "first upload",
        "newer than the current",
        "older than the current",
        "exactly 3 MiB",
        "one byte over",
        "empty",
        "attempts used",
        "same version again",
        "form posted again",
        "form posted again too large",
        "rejected version again",
        "rejected form posted again",
        "after a cut-off moved before the form's expiry",
        "at the cut-off moved earlier",
        "S3 accepted it under the form's own expiry",
    ],
)
def test_what_becomes_of_an_uploaded_version(
    upload: UploadFacts | None, seen: SeenObject, student: StudentFacts | None, decision: Decision
) -> None:
    assert recording_decision(upload, seen, student, max_bytes=MAX) == decision


@pytest.mark.parametrize(
    ("upload", "submission", "version", "must_go"),
    [
        (None, None, "v1", True),
        (PENDING, None, "v1", False),
        (RECORDED, "current", "v1", False),
        (RECORDED, "current", "v2", True),
        (RECORDED, "superseded", "v1", True),
        (RECORDED, "expired", "v1", True),
        (REJECTED, None, "v1", True),
        (REJECTED, None, "v2", True),
    ],
    ids=["orphan", "pending", "current", "reuse of the current's form", "superseded", "expired", "rejected", "reuse"],
)
def test_which_versions_must_not_exist(
    upload: UploadFacts | None, submission: SubmissionStatus | None, version: str, must_go: bool
) -> None:
    assert must_not_exist(upload, submission, version) is must_go


def test_an_extension_later_by_the_instant_wins_in_the_hour_a_clock_goes_back() -> None:
    # Paris, 25 October 2026: 02:59:59 CEST (00:59:59 UTC) comes before 02:00 CET (01:00 UTC),
    # though its wall clock reads later; both given in the zone, as a database session may give them
    paris = ZoneInfo("Europe/Paris")
    exam_due = datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)
    extension_due = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    exam = rules.Window(*(t.astimezone(paris) for t in (exam_due - timedelta(hours=3), exam_due, exam_due)))

    window = rules.effective_window(exam, extension_due.astimezone(paris), extension_due.astimezone(paris))

    # (compared in UTC: Python never finds a time of the repeated hour equal to another zone's)
    assert window.due_at.astimezone(UTC) == extension_due
    assert window.cutoff_at.astimezone(UTC) == extension_due
