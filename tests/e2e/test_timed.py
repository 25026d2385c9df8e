"""One timed student over real HTTP through the local stack: the question paper posted to S3 and
recorded; accommodations by CSV; no paper and no form before the start; the start, the paper, an
upload on time; then (the clock moved back in the database) a late one, measured against the
student's own due time; a form posted after the student's own cut-off refused by S3 itself; and
the roster and the export's manifest showing the student's own window. The steps go to
test-artifacts/timed-trace.md."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import Stack
from tests.waiting import wait_until

ARTIFACTS = ROOT / "test-artifacts"
EXAM_ID = "timed-e2e"
PROBLEM = "urn:exam-depository:problem:"
PAPER = b"%PDF-1.7\n% the questions of the timed exam\n" + b"x" * 2048


@dataclass
class Trace:
    """The steps as the closing note shows them: what was asked, what came back."""

    api: str
    secrets: list[str] = field(default_factory=list)
    lines: list[str] = field(
        default_factory=lambda: ["| step | request | answer |", "| --- | --- | --- |"],
    )

    def add(self, step: str, response: requests.Response, *shown: str) -> requests.Response:
        request = response.request
        target = str(request.url).removeprefix(self.api) if request.url else ""
        for secret in self.secrets:  # upload codes are the student's key: never in an artifact
            target = target.replace(secret, "{upload_code}")
        answer = str(response.status_code)
        body = response.json() if "json" in response.headers.get("Content-Type", "") else {}
        if isinstance(body, dict) and "type" in body:
            answer += f" `{body['type'].removeprefix(PROBLEM)}`"
        details = [f"{name}={json.dumps(_shown(body, name), ensure_ascii=False)}" for name in shown]
        if details:
            answer += " " + ", ".join(details)
        self.lines.append(f"| {step} | `{request.method} {target.split('?')[0]}` | {answer} |")
        return response

    def note(self, step: str, what: str) -> None:
        self.lines.append(f"| {step} | {what} | |")


def _shown(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if isinstance(body, list) else body.get(part)
    return body


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _claims(receipt: str) -> dict[str, Any]:
    payload = receipt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _move_clock(stack: Stack, *, started_at: datetime) -> None:
    """The student's start (and the exam's opening, a minute before it) moved back in the
    database: an hour of the test's clock without waiting for it."""
    with psycopg.connect(stack.info["database_url"]) as conn:
        conn.execute("UPDATE exam SET opens_at = %s WHERE slug = %s", (started_at - timedelta(minutes=1), EXAM_ID))
        conn.execute(
            """UPDATE student SET started_at = %s
               WHERE nickname = 'tim' AND exam_id = (SELECT id FROM exam WHERE slug = %s)""",
            (started_at, EXAM_ID),
        )


