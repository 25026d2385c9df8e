"""What the routes answer of a timed exam: the start, the upload page's timing, and the student's
own window wherever a route shows one (the student, the exam, a submission, a verification)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.integration.conftest import Api, ApiResponse, Bucket

Record = Callable[..., dict[str, Any]]
PROBLEM_TYPE = "urn:exam-depository:problem:"


def _timed_exam(api: Api, exam_id: str, *, opens_in: timedelta, due_in: timedelta, duration_minutes: int = 60) -> None:
    now = datetime.now(UTC)
    api.create_exam(
        exam_id,
        opens_at=(now + opens_in).isoformat(),
        due_at=(now + due_in).isoformat(),
        cutoff_at=(now + due_in + timedelta(minutes=15)).isoformat(),
        duration_minutes=duration_minutes,
    )


def _progress(api: Api, upload_code: str) -> dict[str, Any]:
    response = api.call("get_upload_status", "by_code", path_params={"upload_code": upload_code})
    assert response.status == 200, response.body
    return dict(response.body)


def _start(api: Api, upload_code: str) -> ApiResponse:
    return api.call("start_attempt", "start", path_params={"upload_code": upload_code})


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_before_the_start_the_page_is_told_what_starting_now_gives_and_after_it_the_clock(api: Api) -> None:
    # Given a student with 25 % in an exam of 60 minutes, open, due in 3 hours
    _timed_exam(api, "timed", opens_in=-timedelta(hours=1), due_in=timedelta(hours=3))
    student = api.create_student("ann", exam_id="timed")
    path = {"exam_id": "timed", "nickname": "ann"}
    assert api.call("set_accommodation", "extra_time", path_params=path, body={"extra_time_percent": 25}).status == 200
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body

    # When the upload page asks before the start
    before = _progress(api, student["upload_code"])

    # Then it has the exam's window, the duration, and the window a start now would give
    now = _at(before["server_time"])
    assert (before["exam"]["due_at"], before["exam"]["cutoff_at"]) == (exam["due_at"], exam["cutoff_at"])
    assert (before["exam"]["duration_minutes"], before["exam"]["has_paper"]) == (60, False)
    assert before["timing"] == {
        "started_at": None,
        "extra_time_percent": 25,
        "extra_time_minutes": 0,
        "time_allowed_seconds": 75 * 60,
        "if_started_now": {
            "due_at": before["timing"]["if_started_now"]["due_at"],
            "cutoff_at": before["timing"]["if_started_now"]["cutoff_at"],
        },
    }
    would_be = before["timing"]["if_started_now"]
    assert _at(would_be["due_at"]) == now + timedelta(minutes=75)
    assert _at(would_be["cutoff_at"]) == now + timedelta(minutes=90)

    # When they start, and again
    started = _start(api, student["upload_code"])
    again = _start(api, student["upload_code"])

    # Then the start is the server's instant, the same both times, and the page shows their clock
    assert started.status == 200, started.body
    assert set(started.body) == {"started_at", "due_at", "cutoff_at", "time_allowed_seconds", "server_time"}
    start = _at(started.body["started_at"])
    assert abs(start - _at(started.body["server_time"])) < timedelta(seconds=5)
    assert started.body["time_allowed_seconds"] == 75 * 60
    assert _at(started.body["due_at"]) == start + timedelta(minutes=75)
    assert _at(started.body["cutoff_at"]) == start + timedelta(minutes=90)
    assert again.status == 200
    assert {name: again.body[name] for name in ("started_at", "due_at", "cutoff_at")} == {
        name: started.body[name] for name in ("started_at", "due_at", "cutoff_at")
    }
    after = _progress(api, student["upload_code"])
    assert (after["exam"]["due_at"], after["exam"]["cutoff_at"]) == (started.body["due_at"], started.body["cutoff_at"])
    assert after["timing"]["started_at"] == started.body["started_at"]
    assert after["timing"]["if_started_now"] is None
    counts = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body["counts"]
    assert counts["started"] == 1


def test_a_page_is_offered_no_start_when_the_start_would_be_refused(api: Api, clean_database: str) -> None:
    # Given a timed exam that has not opened, and one whose due time has passed (its late period runs)
    _timed_exam(api, "soon", opens_in=timedelta(hours=1), due_in=timedelta(hours=3))
    _timed_exam(api, "overdue", opens_in=-timedelta(hours=1), due_in=timedelta(hours=1))
    early = api.create_student("early", exam_id="soon")
    overdue = api.create_student("overdue", exam_id="overdue")
    now = datetime.now(UTC)
    with psycopg.connect(clean_database) as conn:
        conn.execute(
            "UPDATE exam SET due_at = %s, cutoff_at = %s WHERE slug = 'overdue'",
            (now - timedelta(minutes=1), now + timedelta(minutes=30)),
        )

    # Then neither page is offered a window for a start, and a start says why not
    for student, kind, member in ((early, "exam-not-open", "opens_at"), (overdue, "no-time-left", "due_at")):
        progress = _progress(api, student["upload_code"])
        assert progress["timing"]["started_at"] is None
        assert progress["timing"]["if_started_now"] is None
        refused = _start(api, student["upload_code"])
        assert (refused.status, refused.body["type"]) == (409, PROBLEM_TYPE + kind), refused.body
        assert member in refused.body


def test_an_exam_not_timed_answers_no_timing_and_refuses_a_start(api: Api) -> None:
    student = api.create_student()

    progress = _progress(api, student["upload_code"])
    refused = _start(api, student["upload_code"])
    unknown = _start(api, "7K3M-Q9TX-2WFD-8HNB-C4RZ")

    assert (progress["exam"]["duration_minutes"], progress["timing"]) == (None, None)
    assert (refused.status, refused.body["type"]) == (409, PROBLEM_TYPE + "not-timed")
    assert (unknown.status, unknown.body["type"]) == (404, PROBLEM_TYPE + "not-found")
    shown = api.call("get_student", "by_nickname").body
    assert (shown["started_at"], shown["time_allowed_seconds"]) == (None, None)


def test_a_file_handed_in_after_the_students_own_due_time_says_what_it_was_measured_against(
    api: Api, bucket: Bucket, record: Record, clean_database: str
) -> None:
    # Given a started student whose own due time passed, while the exam's is hours away
    _timed_exam(api, "timed", opens_in=-timedelta(hours=2), due_in=timedelta(hours=3))
    student = api.create_student("ann", exam_id="timed")
    assert _start(api, student["upload_code"]).status == 200
    with psycopg.connect(clean_database) as conn:
        conn.execute("UPDATE student SET started_at = now() - interval '61 minutes' WHERE nickname = 'ann'")
    own_due = _at(_progress(api, student["upload_code"])["exam"]["due_at"])

    # When they hand in
    form = api.request_upload(student["upload_code"]).body
    assert form["late"] is True
    assert _at(form["due_at"]) == own_due
    bucket.upload(form, b"%PDF late")
    assert record(bucket.notification(form["fields"]["key"], 9))["batchItemFailures"] == []

    # Then the file is late, and every answer that shows it names the due time it was measured against
    current = _progress(api, student["upload_code"])["current"]
    assert (current["late"], _at(current["due_at"])) == (True, own_due)
    detail = api.call("get_student", "by_nickname", path_params={"exam_id": "timed", "nickname": "ann"}).body
    assert detail["submissions"][0]["due_at"] == current["due_at"]
    assert detail["current"]["due_at"] == current["due_at"]
    page = api.call("list_students", "first_page", path_params={"exam_id": "timed"}).body["items"]
    assert page[0]["current"]["due_at"] == current["due_at"]
    verification = api.call(
        "get_verification", "by_code", path_params={"verification_code": current["verification_code"]}
    ).body
    assert (verification["late"], verification["due_at"]) == (True, current["due_at"])
    assert verification["started_at"] == detail["started_at"]


def test_the_exam_shows_its_question_paper_and_the_upload_page_only_that_there_is_one(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given a timed exam that opens in an hour, with no paper yet
    _timed_exam(api, "timed", opens_in=timedelta(hours=1), due_in=timedelta(hours=3))
    student = api.create_student("ann", exam_id="timed")
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body
    assert (exam["paper"], exam["paper_uploads"]) == (None, [])

    # When the examiner posts one and the recorder takes it
    form = api.call("request_paper_upload", "pdf", path_params={"exam_id": "timed"}, body={"filename": "paper.pdf"})
    assert form.status == 201, form.body
    pending = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body["paper_uploads"]
    bucket.upload(form.body, b"%PDF-1.7 the questions")
    assert record(bucket.notification(form.body["fields"]["key"], 22))["batchItemFailures"] == []

    # Then the exam names it and what became of the form; the student's page says only that there is one
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "timed"}).body
    assert pending == [{"paper_id": form.body["paper_id"], "status": "pending", "rejection_reason": None}]
    assert exam["paper_uploads"] == [{"paper_id": form.body["paper_id"], "status": "current", "rejection_reason": None}]
    assert (exam["paper"]["paper_id"], exam["paper"]["filename"], exam["paper"]["size_bytes"]) == (
        form.body["paper_id"],
        "paper.pdf",
        22,
    )
    progress = _progress(api, student["upload_code"])
    assert progress["exam"]["has_paper"] is True
    assert form.body["fields"]["key"] not in str(progress)
