"""The window: nothing issued before it opens or after it closes, a form never outlives the
cut-off, late decided by when S3 accepted the bytes, and extensions for one student only."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Api, Bucket, move_window

Record = Callable[..., dict[str, Any]]


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _exam(api: Api, exam_id: str, opens: float, due: float, cutoff: float, **fields: Any) -> None:
    api.create_exam(exam_id, opens_at=_in(opens), due_at=_in(due), cutoff_at=_in(cutoff), **fields)


def _past_exam(
    api: Api, database_url: str, exam_id: str, opens: float, due: float, cutoff: float, **fields: Any
) -> None:
    """An exam whose cut-off has passed (the API refuses to create one: it is moved there)."""
    _exam(api, exam_id, opens, due=3600, cutoff=3600, **fields)
    now = datetime.now(UTC)
    move_window(database_url, exam_id, due_at=now + timedelta(seconds=due), cutoff_at=now + timedelta(seconds=cutoff))


def _presign(api: Api, code: str) -> Any:
    return api.request_upload(code)


def test_no_form_before_the_exam_opens(api: Api) -> None:
    _exam(api, "later", opens=3600, due=7200, cutoff=7200)
    student = api.create_student(exam_id="later")

    refused = _presign(api, student["upload_code"])

    assert refused.status == 409
    assert refused.body["type"] == "urn:exam-depository:problem:exam-not-open"
    opens_at = datetime.fromisoformat(refused.body["opens_at"])
    assert timedelta(minutes=59) < opens_at - datetime.now(UTC) <= timedelta(hours=1)


def test_no_form_after_the_cutoff(api: Api, database_url: str) -> None:
    _past_exam(api, database_url, "over", opens=-7200, due=-3600, cutoff=-60)
    student = api.create_student(exam_id="over")

    refused = _presign(api, student["upload_code"])

    assert refused.status == 409
    assert refused.body["type"] == "urn:exam-depository:problem:exam-closed"
    assert "cutoff_at" in refused.body


def test_a_form_issued_near_the_cutoff_expires_at_the_cutoff(api: Api) -> None:
    _exam(api, "closing", opens=-3600, due=-60, cutoff=90)
    student = api.create_student(exam_id="closing")

    form = _presign(api, student["upload_code"]).body

    cutoff = datetime.fromisoformat(api.call("get_exam", "by_id", path_params={"exam_id": "closing"}).body["cutoff_at"])
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy_expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(form["expires_at"]) <= cutoff
    assert policy_expiry <= cutoff
    assert cutoff - policy_expiry < timedelta(seconds=2)  # the cut-off, not the 10 minutes of a form
    assert form["late"] is True  # past the due time: the page says so before the upload


def test_late_is_decided_by_when_s3_accepted_the_bytes_not_when_the_queue_delivered(
    api: Api, bucket: Bucket, record: Record
) -> None:
    _exam(api, "late-ok", opens=-3600, due=-1800, cutoff=1800)
    on_time, late = api.create_student("on-time", exam_id="late-ok"), api.create_student("late", exam_id="late-ok")
    due = datetime.fromisoformat(api.call("get_exam", "by_id", path_params={"exam_id": "late-ok"}).body["due_at"])
    for student, accepted_at in ((on_time, due), (late, due + timedelta(milliseconds=1))):
        form = _presign(api, student["upload_code"]).body
        bucket.upload(form, b"%PDF")
        notification = bucket.notification(form["fields"]["key"], 4)
        notification["eventTime"] = accepted_at.isoformat().replace("+00:00", "Z")
        record(notification)  # delivered now, long after the due time

    progress = {
        s["nickname"]: api.call("get_upload_status", "by_code", path_params={"upload_code": s["upload_code"]}).body[
            "current"
        ]
        for s in (on_time, late)
    }

    assert progress["on-time"]["late"] is False
    assert progress["late"]["late"] is True
    assert progress["late"]["submitted_at"] == (due + timedelta(milliseconds=1)).isoformat().replace("+00:00", "Z")
    listed = api.call("list_students", "first_page", path_params={"exam_id": "late-ok"}, query={"status": "late"})
    assert [s["nickname"] for s in listed.body["items"]] == ["late"]


def test_an_extension_moves_the_window_and_the_attempts_of_one_student_only(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _past_exam(api, database_url, "ext", opens=-3600, due=-120, cutoff=-60, max_attempts=1)
    helped, other = api.create_student("helped", exam_id="ext"), api.create_student("other", exam_id="ext")
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "ext"}).body

    given = api.call(
        "set_extension",
        "valid",
        path_params={"exam_id": "ext", "nickname": "helped"},
        body={"due_at": _in(600), "extra_attempts": 1},
    )

    assert given.status == 200, given.body
    grace = datetime.fromisoformat(exam["cutoff_at"]) - datetime.fromisoformat(exam["due_at"])
    assert datetime.fromisoformat(given.body["cutoff_at"]) - datetime.fromisoformat(given.body["due_at"]) == grace
    assert given.body["max_attempts"] == 2
    assert _presign(api, other["upload_code"]).status == 409  # closed for everyone else
    form = _presign(api, helped["upload_code"]).body
    assert form["late"] is False
    assert form["attempts_left"] == 2
    bucket.upload(form, b"%PDF")
    record(bucket.notification(form["fields"]["key"], 4))
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": helped["upload_code"]}).body
    assert progress["current"]["late"] is False
    assert progress["exam"]["due_at"] == given.body["due_at"]

    # When the extension is removed, the exam's window holds for the student again
    removed = api.call("remove_extension", "by_nickname", path_params={"exam_id": "ext", "nickname": "helped"})
    assert removed.status == 204
    assert _presign(api, helped["upload_code"]).status == 409


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"due_at": -400}, "Due_at must not be before the exam's"),
        ({"due_at": 20, "cutoff_at": 19}, "before due_at"),
        ({"due_at": 20, "extra_attempts": 51}, "extra_attempts"),
        ({"due_at": 20, "cutoff_at": 200}, "at most 120 days after the exam opens"),
        ({"due_at": 100_000}, "at most 120 days after the exam opens"),  # its cut-off: due plus the exam's grace
    ],
)
def test_an_extension_only_moves_times_later_and_never_past_the_longest_window(
    api: Api, extension: dict[str, Any], message: str
) -> None:
    api.create_student()
    in_days = {name: _in(days * 86400) if name.endswith("_at") else days for name, days in extension.items()}

    response = api.call("set_extension", "valid", body=in_days)

    assert response.status == 422
    assert message in response.body["detail"]


def test_extensions_by_csv_are_all_or_nothing_with_every_bad_row_named(api: Api) -> None:
    for nickname in ("ann", "bob"):
        api.create_student(nickname)

    later = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    refused = _extensions(
        api,
        f"nickname,due_at,extra_attempts\nann,{later}T10:00:00+01:00,1\nnobody,{later}T10:00:00Z,0\n"
        f"bob,not a time,0\nann,{later}T10:00:00Z,0\nbob,2000-01-01T00:00:00Z,0\n",
    )
    # Every bad row at once, in the file's order: unknown, not a time, twice, earlier than the exam's
    assert refused.status == 422
    assert [(e["line"], e["field"]) for e in refused.body["errors"]] == [
        (3, "nickname"),
        (4, "due_at"),
        (5, "nickname"),
        (6, "due_at"),
    ]
    assert refused.body["detail"] == "4 row(s) are invalid; nothing was changed."
    assert api.call("get_student", "by_nickname", path_params={"nickname": "ann"}).body["extension"] is None

    accepted = _extensions(api, f"\ufeffnickname,due_at,cutoff_at\nann,{later}T10:00:00+01:00,{later}T11:00:00Z\n")
    assert accepted.status == 200, accepted.body
    (ann,) = accepted.body["extended"]
    assert ann["extension"] == {
        "due_at": f"{later}T09:00:00Z",
        "cutoff_at": f"{later}T11:00:00Z",
        "extra_attempts": 0,
    }


def _extensions(api: Api, text: str, exam_id: str | None = None) -> Any:
    return api.call(
        "import_extensions",
        "extensions",
        path_params={"exam_id": exam_id} if exam_id else {},
        raw_body=base64.b64encode(text.encode()).decode(),
        headers={"Content-Type": "text/csv"},
    )


def test_closing_an_exam_ends_every_window_now_and_forms_issued_before_stop_counting(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given a student holding a form, and one with an extension holding one too
    ann, bob = api.create_student("ann"), api.create_student("bob")
    assert (
        api.call("set_extension", "valid", path_params={"nickname": "bob"}, body={"due_at": _in(86400)}).status == 200
    )
    before = {student["nickname"]: _presign(api, student["upload_code"]).body for student in (ann, bob)}
    s3_accepted_before = datetime.now(UTC)
    bucket.upload(before["ann"], b"%PDF in time")  # S3 accepted it before the close

    # When the examiner closes the exam (after a leak)
    closed = api.call("close_exam", "now")

    # Then its cut-off is now, no form is issued, and what S3 accepts later is rejected with the reason
    assert closed.status == 200, closed.body
    cutoff = datetime.fromisoformat(closed.body["cutoff_at"])
    assert abs(cutoff - datetime.now(UTC)) < timedelta(minutes=1)
    assert closed.body["due_at"] <= closed.body["cutoff_at"]
    for student in (ann, bob):
        refused = _presign(api, student["upload_code"])
        assert refused.body["type"] == "urn:exam-depository:problem:exam-closed"
    bucket.upload(before["bob"], b"%PDF after the close")
    after = cutoff + timedelta(seconds=1)
    record(
        bucket.notification(before["ann"]["fields"]["key"], 12, event_time=s3_accepted_before),
        bucket.notification(before["bob"]["fields"]["key"], 20, event_time=after),
    )
    in_time = api.call("get_upload_status", "by_code", path_params={"upload_code": ann["upload_code"]}).body
    too_late = api.call("get_upload_status", "by_code", path_params={"upload_code": bob["upload_code"]}).body
    assert in_time["current"] is not None  # whatever S3 accepted inside the window is recorded
    assert too_late["current"] is None
    assert too_late["uploads"] == [
        {
            "upload_id": before["bob"]["upload_id"],
            "status": "rejected",
            "rejection_reason": "after_cutoff",
            "found_type": None,
            "message": "This file arrived after your time to hand in ended. It was not handed in.",
        }
    ]
    assert bucket.keys() == [before["ann"]["fields"]["key"]]  # the rejected file is deleted
    assert api.call("close_exam", "now").status == 200  # closing again changes nothing
    assert api.call("close_exam", "now", path_params={"exam_id": "nobody-s"}).status == 404


def _a_form_under_an_extension(
    api: Api, database_url: str, exam_id: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """A student whose exam's cut-off has passed, with an extension of an hour, holding a form
    issued under it: the student, the extension's path, the form."""
    _past_exam(api, database_url, exam_id, opens=-7200, due=-3600, cutoff=-60)
    helped = api.create_student("helped", exam_id=exam_id)
    path = {"exam_id": exam_id, "nickname": "helped"}
    assert api.call("set_extension", "valid", path_params=path, body={"due_at": _in(3600)}).status == 200
    return helped, path, _presign(api, helped["upload_code"]).body


