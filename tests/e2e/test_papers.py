"""The question paper on the local stack: real multipart POSTs to MiniStack, which enforces the
form's policy as S3 does (size, expiry), its second notification (papers/) reaching the recorder,
and a started student's link served by MiniStack. What MiniStack cannot prove: it ignores the
form's checksum fields (the recorder's own hash rejects other bytes, tests/integration)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from tests.e2e.conftest import Stack
from tests.waiting import wait_until

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
MAX_PAPER_BYTES = 20 * 1024 * 1024


def _paper_form(stack: Stack, exam_id: str, **body: str) -> dict[str, Any]:
    response = stack.paper_form(exam_id, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _paper_upload(stack: Stack, exam_id: str, paper_id: str) -> dict[str, Any] | None:
    """What became of one of the exam's paper forms, as the examiner's console reads it."""
    response = stack.exam(exam_id)
    assert response.status_code == 200, response.text
    return next((u for u in response.json()["paper_uploads"] if u["paper_id"] == paper_id), None)


def _checked(stack: Stack, exam_id: str, paper_id: str) -> dict[str, Any]:
    """Wait until the recorder decided about the paper; its state then."""
    found: dict[str, Any] = {}

    def decided() -> bool:
        upload = _paper_upload(stack, exam_id, paper_id)
        found.update(upload or {})
        return upload is not None and upload["status"] != "pending"

    wait_until(decided, timeout_s=60, what="the paper recorded or rejected")
    return found


def test_a_paper_posted_to_s3_is_recorded_through_its_notification_and_a_started_student_downloads_it(
    stack: Stack,
) -> None:
    # Given a timed exam that opens in an hour, and its paper posted to S3 with the examiner's form
    stack.create_exam("p-flow", opens_in_s=3600, due_in_s=7200, cutoff_in_s=9000, duration_minutes=60)
    student = stack.create_student("p-flow", "reader")
    form = _paper_form(stack, "p-flow", filename="Physics paper.pdf", sha256=hashlib.sha256(PDF).hexdigest())
    posted = stack.post_form(form, PDF, filename="Physics paper.pdf")
    assert posted.status_code in (200, 201, 204), posted.text

    # Then the bucket's second notification brings it to the recorder, which makes it the exam's paper
    assert _checked(stack, "p-flow", form["paper_id"])["status"] == "current"
    exam = stack.exam("p-flow").json()
    assert (exam["paper"]["filename"], exam["paper"]["size_bytes"]) == ("Physics paper.pdf", len(PDF))
    assert exam["paper"]["sha256"] == hashlib.sha256(PDF).hexdigest()

    # When the exam has opened (moved in the database: the API refuses a window already begun) and the
    # student starts
    with psycopg.connect(stack.info["database_url"]) as conn:
        conn.execute("UPDATE exam SET opens_at = now() - interval '1 minute' WHERE slug = 'p-flow'")
    refused = stack.paper_link(student["upload_code"])
    assert (refused.status_code, refused.json()["type"]) == (409, "urn:exam-depository:problem:not-started")
    started = stack.start(student["upload_code"])
    assert started.status_code == 200, started.text

    # Then the link gives the paper's bytes from S3, as an attachment of its own name
    link = stack.paper_link(student["upload_code"])
    assert link.status_code == 200, link.text
    assert datetime.fromisoformat(link.json()["expires_at"]) <= datetime.fromisoformat(started.json()["cutoff_at"])
    downloaded = requests.get(link.json()["url"], timeout=60)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PDF
    assert downloaded.headers["Content-Type"] == "application/pdf"
    assert downloaded.headers["Content-Disposition"].startswith("attachment;")


def test_s3_refuses_a_paper_a_byte_over_20_mib(stack: Stack) -> None:
    stack.create_exam("p-large", opens_in_s=3600, due_in_s=7200, duration_minutes=60)
    form = _paper_form(stack, "p-large")

    posted = stack.post_form(form, b"%PDF-" + b"\0" * (MAX_PAPER_BYTES - 4))

    assert posted.status_code == 400, posted.text
    assert "EntityTooLarge" in posted.text
    assert _paper_upload(stack, "p-large", form["paper_id"]) == {
        "paper_id": form["paper_id"],
        "status": "pending",
        "rejection_reason": None,
    }
    assert not [key for key in stack.object_keys() if key == form["fields"]["key"]]


def test_a_paper_form_issued_seconds_before_the_opening_is_refused_by_s3_after_it(stack: Stack) -> None:
    # Given a form issued 4 seconds before the exam opens (its policy expires at the opening)
    exam = stack.create_exam("p-edge", opens_in_s=4, due_in_s=3600, duration_minutes=60)
    form = _paper_form(stack, "p-edge")
    opens_at = datetime.fromisoformat(exam["opens_at"])
    expires_at = datetime.fromisoformat(form["expires_at"])
    assert expires_at <= opens_at

    # When the paper is posted after it
    wait_until(lambda: datetime.now(UTC) > expires_at + timedelta(seconds=1), timeout_s=30, what="the form expired")
    posted = stack.post_form(form, PDF)

    # Then S3 itself refuses it: no student who started can get another paper than theirs
    assert posted.status_code == 403, posted.text
    assert "expired" in posted.text.lower()
    assert not [key for key in stack.object_keys() if key == form["fields"]["key"]]
    # and no form is issued any more
    locked = stack.paper_form("p-edge")
    assert (locked.status_code, locked.json()["type"]) == (409, "urn:exam-depository:problem:paper-locked")
