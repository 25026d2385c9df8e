"""An instant is written one way in every answer, problems included: RFC 3339 in UTC with `Z`, as
the models write them (`2026-12-14T08:00:00Z`), never `+00:00` or Python's `str()` of a datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import EXAM, Api


def _exam(api: Api, exam_id: str, *, opens_in: timedelta, due_in: timedelta) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return api.create_exam(
        exam_id,
        opens_at=(now + opens_in).isoformat(),
        due_at=(now + due_in).isoformat(),
        cutoff_at=(now + due_in).isoformat(),
    )


def test_a_form_refused_before_the_exam_opens_gives_the_opening_as_the_exam_does(api: Api) -> None:
    exam = _exam(api, "later", opens_in=timedelta(hours=1), due_in=timedelta(hours=2))
    student = api.create_student(exam_id="later")

    refused = api.request_upload(student["upload_code"])

    assert refused.body["type"].endswith("exam-not-open")
    assert refused.body["opens_at"] == exam["opens_at"]
    assert exam["opens_at"].endswith("Z")
    assert refused.body["detail"] == f"The exam opens at {exam['opens_at']}."


def test_a_form_refused_after_the_cutoff_gives_the_cutoff_as_the_exam_does(api: Api) -> None:
    _exam(api, "over", opens_in=-timedelta(hours=2), due_in=timedelta(minutes=1))
    student = api.create_student(exam_id="over")
    exam = api.call("close_exam", "now", path_params={"exam_id": "over"}).body  # its cut-off: now, to the microsecond

    refused = api.request_upload(student["upload_code"])

    assert refused.body["type"].endswith("exam-closed")
    assert refused.body["cutoff_at"] == exam["cutoff_at"]
    assert refused.body["detail"] == f"The exam closed at {exam['cutoff_at']}."


def test_a_window_changed_out_of_order_gives_the_window_as_the_exam_does(api: Api) -> None:
    exam = api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body
    later = "2999-01-01T00:00:00Z"

    refused = api.call("update_exam", "later_due", path_params={"exam_id": EXAM}, body={"due_at": later})

    assert refused.status == 422, refused.body
    assert (refused.body["opens_at"], refused.body["due_at"], refused.body["cutoff_at"]) == (
        exam["opens_at"],
        later,
        exam["cutoff_at"],
    )


def test_an_extension_refused_names_the_exams_due_time_as_the_exam_does(api: Api) -> None:
    exam = api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body
    api.create_student("extended")
    earlier = "2000-01-01T00:00:00Z"

    refused = api.call("set_extension", "valid", path_params={"nickname": "extended"}, body={"due_at": earlier})

    assert refused.status == 422, refused.body
    assert f"({exam['due_at']})" in refused.body["detail"], refused.body["detail"]
