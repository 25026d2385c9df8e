"""An exam's time zone over the API: a name browsers refuse is a 422 when created or changed, and
an exam stored with one before that check (or by hand) is still answered with a zone the pages
can show."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.conftest import EXAM, Api


@pytest.mark.parametrize("name", ["localtime", "posixrules", "right/UTC", "posix/Europe/Paris", "Factory"])
def test_a_zone_browsers_refuse_is_a_422_on_create_and_on_change(api: Api, name: str) -> None:
    created = api.call(
        "create_exam",
        "valid",
        body={
            "exam_id": "chem-1",
            "title": "Chemistry",
            "opens_at": "2026-12-14T09:00:00+01:00",
            "due_at": "2026-12-14T12:00:00+01:00",
            "cutoff_at": "2026-12-14T12:15:00+01:00",
            "timezone": name,
        },
    )
    changed = api.call("update_exam", "later_due", path_params={"exam_id": EXAM}, body={"timezone": name})

    for response in (created, changed):
        assert response.status == 422, response.body
        assert "IANA time zone name that browsers know" in response.body["detail"], response.body
    assert api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("posix/Europe/Paris", "Europe/Paris"), ("right/Asia/Tokyo", "Asia/Tokyo"), ("localtime", "UTC")],
)
def test_an_exam_stored_with_such_a_zone_is_answered_with_one_the_pages_can_show(
    api: Api, database_url: str, stored: str, shown: str
) -> None:
    # Given an exam whose row holds a name browsers refuse (accepted before, or written by hand)
    student = api.create_student()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE exam SET timezone = %s", (stored,))

    # When the examiner's console and the student's page read it
    exam = api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body
    listed = api.call("list_exams", "first_page").body["items"]
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body

    # Then each gets the zone it copies (or UTC), never the stored name
    assert exam["timezone"] == shown
    assert [item["timezone"] for item in listed] == [shown]
    assert progress["exam"]["timezone"] == shown