def test_removing_an_extension_takes_effect_at_once_for_forms_issued_under_it(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    helped, path, form = _a_form_under_an_extension(api, database_url, "over")

    assert api.call("remove_extension", "by_nickname", path_params=path).status == 204
    bucket.upload(form, b"%PDF")
    record(bucket.notification(form["fields"]["key"], 4))

    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": helped["upload_code"]}).body
    assert progress["current"] is None
    assert progress["uploads"][0]["rejection_reason"] == "after_cutoff"


def test_no_change_lowers_a_limit_below_what_a_student_used_and_no_raise_is_refused(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given one attempt, an extension of two more, and three uploads
    api.create_exam("once", max_attempts=1)
    student = api.create_student("ann", exam_id="once")
    path = {"exam_id": "once", "nickname": "ann"}
    given = api.call("set_extension", "valid", path_params=path, body={"due_at": _in(7200), "extra_attempts": 2})
    assert given.status == 200, given.body
    for _ in range(3):
        form = _presign(api, student["upload_code"]).body
        bucket.upload(form, b"%PDF")
        record(bucket.notification(form["fields"]["key"], 4))

    # When the extra attempts are taken back, by PUT, DELETE or CSV, it is refused and nothing changes
    lowered = api.call("set_extension", "valid", path_params=path, body={"due_at": _in(7200), "extra_attempts": 0})
    removed = api.call("remove_extension", "by_nickname", path_params=path)
    by_csv = _extensions(api, f"nickname,due_at,extra_attempts\nann,{_in(7200)},1\n", exam_id="once")
    assert (lowered.status, removed.status) == (409, 409)
    assert lowered.body["type"] == removed.body["type"] == "urn:exam-depository:problem:limit-below-used"
    assert by_csv.status == 422
    assert [(e["line"], e["field"]) for e in by_csv.body["errors"]] == [(2, "extra_attempts")]
    summary = api.call("get_student", "by_nickname", path_params=path).body
    assert (summary["attempts_used"], summary["max_attempts"]) == (3, 3)
    assert (
        api.call("set_extension", "valid", path_params=path, body={"due_at": _in(7200), "extra_attempts": 4}).status
        == 200
    )

    # And a raise is never refused, even where a limit was already below what was used
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE student SET extra_attempts = 0")  # as a release before this one could leave it
    raised = api.call("update_exam", "later_due", path_params={"exam_id": "once"}, body={"max_attempts": 2})
    assert raised.status == 200, raised.body


def test_a_file_s3_accepted_under_an_extension_before_its_removal_is_recorded_when_its_notice_comes_later(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a student with an extension past the exam's cut-off, whose upload S3 accepted under it
    helped, path, form = _a_form_under_an_extension(api, database_url, "queued")
    bucket.upload(form, b"%PDF in the extension")
    accepted = datetime.now(UTC)

    # When the extension is removed while the notification is still queued, then delivered
    assert api.call("remove_extension", "by_nickname", path_params=path).status == 204
    record(bucket.notification(form["fields"]["key"], 21, event_time=accepted))

    # Then the file is recorded: S3 accepted it inside the extension in force at the time
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": helped["upload_code"]}).body
    assert progress["current"] is not None, progress["uploads"]
    assert progress["current"]["upload_id"] == form["upload_id"]


def test_an_extension_stays_within_reach_when_the_exam_opening_moves_earlier(api: Api) -> None:
    # Given an exam opening in 100 days, and an extension to its last allowed day
    now = datetime.now(UTC).replace(microsecond=0)
    opens, cutoff = now + timedelta(days=100), now + timedelta(days=101)
    api.create_exam("later", opens_at=opens.isoformat(), due_at=cutoff.isoformat(), cutoff_at=cutoff.isoformat())
    api.create_student("ann", exam_id="later")
    extended = opens + timedelta(days=120)
    path = {"exam_id": "later", "nickname": "ann"}
    given = api.call("set_extension", "valid", path_params=path, body={"due_at": extended.isoformat()})
    assert given.status == 200, given.body

    # When the exam is moved to open tomorrow (its own window short), the extension would reach
    # more than MaxWindowDays past the new opening: refused
    earlier = {
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "due_at": (now + timedelta(days=2)).isoformat(),
        "cutoff_at": (now + timedelta(days=2)).isoformat(),
    }
    moved = api.call("update_exam", "later_due", path_params={"exam_id": "later"}, body=earlier)

    assert moved.status == 422, moved.body
    assert "extensions count too" in moved.body["detail"]
    assert api.call("get_exam", "by_id", path_params={"exam_id": "later"}).body[
        "opens_at"
    ] == opens.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("field", ["title", "opens_at", "max_attempts", "anonymous", "timezone"])
def test_a_patch_with_a_null_is_a_422_not_a_server_error(api: Api, field: str) -> None:
    response = api.call("update_exam", "later_due", body={field: None})

    assert response.status == 422, response.body
    assert f"{field} must not be null" in response.body["detail"]


def test_anonymity_cannot_change_once_a_file_was_handed_in(api: Api, bucket: Bucket, record: Record) -> None:
    student = api.create_student("ann")
    assert api.call("update_exam", "later_due", body={"anonymous": True}).status == 200  # nothing handed in yet
    assert api.call("update_exam", "later_due", body={"anonymous": False}).status == 200
    form = _presign(api, student["upload_code"]).body
    bucket.upload(form, b"%PDF")
    record(bucket.notification(form["fields"]["key"], 4))

    changed = api.call("update_exam", "later_due", body={"anonymous": True})

    assert changed.status == 409, changed.body
    assert "receipts name students" in changed.body["detail"]
    assert api.call("update_exam", "later_due", body={"anonymous": False, "title": "Same"}).status == 200
