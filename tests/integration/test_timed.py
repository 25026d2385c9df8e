"""Timed exams: a student's clock starts once, on the server's instant; a form needs it and expires
by the student's own cut-off; late is measured against their own due time, which the submission
and its receipt keep; extra time reduced after the fact loses nothing S3 accepted before; and the
database computes the personal window as the Python rule does."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import psycopg
import pytest
from exam_depository.adapters.db import windows
from exam_depository.domain.rules import Clock, Window, personal_window, time_allowed
from exam_depository.usecases import student as student_usecase
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import EXAM, Api, Bucket, move_window
from tests.integration.test_exports import _build_queued, _zip

Record = Callable[..., dict[str, Any]]
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def _timed_exam(
    api: Api, exam_id: str = EXAM, *, opens: timedelta, due: timedelta, cutoff: timedelta, minutes: int
) -> None:
    now = _now()
    api.create_exam(
        exam_id,
        opens_at=(now + opens).isoformat(),
        due_at=(now + due).isoformat(),
        cutoff_at=(now + cutoff).isoformat(),
        duration_minutes=minutes,
    )


def _start(api: Api, code: str) -> Any:
    return api.call("start_attempt", "start", path_params={"upload_code": code})


def _student_row(database_url: str, nickname: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """SELECT s.started_at, s.extra_time_percent, s.extra_time_minutes FROM student s
               WHERE s.nickname = %s""",
            (nickname,),
        ).fetchone()
    assert row is not None
    return dict(zip(("started_at", "extra_time_percent", "extra_time_minutes"), row, strict=True))


def _set_start(database_url: str, nickname: str, started_at: datetime) -> None:
    """Given a student who started then: the test moves the start the server recorded."""
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE student SET started_at = %s WHERE nickname = %s", (started_at, nickname))


def _claims(receipt: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(receipt.split(".")[1] + "==")))


# --- the rule in SQL -------------------------------------------------------------------------

START = datetime(2026, 3, 20, tzinfo=UTC)  # a window that may span Paris's change of 29 March
seconds = st.integers(0, 20 * 86400)
ZONES = ["UTC", "Europe/Paris", "Australia/Lord_Howe", "America/St_Johns"]


@st.composite
def rows(draw: st.DrawFn) -> tuple[Window, datetime | None, datetime | None, Clock | None]:
    """An exam's window, maybe an extension (near the exam's due time, either side), maybe a clock,
    maybe started (from the opening to before the effective due time, where starting is allowed)."""
    opens = START + timedelta(seconds=draw(seconds), microseconds=draw(st.integers(0, 999_999)))
    due = opens + timedelta(seconds=draw(seconds))
    cutoff = due + timedelta(seconds=draw(st.integers(0, 4 * 86400)))  # late periods of days too
    extension_due = draw(st.none() | st.builds(lambda s: due + timedelta(seconds=s), st.integers(-86400, 86400)))
    extension_cutoff = None if extension_due is None else extension_due + timedelta(seconds=draw(st.integers(0, 7200)))
    exam = Window(opens, due, cutoff)
    if draw(st.booleans()):
        return exam, extension_due, extension_cutoff, None
    effective_due = max(due, extension_due or due)
    span_s = max(0, int((effective_due - opens).total_seconds()) - 1)
    started_at = draw(st.none() | st.builds(lambda s: opens + timedelta(seconds=s), st.integers(0, span_s)))
    clock = Clock(
        duration_minutes=draw(st.integers(1, 10080)),
        extra_time_percent=draw(st.integers(0, 300)),
        extra_time_minutes=draw(st.integers(0, 1440)),
        started_at=started_at,
    )
    return exam, extension_due, extension_cutoff, clock


# A late period of days, added to a clock's due time across Paris's change of 29 March: PostgreSQL
# gives the difference of two instants in days, and adds a day in the session's wall-clock time.
DAYS_OF_GRACE = (
    Window(START, datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 30, 12, tzinfo=UTC)),
    None,
    None,
    Clock(duration_minutes=60, started_at=datetime(2026, 3, 28, 5, tzinfo=UTC)),
)

# A cut-off in the half hour Lord Howe Island lives twice (01:30 local on 5 April, as its daylight
# saving ends): PEP 495 makes `==` False between zones for a time in a repeated hour, whatever
# instant it is, so the instants are compared in UTC.
REPEATED_HALF_HOUR = (
    Window(START, datetime(2026, 4, 4, 12, tzinfo=UTC), datetime(2026, 4, 4, 14, 30, tzinfo=UTC)),
    None,
    None,
    None,
)


def _in_utc(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(UTC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=rows(), zone=st.sampled_from(ZONES))
@example(drawn=DAYS_OF_GRACE, zone="Europe/Paris")
@example(drawn=REPEATED_HALF_HOUR, zone="Australia/Lord_Howe")
def test_the_database_computes_the_personal_window_as_the_rule_does(
    drawn: tuple[Window, datetime | None, datetime | None, Clock | None], zone: str, database_url: str
) -> None:
    # Given random exam and student rows, read in a session of any time zone
    exam, extension_due, extension_cutoff, clock = drawn
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"SET TimeZone = '{zone}'")
        # When the expressions the statements inline compute the window
        found = conn.execute(
            f"""SELECT {windows.personal_due()} AS due_at, {windows.personal_cutoff()} AS cutoff_at,
                       {windows.time_allowed_seconds()} AS allowed
                FROM (SELECT %(due)s::timestamptz AS due_at, %(cutoff)s::timestamptz AS cutoff_at,
                             %(duration)s::int AS duration_minutes) e,
                     (SELECT %(extension_due)s::timestamptz AS extension_due_at,
                             %(extension_cutoff)s::timestamptz AS extension_cutoff_at,
                             %(started)s::timestamptz AS started_at, %(percent)s::int AS extra_time_percent,
                             %(minutes)s::int AS extra_time_minutes) s""",
            {
                "due": exam.due_at,
                "cutoff": exam.cutoff_at,
                "duration": clock and clock.duration_minutes,
                "extension_due": extension_due,
                "extension_cutoff": extension_cutoff,
                "started": clock and clock.started_at,
                "percent": clock.extra_time_percent if clock else 0,
                "minutes": clock.extra_time_minutes if clock else 0,
            },
        ).fetchone()
    # Then they are the Python rule's instants, to the microsecond
    assert found is not None
    window = personal_window(exam, extension_due, extension_cutoff, clock)
    assert (_in_utc(found[0]), _in_utc(found[1])) == (_in_utc(window.due_at), _in_utc(window.cutoff_at))
    assert found[2] == (None if clock is None else time_allowed(clock).total_seconds())


# --- starting ----------------------------------------------------------------------------------


def test_a_start_is_refused_where_no_clock_could_run(api: Api, database_url: str) -> None:
    # Given students of an untimed exam, of a timed one not open yet, past its due time, closed
    untimed = api.create_student("untimed")
    _timed_exam(api, "later", opens=HOUR, due=3 * HOUR, cutoff=3 * HOUR, minutes=60)
    later = api.create_student("later", exam_id="later")
    _timed_exam(api, "late", opens=-2 * HOUR, due=HOUR, cutoff=2 * HOUR, minutes=60)
    late = api.create_student("late", exam_id="late")
    _timed_exam(api, "over", opens=-2 * HOUR, due=HOUR, cutoff=2 * HOUR, minutes=60)
    over = api.create_student("over", exam_id="over")
    now = _now()
    move_window(database_url, "late", due_at=now - MINUTE, cutoff_at=now + HOUR)
    move_window(database_url, "over", due_at=now - HOUR, cutoff_at=now - MINUTE)

    # When each starts, Then each is refused saying why, and nothing starts
    expected = {
        untimed["upload_code"]: ("not-timed", None),
        later["upload_code"]: ("exam-not-open", "opens_at"),
        late["upload_code"]: ("no-time-left", "due_at"),
        over["upload_code"]: ("exam-closed", "cutoff_at"),
    }
    for code, (kind, member) in expected.items():
        refused = _start(api, code)
        assert refused.status == 409, refused.body
        assert refused.body["type"] == f"urn:exam-depository:problem:{kind}"
        if member is not None:
            assert member in refused.body
    assert _start(api, "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ").status == 404
    for nickname in ("untimed", "later", "late", "over"):
        assert _student_row(database_url, nickname)["started_at"] is None


def test_twenty_starts_at_once_record_one_start_and_all_answer_it(api: Api, database_url: str) -> None:
    # Given a student of a timed exam and twenty requests to start at once
    _timed_exam(api, "timed", opens=-HOUR, due=5 * HOUR, cutoff=5 * HOUR + 10 * MINUTE, minutes=90)
    code = api.create_student("ann", exam_id="timed")["upload_code"]
    barrier = threading.Barrier(20)
    answers: list[student_usecase.Started] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            answers.append(student_usecase.start_attempt(code))
        except BaseException as exc:  # reported below, with the test's failure
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one start is recorded, and every answer is it
    assert failures == []
    started_at = _student_row(database_url, "ann")["started_at"]
    assert {answer.started_at for answer in answers} == {started_at}
    assert {(answer.due_at, answer.cutoff_at) for answer in answers} == {
        (started_at + 90 * MINUTE, started_at + 100 * MINUTE)
    }
    # And starting again later answers the same, over HTTP too
    again = _start(api, code)
    assert again.status == 200
    assert datetime.fromisoformat(again.body["started_at"]) == started_at
    assert again.body["time_allowed_seconds"] == 90 * 60


def test_a_timed_exams_form_needs_a_start_and_expires_by_the_students_own_cutoff(api: Api) -> None:
    # Given a student of an exam open for hours, with a 20-minute clock and 2 minutes' grace
    _timed_exam(api, "timed", opens=-HOUR, due=4 * HOUR, cutoff=4 * HOUR + 2 * MINUTE, minutes=20)
    code = api.create_student("ann", exam_id="timed")["upload_code"]

    # When they ask for a form before starting, Then it is refused: they must start
    refused = api.request_upload(code)
    assert refused.status == 409
    assert refused.body["type"] == "urn:exam-depository:problem:not-started"

    # When they start, Then a form is theirs, due and expiring by their own window, not the exam's
    started = _start(api, code).body
    form = api.request_upload(code)
    assert form.status == 201, form.body
    assert form.body["due_at"] == started["due_at"]
    assert form.body["cutoff_at"] == started["cutoff_at"]
    assert datetime.fromisoformat(form.body["expires_at"]) <= datetime.fromisoformat(started["cutoff_at"])
    assert datetime.fromisoformat(started["cutoff_at"]) - datetime.fromisoformat(started["started_at"]) == 22 * MINUTE
    policy = json.loads(base64.b64decode(form.body["fields"]["policy"]))
    assert datetime.fromisoformat(policy["expiration"]) <= datetime.fromisoformat(started["cutoff_at"])
    assert form.body["late"] is False


def test_late_is_measured_against_the_students_own_due_time_and_kept_with_the_file(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a student whose one-hour clock ran out 5 minutes ago, while the exam is due in 2 hours
    _timed_exam(api, "timed", opens=-3 * HOUR, due=2 * HOUR, cutoff=3 * HOUR, minutes=60)
    code = api.create_student("ann", exam_id="timed")["upload_code"]
    assert _start(api, code).status == 200
    started_at = (_now() - 65 * MINUTE).replace(microsecond=0)
    _set_start(database_url, "ann", started_at)
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body

    # When they ask for a form, Then it says late, and expires by their own cut-off (the hour of grace)
    form = api.request_upload(code).body
    assert form["late"] is True
    assert datetime.fromisoformat(form["due_at"]) == started_at + HOUR
    assert datetime.fromisoformat(form["expires_at"]) <= started_at + 2 * HOUR

    # When they hand in
    bucket.upload(form, b"%PDF late answers")
    accepted = _now()
    assert record(bucket.notification(form["fields"]["key"], 17, event_time=accepted)) == {"batchItemFailures": []}

    # Then the file is late against their due time, which is kept with it, and its retention still
    # counts from the exam's cut-off (the examiner collects after it)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT late, due_at, expires_at, receipt FROM submission").fetchone()
    assert row is not None
    late, due_at, expires_at, receipt = row
    assert late is True
    assert due_at == started_at + HOUR
    assert expires_at == datetime.fromisoformat(exam["cutoff_at"]) + timedelta(days=3)
    claims = _claims(receipt)
    assert (claims["late"], claims["started_at"], claims["due_at"]) == (
        True,
        started_at.isoformat().replace("+00:00", "Z"),
        (started_at + HOUR).isoformat().replace("+00:00", "Z"),
    )
    # And the reviewer's verification and the receipt check say the same
    code_of_file = api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body["current"]
    verification = api.call(
        "get_verification", "by_code", path_params={"verification_code": code_of_file["verification_code"]}
    ).body
    assert datetime.fromisoformat(verification["started_at"]) == started_at
    assert datetime.fromisoformat(verification["due_at"]) == started_at + HOUR
    assert datetime.fromisoformat(code_of_file["due_at"]) == started_at + HOUR


def test_reduced_extra_time_rejects_what_s3_accepted_after_the_change_and_keeps_what_it_accepted_before(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a student with double time on a one-hour clock, started 90 minutes ago (due in 30),
    # holding two forms that expire by that due time
    _timed_exam(api, "timed", opens=-3 * HOUR, due=3 * HOUR, cutoff=3 * HOUR, minutes=60)
    code = api.create_student("ann", exam_id="timed")["upload_code"]
    accommodation = {"extra_time_percent": 100}
    set_extra = api.call(
        "set_accommodation", "extra_time", path_params={"exam_id": "timed", "nickname": "ann"}, body=accommodation
    )
    assert set_extra.status == 200, set_extra.body
    assert _start(api, code).status == 200
    _set_start(database_url, "ann", _now() - 90 * MINUTE)
    before, after = api.request_upload(code).body, api.request_upload(code).body
    for form in (before, after):
        bucket.upload(form, b"%PDF answers")

    # When the examiner takes the extra time back (their clock ended 30 minutes ago), and S3's
    # notifications of a file it accepted a moment before and of one after come only then
    before_change = _now() - timedelta(seconds=1)
    reduced = api.call(
        "set_accommodation",
        "extra_time",
        path_params={"exam_id": "timed", "nickname": "ann"},
        body={"extra_time_percent": 0},
    )
    assert reduced.status == 200, reduced.body
    after_change = _now() + timedelta(seconds=1)
    assert record(bucket.notification(before["fields"]["key"], 12, event_time=before_change)) == {
        "batchItemFailures": []
    }
    assert record(bucket.notification(after["fields"]["key"], 12, event_time=after_change)) == {"batchItemFailures": []}

    # Then what S3 accepted before the change is recorded, what it accepted after is rejected
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body
    statuses = {upload["upload_id"]: (upload["status"], upload["rejection_reason"]) for upload in progress["uploads"]}
    assert statuses[before["upload_id"]] == ("recorded", None)
    assert statuses[after["upload_id"]] == ("rejected", "after_cutoff")
    assert progress["current"]["upload_id"] == before["upload_id"]


@pytest.mark.parametrize("change", ["extra time changed", "extension removed"])
def test_a_change_made_after_the_exam_closed_reopens_nothing(
    api: Api, bucket: Bucket, record: Record, database_url: str, change: str
) -> None:
    # Given a started student with extra time and an extension, holding a form that outlives the
    # exam's closing (after a leak), S3 accepting the file after the close
    _timed_exam(api, "closed", opens=-HOUR, due=2 * HOUR, cutoff=3 * HOUR, minutes=60)
    code = api.create_student("ann", exam_id="closed")["upload_code"]
    path = {"exam_id": "closed", "nickname": "ann"}
    assert api.call("set_accommodation", "extra_time", path_params=path, body={"extra_time_percent": 50}).status == 200
    extension = {"due_at": (_now() + 3 * HOUR).isoformat()}
    assert api.call("set_extension", "valid", path_params=path, body=extension).status == 200
    assert _start(api, code).status == 200
    form = api.request_upload(code).body
    bucket.upload(form, b"%PDF answers")
    closed = api.call("close_exam", "now", path_params={"exam_id": "closed"})
    assert closed.status == 200, closed.body
    accepted_after_the_close = _now()

    # When the examiner then changes the student's extra time, or removes their extension, and only
    # then does S3's notification of that file arrive
    if change == "extra time changed":
        changed = api.call("set_accommodation", "extra_time", path_params=path, body={"extra_time_percent": 25})
        assert changed.status == 200, changed.body
    else:
        assert api.call("remove_extension", "by_nickname", path_params=path).status == 204
    notified = bucket.notification(form["fields"]["key"], 12, event_time=accepted_after_the_close)
    assert record(notified) == {"batchItemFailures": []}

    # Then the file stays rejected: the change gave back no time the close had taken
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body
    (upload,) = progress["uploads"]
    assert (upload["status"], upload["rejection_reason"]) == ("rejected", "after_cutoff")
    assert progress["current"] is None


# --- the exam's changes ---------------------------------------------------------------------------


def test_an_exam_becomes_timed_or_untimed_only_before_it_opens_and_moves_its_opening_only_before_a_start(
    api: Api,
) -> None:
    # Given an untimed exam that will open in an hour, and a timed one open since an hour ago
    _timed_exam(api, "soon", opens=HOUR, due=3 * HOUR, cutoff=3 * HOUR, minutes=60)
    _timed_exam(api, "open", opens=-HOUR, due=3 * HOUR, cutoff=3 * HOUR, minutes=60)

    def patch(exam_id: str, **body: Any) -> Any:
        return api.call("update_exam", "later_due", path_params={"exam_id": exam_id}, body=body)

    # Then before it opens, it may become untimed and timed again
    assert patch("soon", duration_minutes=None).body["duration_minutes"] is None
    assert patch("soon", duration_minutes=45).body["duration_minutes"] == 45
    # And once open, its duration may change but not whether it is timed
    assert patch("open", duration_minutes=120).body["duration_minutes"] == 120
    refused = patch("open", duration_minutes=None)
    assert refused.status == 409
    assert refused.body["type"] == "urn:exam-depository:problem:conflict"
    # And its opening moves until a student starts, not after
    code = api.create_student("ann", exam_id="open")["upload_code"]
    earlier = (_now() - 2 * HOUR).isoformat()
    assert patch("open", opens_at=earlier).status == 200
    assert _start(api, code).status == 200
    moved = patch("open", opens_at=(_now() - 3 * HOUR).isoformat())
    assert moved.status == 409
    assert moved.body["type"] == "urn:exam-depository:problem:conflict"
    assert api.call("get_exam", "by_id", path_params={"exam_id": "open"}).body["counts"]["started"] == 1


def test_a_shorter_duration_moves_every_started_clock_at_once(api: Api) -> None:
    # Given a student who started a two-hour clock
    _timed_exam(api, "timed", opens=-HOUR, due=5 * HOUR, cutoff=5 * HOUR, minutes=120)
    code = api.create_student("ann", exam_id="timed")["upload_code"]
    started_at = datetime.fromisoformat(_start(api, code).body["started_at"])

    # When the examiner makes it one hour
    changed = api.call("update_exam", "later_due", path_params={"exam_id": "timed"}, body={"duration_minutes": 60})
    assert changed.status == 200, changed.body

    # Then their window follows, wherever it is shown
    student = api.call("get_student", "by_nickname", path_params={"exam_id": "timed", "nickname": "ann"}).body
    assert datetime.fromisoformat(student["due_at"]) == started_at + HOUR
    assert student["time_allowed_seconds"] == 3600
    assert datetime.fromisoformat(_start(api, code).body["due_at"]) == started_at + HOUR


def test_an_export_manifest_shows_each_students_own_window_and_how_it_was_made(
    api: Api, bucket: Bucket, record: Record, handler: Callable[[str], ModuleType], database_url: str
) -> None:
    # Given a timed exam whose student with 25 % extra time started and handed in
    _timed_exam(api, "timed", opens=-HOUR, due=5 * HOUR, cutoff=5 * HOUR + 10 * MINUTE, minutes=60)
    code = api.create_student("ann", exam_id="timed")["upload_code"]
    extra = api.call(
        "set_accommodation",
        "extra_time",
        path_params={"exam_id": "timed", "nickname": "ann"},
        body={"extra_time_percent": 25, "extra_time_minutes": 5},
    )
    assert extra.status == 200, extra.body
    started = _start(api, code).body
    form = api.request_upload(code).body
    bucket.upload(form, b"%PDF answers")
    record(bucket.notification(form["fields"]["key"], 12))

    # When the examiner exports
    exported = api.call("create_export", "start", path_params={"exam_id": "timed"})
    assert exported.status == 202, exported.body
    _build_queued(handler)
    manifest = list(
        csv.DictReader(
            io.StringIO(_zip(database_url, exported.body["export_id"]).read("manifest.csv").decode("utf-8-sig"))
        )
    )

    # Then its line says when they started, their own window, and their extra time
    assert len(manifest) == 1
    line = manifest[0]
    started_at = datetime.fromisoformat(started["started_at"])
    assert datetime.fromisoformat(line["started_at"]) == started_at
    assert datetime.fromisoformat(line["due_at"]) == started_at + 80 * MINUTE
    assert datetime.fromisoformat(line["cutoff_at"]) == started_at + 90 * MINUTE
    assert (line["extra_time_percent"], line["extra_time_minutes"], line["late"]) == ("25", "5", "no")
