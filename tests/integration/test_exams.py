"""Exams: created, listed with counts, changed, deleted; every one the caller's alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import EXAM, EXAMINER, OTHER_EXAMINER, Api, Bucket

Record = Callable[..., dict[str, Any]]
PROBLEM = "application/problem+json"


# A December always ahead, so that these fixed times never fall in the past.
NEXT_YEAR = datetime.now(UTC).year + 1


def _hand_in(api: Api, bucket: Bucket, record: Record, student: dict[str, Any], *, late_by_s: float = 0) -> None:
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"%PDF answers")
    notification = bucket.notification(form["fields"]["key"], 12)
    if late_by_s:
        due = datetime.fromisoformat(form["due_at"])
        notification["eventTime"] = (due + timedelta(seconds=late_by_s)).isoformat().replace("+00:00", "Z")
    record(notification)


def test_an_exam_is_created_with_its_window_in_utc_and_its_time_zone_for_display(api: Api) -> None:
    response = api.call(
        "create_exam",
        "valid",
        body={
            "exam_id": "chem-1",
            "title": "Chemistry",
            "opens_at": f"{NEXT_YEAR}-12-14T09:00:00+01:00",
            "due_at": f"{NEXT_YEAR}-12-14T12:00:00+01:00",
            "cutoff_at": f"{NEXT_YEAR}-12-14T12:15:00+01:00",
            "timezone": "Europe/Paris",
        },
    )

    assert response.status == 201, response.body
    exam = response.body
    assert (exam["opens_at"], exam["due_at"], exam["cutoff_at"]) == (
        f"{NEXT_YEAR}-12-14T08:00:00Z",
        f"{NEXT_YEAR}-12-14T11:00:00Z",
        f"{NEXT_YEAR}-12-14T11:15:00Z",
    )
    assert (exam["timezone"], exam["max_attempts"], exam["anonymous"]) == ("Europe/Paris", 5, False)
    assert exam["counts"] == {"students": 0, "handed_in": 0, "late": 0, "none_yet": 0, "started": 0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exam_id": "Has Caps"}, "exam_id"),
        ({"due_at": f"{NEXT_YEAR}-12-14T07:59:59Z"}, "in order"),
        ({"cutoff_at": f"{NEXT_YEAR}-12-14T11:59:00+01:00"}, "in order"),
        ({"opens_at": f"{NEXT_YEAR}-12-14T09:00:00"}, "timezone info"),
        ({"timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"title": "Ann\u202eeeL"}, "invisible"),
    ],
)
def test_a_bad_exam_is_a_422_that_says_what_is_wrong(api: Api, change: dict[str, Any], message: str) -> None:
    body = {
        "exam_id": "chem-1",
        "title": "Chemistry",
        "opens_at": f"{NEXT_YEAR}-12-14T09:00:00+01:00",
        "due_at": f"{NEXT_YEAR}-12-14T12:00:00+01:00",
        "cutoff_at": f"{NEXT_YEAR}-12-14T12:15:00+01:00",
        "timezone": "Europe/Paris",
    } | change

    response = api.call("create_exam", "valid", body=body)

    assert response.status == 422
    assert message in response.body["detail"], response.body["detail"]


def test_an_exam_id_is_unique_per_examiner_not_across_examiners(api: Api) -> None:
    again = api.call("create_exam", "valid", body=_exam_body(EXAM))
    theirs = api.call("create_exam", "valid", body=_exam_body(EXAM), api_key_id=OTHER_EXAMINER)

    assert again.status == 409
    assert again.body["detail"] == f"You already have an exam with the id {EXAM}."
    assert theirs.status == 201


def _exam_body(exam_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "exam_id": exam_id,
        "title": "T",
        "opens_at": now.isoformat(),
        "due_at": (now + timedelta(hours=1)).isoformat(),
        "cutoff_at": (now + timedelta(hours=1)).isoformat(),
        "timezone": "UTC",
    }


def test_the_exam_counts_who_handed_in_who_was_late_and_who_has_not_yet(
    api: Api, bucket: Bucket, record: Record
) -> None:
    on_time, late, twice, none = (api.create_student(n) for n in ("on-time", "late", "twice", "none"))
    _hand_in(api, bucket, record, on_time)
    _hand_in(api, bucket, record, late, late_by_s=30)
    _hand_in(api, bucket, record, twice, late_by_s=30)
    _hand_in(api, bucket, record, twice)  # the latest file is on time: the student is not late
    assert none["nickname"] == "none"

    exam = api.call("get_exam", "by_id").body
    listed = api.call("list_exams", "first_page").body["items"]

    assert exam["counts"] == {"students": 4, "handed_in": 3, "late": 1, "none_yet": 1, "started": 0}
    assert [item["counts"] for item in listed] == [exam["counts"]]


def test_listing_pages_through_the_callers_exams_only(api: Api) -> None:
    for n in range(4):
        api.create_exam(f"exam-{n}")
    api.create_exam("theirs", api_key_id=OTHER_EXAMINER)

    seen, cursor = [], None
    while True:
        page = api.call("list_exams", "first_page", query={"limit": "2"} | ({"cursor": cursor} if cursor else {}))
        assert page.status == 200
        seen += [item["exam_id"] for item in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break

    assert seen == [EXAM, "exam-0", "exam-1", "exam-2", "exam-3"]
    theirs = api.call("list_exams", "first_page", api_key_id=OTHER_EXAMINER).body["items"]
    assert [item["exam_id"] for item in theirs] == ["theirs"]


def test_every_exam_answer_says_where_the_exam_stands_in_its_window_as_it_is_answered(
    aws: None, handler: Callable[[str], ModuleType]
) -> None:
    # Given an exam that opens tomorrow
    api = Api(handler)
    now = datetime.now(UTC)
    tomorrow = {
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "due_at": (now + timedelta(days=2)).isoformat(),
        "cutoff_at": (now + timedelta(days=2, minutes=15)).isoformat(),
    }
    created = api.create_exam(**tomorrow)

    def states() -> list[str]:
        listed = api.call("list_exams", "first_page").body["items"]
        return [api.call("get_exam", "by_id").body["state"], *(item["state"] for item in listed)]

    # Then each route answers its state: upcoming, then open once it opened, in its late period
    # once due, whatever a student's extension says, and closed once closed
    assert created["state"] == "upcoming"
    assert states() == ["upcoming", "upcoming"]
    opened = api.call("update_exam", "later_due", body={"opens_at": (now - timedelta(hours=1)).isoformat()})
    assert opened.body["state"] == "open"
    assert states() == ["open", "open"]
    api.create_student("extended")
    extension = {"due_at": (now + timedelta(days=5)).isoformat()}
    assert api.call("set_extension", "valid", path_params={"nickname": "extended"}, body=extension).status == 200
    due = api.call("update_exam", "later_due", body={"due_at": (now - timedelta(minutes=1)).isoformat()})
    assert due.body["state"] == "late_period"
    assert states() == ["late_period", "late_period"]
    closed = api.call("close_exam", "now")
    assert closed.body["state"] == "closed"
    assert states() == ["closed", "closed"]


def test_a_patch_changes_only_what_it_gives_and_keeps_the_window_in_order(api: Api) -> None:
    before = api.call("get_exam", "by_id").body
    later = (datetime.fromisoformat(before["due_at"]) + timedelta(hours=1)).isoformat()

    changed = api.call("update_exam", "later_due", body={"title": "Physics (resit)", "cutoff_at": later})
    wrong = api.call("update_exam", "later_due", body={"due_at": later})  # after the cut-off

    assert changed.status == 200, changed.body
    assert changed.body["title"] == "Physics (resit)"
    assert changed.body["cutoff_at"] == later.replace("+00:00", "Z")
    assert changed.body["due_at"] == before["due_at"]
    assert wrong.status == 200  # the cut-off moved first, so this due time is still in order
    too_late = api.call(
        "update_exam", "later_due", body={"due_at": (datetime.fromisoformat(later) + timedelta(seconds=1)).isoformat()}
    )
    assert too_late.status == 422
    assert "in order" in too_late.body["detail"]


def test_max_attempts_cannot_go_below_what_a_student_used(api: Api, bucket: Bucket, record: Record) -> None:
    busy, idle = api.create_student("busy"), api.create_student("idle")
    for _ in range(3):
        _hand_in(api, bucket, record, busy)
    assert idle["nickname"] == "idle"

    refused = api.call("update_exam", "later_due", body={"max_attempts": 2})
    allowed = api.call("update_exam", "later_due", body={"max_attempts": 3})

    assert refused.status == 409
    assert refused.body["type"] == "urn:exam-depository:problem:limit-below-used"
    assert (refused.body["students"], refused.body["nicknames"]) == (1, ["busy"])
    assert refused.body["detail"].startswith(
        "1 student(s) already used more attempts than the new limit allows: busy (3)"
    )
    assert allowed.status == 200
    assert allowed.body["max_attempts"] == 3
    assert api.request_upload(busy["upload_code"]).status == 409  # and the new limit holds at once


def test_deleting_an_exam_deletes_its_students_rows_and_every_file_version(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    leaving = api.create_student("leaving")
    _hand_in(api, bucket, record, leaving)
    form = api.request_upload(leaving["upload_code"]).body
    bucket.upload(form, b"not notified yet")
    api.create_exam("staying")
    staying = api.create_student("stays", exam_id="staying")
    _hand_in(api, bucket, record, staying)

    response = api.call("delete_exam", "by_id")

    assert response.status == 204
    assert response.body == ""
    assert api.call("get_exam", "by_id").status == 404
    assert api.request_upload(leaving["upload_code"]).status == 404
    assert len(bucket.versions()) == 1  # only the other exam's file
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM student").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM upload").fetchone() == (1,)


EXAMINER_ROUTES = [
    ("get_exam", "by_id", None),
    ("update_exam", "later_due", {"title": "Mine now"}),
    ("delete_exam", "by_id", None),
    ("create_student", "valid", {"nickname": "intruder", "first_name": "A", "last_name": "B"}),
    ("import_students", "roster", ...),
    ("list_students", "first_page", None),
    ("list_students", "roster_csv", None),
    ("get_student", "by_nickname", None),
    ("delete_student", "by_nickname", None),
    ("regenerate_upload_code", "by_nickname", None),
    ("set_extension", "valid", ...),
    ("remove_extension", "by_nickname", None),
    ("import_extensions", "extensions", ...),
    ("set_accommodation", "extra_time", ...),
    ("import_accommodations", "accommodations", ...),
]


@pytest.mark.parametrize(("function", "case", "body"), EXAMINER_ROUTES, ids=lambda v: v if isinstance(v, str) else "")
def test_another_examiners_exam_does_not_exist_for_you(api: Api, function: str, case: str, body: Any) -> None:
    # Given an exam with a student, both the sample events' examiner's
    student = api.create_student("mobrien")

    # When another examiner calls the route with its ids
    response = api.call(function, case, body=body, api_key_id=OTHER_EXAMINER)

    # Then it is a 404 problem, as for an exam that does not exist, and nothing changed
    assert response.status == 404, response.body
    assert response.headers["Content-Type"] == PROBLEM
    assert response.body["detail"] == "You have no exam with this id."
    mine = api.call("get_student", "by_nickname", path_params={"nickname": "mobrien"}, api_key_id=EXAMINER)
    assert mine.status == 200
    assert mine.body["upload_code"] == student["upload_code"]
    assert mine.body["extension"] is None
    assert mine.body["extra_time_percent"] == 0
    assert api.call("get_exam", "by_id").body["title"] == "Physics, December 2026"