def test_one_timed_student_from_the_paper_to_a_form_s3_refuses_after_their_own_cutoff(stack: Stack) -> None:
    trace = Trace(stack.api.rstrip("/"))

    # Given a timed exam of 60 minutes (due in 2 h, cut-off in 3 h: 1 h of late period), not yet
    # open, with two students, and its question paper posted to S3 and recorded
    exam = stack.create_exam(EXAM_ID, opens_in_s=3600, due_in_s=2 * 3600, cutoff_in_s=3 * 3600, duration_minutes=60)
    tim, _ = stack.create_student(EXAM_ID, "tim"), stack.create_student(EXAM_ID, "other")
    code = tim["upload_code"]
    trace.secrets.append(code)
    trace.note("exam", f"duration_minutes={exam['duration_minutes']}, due in 2 h, cut-off in 3 h")
    paper_form = trace.add(
        "the paper's form", stack.paper_form(EXAM_ID, "paper.pdf", hashlib.sha256(PAPER).hexdigest()), "expires_at"
    )
    assert paper_form.status_code == 201, paper_form.text
    posted = stack.post_form(paper_form.json(), PAPER, filename="paper.pdf")
    assert posted.status_code in (200, 201, 204), posted.text
    trace.note("the paper, to S3", f"POST to the bucket: {posted.status_code}")
    wait_until(
        lambda: stack.exam(EXAM_ID).json()["paper_uploads"][0]["status"] != "pending",
        timeout_s=60,
        what="the paper recorded",
    )
    recorded = trace.add("the exam", stack.exam(EXAM_ID), "paper.filename", "paper_uploads.0.status").json()
    assert recorded["paper_uploads"][0]["status"] == "current", recorded["paper_uploads"]
    assert recorded["paper"]["sha256"] == hashlib.sha256(PAPER).hexdigest()

    # And the exam opens now (its opening moved by the examiner)
    opened = trace.add("open it now", stack.patch_exam(EXAM_ID, {"opens_at": datetime.now(UTC).isoformat()}), "state")
    assert opened.status_code == 200, opened.text

    # When the examiner imports accommodations with bad rows 3 and 5, then a good file
    refused = trace.add(
        "accommodations, bad rows",
        stack.import_accommodations(EXAM_ID, "nickname,extra_time_percent\ntim,25\nnobody,10\nother,5\nother,301\n"),
        "detail",
    )
    assert refused.status_code == 422, refused.text
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [
        (3, "nickname"),
        (5, "extra_time_percent"),
    ]
    trace.note("", "; ".join(f"line {e['line']}, {e['field']}: {e['message']}" for e in refused.json()["errors"]))
    accommodated = trace.add(
        "accommodations",
        stack.import_accommodations(EXAM_ID, "nickname,extra_time_percent\ntim,25\n"),
        "accommodated.0.extra_time_percent",
        "accommodated.0.time_allowed_seconds",
    )
    assert accommodated.status_code == 200, accommodated.text
    assert accommodated.json()["accommodated"][0]["time_allowed_seconds"] == 75 * 60

    # Then before the start there is no paper and no form
    for step, response in (
        ("the paper before the start", stack.paper_link(code)),
        ("a form before the start", stack.presign(code)),
    ):
        trace.add(step, response)
        assert (response.status_code, response.json()["type"]) == (409, PROBLEM + "not-started"), response.text

    # When the student starts (twice: the same start)
    started = trace.add("start", stack.start(code), "started_at", "due_at", "cutoff_at", "time_allowed_seconds")
    again = trace.add("start again", stack.start(code), "started_at")
    assert started.status_code == again.status_code == 200, started.text
    assert again.json()["started_at"] == started.json()["started_at"]
    start = _at(started.json()["started_at"])
    assert _at(started.json()["due_at"]) == start + timedelta(minutes=75)

    # Then the paper comes, the bytes posted, and a form is on time
    link = trace.add("the paper", stack.paper_link(code), "expires_at", "size_bytes")
    assert link.status_code == 200, link.text
    assert _at(link.json()["expires_at"]) <= _at(started.json()["cutoff_at"])
    download = requests.get(link.json()["url"], timeout=30)
    assert download.content == PAPER
    on_time = trace.add("a form", stack.presign(code), "late", "due_at")
    assert on_time.json()["late"] is False
    handed_in = stack.hand_in(code, b"%PDF the answers, on time")
    trace.note("hand in", f"recorded: late={handed_in['current']['late']}")
    assert handed_in["current"]["late"] is False

    # When their own due time (75 minutes after the start) passed 5 minutes ago, the exam's 2 h away
    _move_clock(stack, started_at=datetime.now(UTC) - timedelta(minutes=80))
    trace.note("the clock", "started_at moved to 80 minutes ago in PostgreSQL")
    progress = stack.progress(code)
    own_due, own_cutoff = _at(progress["exam"]["due_at"]), _at(progress["exam"]["cutoff_at"])
    assert own_due < datetime.now(UTC) < own_cutoff < _at(exam["cutoff_at"])
    assert _at(exam["due_at"]) - datetime.now(UTC) > timedelta(hours=1)

    # Then a form is late, lives no longer than their own cut-off, and the file is recorded late
    late_form = trace.add("a form", stack.presign(code), "late", "due_at", "expires_at")
    assert late_form.json()["late"] is True
    assert _at(late_form.json()["expires_at"]) <= own_cutoff
    late = stack.hand_in(code, b"%PDF the answers, late")["current"]
    trace.note("hand in", f"recorded: late={late['late']}, due_at={late['due_at']}")
    assert (late["late"], _at(late["due_at"])) == (True, own_due)
    claims = _claims(late["receipt"])
    assert (_at(claims["started_at"]), _at(claims["due_at"])) == (own_due - timedelta(minutes=75), own_due)
    trace.note("the receipt", f"claims started_at={claims['started_at']}, due_at={claims['due_at']}")

    # When their own cut-off is seconds away (their due time plus the exam's hour of late period)
    _move_clock(stack, started_at=datetime.now(UTC) + timedelta(seconds=10) - timedelta(minutes=75 + 60))
    trace.note("the clock", "started_at moved so that the student's own cut-off is 10 s away")
    last_form = trace.add("a form", stack.presign(code), "late", "expires_at")
    assert last_form.status_code == 201, last_form.text
    expires = _at(last_form.json()["expires_at"])
    assert expires <= _at(stack.progress(code)["exam"]["cutoff_at"])

    # Then a form posted after it is refused by S3 itself, and the paper is no longer given
    wait_until(lambda: datetime.now(UTC) > expires + timedelta(seconds=1), timeout_s=30, what="the cut-off passed")
    refused_by_s3 = stack.post_form(last_form.json(), b"%PDF too late")
    trace.note("post after the cut-off", f"S3 answers {refused_by_s3.status_code} (policy expired)")
    assert refused_by_s3.status_code == 403, refused_by_s3.text
    assert "expired" in refused_by_s3.text.lower()
    closed = trace.add("the paper after the cut-off", stack.paper_link(code), "cutoff_at")
    assert (closed.status_code, closed.json()["type"]) == (409, PROBLEM + "exam-closed")

    # And the roster and the export's manifest show the student's own window and extra time
    own = stack.student(EXAM_ID, "tim").json()
    roster = {
        row["nickname"]: row
        for row in csv.DictReader(io.StringIO(stack.roster_csv(EXAM_ID).text.removeprefix("\ufeff")))
    }
    assert (roster["tim"]["started_at"], roster["tim"]["due_at"], roster["tim"]["cutoff_at"]) == (
        own["started_at"],
        own["due_at"],
        own["cutoff_at"],
    )
    assert roster["tim"]["extra_time_percent"] == "25"
    assert (roster["other"]["started_at"], roster["other"]["due_at"]) == ("", exam["due_at"])
    export = stack.start_export(EXAM_ID)
    assert export.status_code == 202, export.text
    done = stack.wait_for_export(EXAM_ID, export.json()["export_id"])
    archive = zipfile.ZipFile(io.BytesIO(requests.get(done["url"], timeout=30).content))
    (row,) = csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))
    trace.note(
        "manifest.csv",
        ", ".join(
            f"{name}={row[name]}" for name in ("late", "started_at", "due_at", "cutoff_at", "extra_time_percent")
        ),
    )
    assert (row["nickname"], row["late"], row["extra_time_percent"]) == ("tim", "yes", "25")
    assert (row["started_at"], row["due_at"], row["cutoff_at"]) == (own["started_at"], own["due_at"], own["cutoff_at"])

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "timed-trace.md").write_text("\n".join(trace.lines) + "\n")
