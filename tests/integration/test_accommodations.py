"""Accommodations: a student's extra time, one by one and by CSV (all or nothing, every bad row by
line), and the window it makes in every answer that shows one."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.integration.conftest import EXAM, OTHER_EXAMINER, Api, ApiResponse

PROBLEM_TYPE = "urn:exam-depository:problem:"


def _timed_exam(
    api: Api, exam_id: str, *, duration_minutes: int = 60, opens_in: timedelta = -timedelta(hours=1)
) -> None:
    now = datetime.now(UTC)
    api.create_exam(
        exam_id,
        opens_at=(now + opens_in).isoformat(),
        due_at=(now + timedelta(hours=3)).isoformat(),
        cutoff_at=(now + timedelta(hours=3, minutes=15)).isoformat(),
        duration_minutes=duration_minutes,
    )


def _accommodate(api: Api, nickname: str, body: dict[str, int], exam_id: str = EXAM) -> ApiResponse:
    return api.call(
        "set_accommodation", "extra_time", path_params={"exam_id": exam_id, "nickname": nickname}, body=body
    )


def _import(api: Api, text: str, exam_id: str = EXAM, **options: Any) -> ApiResponse:
    return api.call(
        "import_accommodations",
        "accommodations",
        path_params={"exam_id": exam_id},
        raw_body=base64.b64encode(text.encode()).decode(),
        headers={"Content-Type": "text/csv"},
        **options,
    )


def _start(api: Api, upload_code: str) -> ApiResponse:
    return api.call("start_attempt", "start", path_params={"upload_code": upload_code})


def _student(api: Api, nickname: str, exam_id: str = EXAM) -> dict[str, Any]:
    response = api.call("get_student", "by_nickname", path_params={"exam_id": exam_id, "nickname": nickname})
    assert response.status == 200, response.body
    return dict(response.body)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_extra_time_moves_a_started_students_due_time_at_once_and_zeros_remove_it(api: Api) -> None:
    # Given a student who started an exam of 60 minutes, due in 3 hours
    _timed_exam(api, "timed")
    student = api.create_student("ann", exam_id="timed")
    started = _start(api, student["upload_code"])
    assert started.status == 200, started.body
    start = _at(started.body["started_at"])
    assert _at(started.body["due_at"]) == start + timedelta(minutes=60)

    # When the examiner gives them 25 %, then 25 % and 30 minutes, then nothing
    quarter = _accommodate(api, "ann", {"extra_time_percent": 25}, "timed")
    both = _accommodate(api, "ann", {"extra_time_percent": 25, "extra_time_minutes": 30}, "timed")
    shown = _student(api, "ann", "timed")
    removed = _accommodate(api, "ann", {"extra_time_percent": 0}, "timed")

    # Then each answer is the student with their own window and what made it
    assert quarter.status == 200, quarter.body
    assert (quarter.body["extra_time_percent"], quarter.body["extra_time_minutes"]) == (25, 0)
    assert quarter.body["time_allowed_seconds"] == 75 * 60
    assert _at(quarter.body["due_at"]) == start + timedelta(minutes=75)
    assert _at(quarter.body["cutoff_at"]) == start + timedelta(minutes=75 + 15)  # the exam's late period after it
    assert _at(quarter.body["started_at"]) == start
    assert both.body["time_allowed_seconds"] == (75 + 30) * 60
    assert _at(both.body["due_at"]) == start + timedelta(minutes=105)
    assert {name: shown[name] for name in both.body} == both.body  # the student's own route says the same
    assert removed.body["time_allowed_seconds"] == 60 * 60
    assert (removed.body["extra_time_percent"], removed.body["extra_time_minutes"]) == (0, 0)
    assert _at(removed.body["due_at"]) == start + timedelta(minutes=60)


def test_extra_time_never_takes_a_student_past_the_exams_due_time(api: Api) -> None:
    # Given an exam of 60 minutes due in 3 hours, and a student with 300 % who starts now
    _timed_exam(api, "timed")
    student = api.create_student("ann", exam_id="timed")
    assert _accommodate(api, "ann", {"extra_time_percent": 300}, "timed").status == 200
    started = _start(api, student["upload_code"]).body

    # Then their 4 hours end at the exam's due time, and the late period at its cut-off
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body
    summary = _student(api, "ann", "timed")
    assert summary["time_allowed_seconds"] == 4 * 3600
    assert (summary["due_at"], summary["cutoff_at"]) == (exam["due_at"], exam["cutoff_at"])
    assert (started["due_at"], started["cutoff_at"]) == (exam["due_at"], exam["cutoff_at"])


def test_an_accommodation_on_an_exam_not_timed_waits_for_it_to_be_timed(api: Api) -> None:
    # Given an exam that opens tomorrow, not timed, and a student with 50 %
    now = datetime.now(UTC)
    api.create_exam(
        "later",
        opens_at=(now + timedelta(days=1)).isoformat(),
        due_at=(now + timedelta(days=2)).isoformat(),
        cutoff_at=(now + timedelta(days=2)).isoformat(),
    )
    api.create_student("ann", exam_id="later")
    given = _accommodate(api, "ann", {"extra_time_percent": 50}, "later")

    # Then it is kept, and changes nothing while the exam is not timed
    assert given.status == 200, given.body
    assert (given.body["extra_time_percent"], given.body["time_allowed_seconds"], given.body["started_at"]) == (
        50,
        None,
        None,
    )
    assert given.body["due_at"] == api.call("get_exam", "by_id", path_params={"exam_id": "later"}).body["due_at"]

    # When the exam gets a time limit, the student's time allowed follows
    timed = api.call("update_exam", "later_due", path_params={"exam_id": "later"}, body={"duration_minutes": 120})
    assert timed.status == 200, timed.body
    assert timed.body["duration_minutes"] == 120
    assert _student(api, "ann", "later")["time_allowed_seconds"] == 180 * 60


def test_a_change_of_extra_time_is_noted_when_it_changes_and_only_then(api: Api, clean_database: str) -> None:
    # (What S3 accepted before a reduction stays in: the recorder reads when the extra time changed.)
    _timed_exam(api, "timed")
    api.create_student("ann", exam_id="timed")

    def changed_at() -> datetime | None:
        with psycopg.connect(clean_database) as conn:
            row = conn.execute("SELECT extra_time_accepted_until FROM student WHERE nickname = 'ann'").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    assert changed_at() is None
    assert _accommodate(api, "ann", {"extra_time_percent": 25}, "timed").status == 200
    first = changed_at()
    assert first is not None
    assert _accommodate(api, "ann", {"extra_time_percent": 25, "extra_time_minutes": 0}, "timed").status == 200
    assert changed_at() == first  # the same values: no change
    assert _accommodate(api, "ann", {"extra_time_percent": 10}, "timed").status == 200
    later = changed_at()
    assert later is not None
    assert later > first


def test_accommodations_by_csv_are_all_or_nothing_with_every_bad_row_named(api: Api) -> None:
    # Given a timed exam with three students
    _timed_exam(api, "timed")
    for nickname in ("ann", "bob", "cy"):
        api.create_student(nickname, exam_id="timed")

    # When the examiner imports a file with three bad rows among good ones
    refused = _import(
        api,
        "nickname,extra_time_percent,extra_time_minutes\nann,25,0\nnobody,10,0\nbob,301,0\n\ncy,50,15\nANN,10,0\n",
        "timed",
    )

    # Then each is named by its line, and no student changed
    assert refused.status == 422, refused.body
    assert refused.body["type"] == PROBLEM_TYPE + "invalid-input"
    assert refused.body["detail"] == "3 row(s) are invalid; nothing was changed."
    assert refused.body["errors"] == [
        {"line": 3, "field": "nickname", "message": "no student of the exam has it"},
        {"line": 4, "field": "extra_time_percent", "message": "Input should be less than or equal to 300"},
        {"line": 7, "field": "nickname", "message": "duplicate of line 2"},
    ]
    assert [_student(api, name, "timed")["extra_time_percent"] for name in ("ann", "bob", "cy")] == [0, 0, 0]

    # And a good file gives each their extra time, answered as the students
    accepted = _import(api, "\ufeffNickname,Extra_Time_Percent\r\nann,25\r\nCY,50\r\n", "timed")
    assert accepted.status == 200, accepted.body
    assert [
        (s["nickname"], s["extra_time_percent"], s["time_allowed_seconds"]) for s in accepted.body["accommodated"]
    ] == [
        ("ann", 25, 75 * 60),
        ("cy", 50, 90 * 60),
    ]
    assert _student(api, "bob", "timed")["extra_time_percent"] == 0


def test_accommodations_of_another_examiners_exam_or_of_no_student_are_not_found(api: Api) -> None:
    api.create_student("ann")

    theirs = api.call(
        "set_accommodation",
        "extra_time",
        path_params={"nickname": "ann"},
        body={"extra_time_percent": 25},
        api_key_id=OTHER_EXAMINER,
    )
    their_file = _import(api, "nickname,extra_time_percent\nann,25\n", api_key_id=OTHER_EXAMINER)
    nobody = _accommodate(api, "nobody", {"extra_time_percent": 25})

    for response in (theirs, their_file, nobody):
        assert response.status == 404, response.body
        assert response.body["type"] == PROBLEM_TYPE + "not-found"
    assert _student(api, "ann")["extra_time_percent"] == 0


def test_the_roster_download_shows_each_students_own_window_and_extra_time(api: Api) -> None:
    # Given a timed exam: one student started with 25 %, one not started
    _timed_exam(api, "timed")
    ann, _ = api.create_student("ann", exam_id="timed"), api.create_student("bob", exam_id="timed")
    assert _accommodate(api, "ann", {"extra_time_percent": 25}, "timed").status == 200
    started = _start(api, ann["upload_code"]).body

    # When the examiner downloads the roster
    text = api.call("list_students", "roster_csv", path_params={"exam_id": "timed"}).body

    # Then it names each one's start, own window and extra time
    rows = {row["nickname"]: row for row in csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))}
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body
    assert (rows["ann"]["started_at"], rows["ann"]["due_at"], rows["ann"]["cutoff_at"]) == (
        started["started_at"],
        started["due_at"],
        started["cutoff_at"],
    )
    assert (rows["ann"]["extra_time_percent"], rows["ann"]["extra_time_minutes"]) == ("25", "0")
    assert (rows["bob"]["started_at"], rows["bob"]["due_at"], rows["bob"]["cutoff_at"]) == (
        "",
        exam["due_at"],
        exam["cutoff_at"],
    )
