"""Exams over real HTTP through the local stack: two examiners with two keys cannot reach each
other's exams, and the window holds with real S3 forms, S3 itself refusing a late POST."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests

from local_stack.client import ApiClient
from local_stack.keys import mint
from tests.conftest import ROOT
from tests.e2e.conftest import Stack
from tests.waiting import wait_until

ARTIFACTS = ROOT / "test-artifacts"


def test_two_examiners_cannot_read_list_change_or_delete_each_others_exams(stack: Stack) -> None:
    # Given examiner A's exam with a student, and examiner B with a key of their own
    a = stack
    b = ApiClient(stack.api, mint(stack.local_dir / "secrets.json")["value"])
    a.create_exam("iso-a", title="A's exam")
    student = a.create_student("iso-a", "ann")
    b.create_exam("iso-b", title="B's exam")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    attempts: dict[str, Callable[[], requests.Response]] = {
        "GET /exams/{exam_id}": lambda: b.exam("iso-a"),
        "PATCH /exams/{exam_id}": lambda: b.patch_exam("iso-a", {"title": "B's now"}),
        "POST /exams/{exam_id}/students": lambda: b.post_student("iso-a", "intruder"),
        "POST /exams/{exam_id}/students/import": lambda: b.import_roster(
            "iso-a", "nickname,first_name,last_name\nx,A,B\n"
        ),
        "GET /exams/{exam_id}/students": lambda: b.students("iso-a"),
        "GET /exams/{exam_id}/students (text/csv)": lambda: b.roster_csv("iso-a"),
        "GET /exams/{exam_id}/students/{nickname}": lambda: b.student("iso-a", "ann"),
        "PUT /exams/{exam_id}/students/{nickname}/extension": lambda: b.put_extension(
            "iso-a", "ann", {"due_at": later}
        ),
        "DELETE /exams/{exam_id}/students/{nickname}/extension": lambda: b.delete_extension("iso-a", "ann"),
        "POST /exams/{exam_id}/extensions/import": lambda: b.import_extensions(
            "iso-a", f"nickname,due_at\nann,{later}\n"
        ),
        "PUT /exams/{exam_id}/students/{nickname}/accommodation": lambda: b.put_accommodation(
            "iso-a", "ann", {"extra_time_percent": 25}
        ),
        "POST /exams/{exam_id}/accommodations/import": lambda: b.import_accommodations(
            "iso-a", "nickname,extra_time_percent\nann,25\n"
        ),
        "POST /exams/{exam_id}/paper": lambda: b.paper_form("iso-a"),
        "DELETE /exams/{exam_id}/students/{nickname}": lambda: b.delete_student("iso-a", "ann"),
        "DELETE /exams/{exam_id}": lambda: b.delete_exam("iso-a"),
    }

    # When B tries every examiner route with A's ids
    matrix = {route: attempt() for route, attempt in attempts.items()}

    # Then every one is a 404 problem, as for an exam that does not exist, and A's data is untouched
    lines = ["| examiner route, B with A's ids | status | problem type |", "| --- | --- | --- |"]
    for route, response in matrix.items():
        lines.append(f"| `{route}` | {response.status_code} | `{response.json().get('type', '')}` |")
        assert response.status_code == 404, (route, response.text)
        assert response.headers["Content-Type"] == "application/problem+json", route
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "isolation-matrix.md").write_text("\n".join(lines) + "\n")
    assert [e["exam_id"] for e in b.exams().json()["items"]] == ["iso-b"]
    assert "iso-b" not in [e["exam_id"] for e in a.exams().json()["items"]]
    assert a.exam("iso-a").json()["title"] == "A's exam"
    mine = a.student("iso-a", "ann").json()
    assert (mine["upload_code"], mine["extension"], mine["extra_time_percent"]) == (student["upload_code"], None, 0)
    assert a.exam("iso-a").json()["paper_uploads"] == []
    assert [s["nickname"] for s in a.students("iso-a").json()["items"]] == ["ann"]


def test_the_window_holds_with_real_s3_forms(stack: Stack) -> None:
    # Before the exam opens: no form
    stack.create_exam("w-later", opens_in_s=3600, due_in_s=7200)
    early = stack.presign(stack.create_student("w-later", "early")["upload_code"])
    assert (early.status_code, early.json()["type"]) == (409, "urn:exam-depository:problem:exam-not-open")

    # Inside the window: recorded, on time
    stack.create_exam("w-open", due_in_s=3600)
    on_time = stack.hand_in(stack.create_student("w-open", "on-time")["upload_code"], b"%PDF on time")
    assert on_time["current"]["late"] is False

    # Between due and cut-off: recorded, late
    stack.create_exam("w-late", opens_in_s=-3600, due_in_s=-60, cutoff_in_s=3600)
    late = stack.hand_in(stack.create_student("w-late", "late")["upload_code"], b"%PDF late")
    assert late["current"]["late"] is True

    # After the cut-off (the examiner closed the exam): refused by the API
    stack.create_exam("w-closed", opens_in_s=-3600, due_in_s=3600)
    closed_student = stack.create_student("w-closed", "closed")
    assert stack.close_exam("w-closed").status_code == 200
    closed = stack.presign(closed_student["upload_code"])
    assert (closed.status_code, closed.json()["type"]) == (409, "urn:exam-depository:problem:exam-closed")

    # An extension moves the window for one student only
    later = datetime.now(UTC) + timedelta(hours=1)
    stack.create_student("w-closed", "other")
    extended = stack.put_extension("w-closed", "closed", {"due_at": later.isoformat(), "extra_attempts": 0})
    assert extended.status_code == 200, extended.text
    helped = stack.hand_in(closed_student["upload_code"], b"%PDF with an extension")
    assert helped["current"]["late"] is False
    other = stack.presign(stack.student("w-closed", "other").json()["upload_code"])
    assert other.status_code == 409


def test_a_form_issued_before_the_exam_was_closed_is_accepted_by_s3_and_rejected_by_the_recorder(
    stack: Stack,
) -> None:
    # Given a form issued while the exam was open (S3 takes it until its own expiry)
    stack.create_exam("w-leak", opens_in_s=-3600, due_in_s=3600)
    student = stack.create_student("w-leak", "leaky")
    form = stack.form(student["upload_code"])

    # When the examiner closes the exam, and the form is posted afterwards
    assert stack.close_exam("w-leak").status_code == 200
    posted = stack.post_form(form, b"%PDF after the close")

    # Then S3 accepts the bytes, and the recorder rejects them, says why, and deletes them
    assert posted.status_code in (200, 201, 204), posted.text
    progress = stack.wait_until_settled(student["upload_code"], form["upload_id"])
    assert progress["current"] is None
    assert progress["uploads"][0]["rejection_reason"] == "after_cutoff"
    assert progress["attempts_used"] == 0
    # The recorder deletes it right after it commits the rejection.
    wait_until(
        lambda: not [key for key in stack.object_keys() if form["upload_id"] in key],
        timeout_s=30,
        what="the rejected file deleted",
    )


def test_a_form_issued_seconds_before_the_cutoff_is_refused_by_s3_after_it(stack: Stack) -> None:
    # Given a form issued 4 seconds before the cut-off (its policy expires at the cut-off)
    stack.create_exam("w-edge", opens_in_s=-3600, due_in_s=-60, cutoff_in_s=4)
    student = stack.create_student("w-edge", "edge")
    form = stack.form(student["upload_code"])
    cutoff = datetime.fromisoformat(stack.exam("w-edge").json()["cutoff_at"])
    assert datetime.fromisoformat(form["expires_at"]) <= cutoff

    # When the file is posted after the cut-off
    time.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds()) + 1.5)
    posted = stack.post_form(form, b"%PDF too late")

    # Then S3 itself refuses it, and nothing is recorded
    assert posted.status_code == 403, posted.text
    assert "expired" in posted.text.lower()
    assert stack.progress(student["upload_code"])["attempts_used"] == 0
    assert not [key for key in stack.object_keys() if form["upload_id"] in key]
