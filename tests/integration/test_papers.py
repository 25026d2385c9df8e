"""An exam's question paper through the handlers, against PostgreSQL and moto: the examiner's form
and its policy, the recorder's checks (a PDF, its size and checksum, before the opening; the form
issued last is current; what must not exist deleted by version), a student's link (after their
start, until their own cut-off), and the exam's deletion.

moto enforces no POST policy: the tests decode the policy (what S3 enforces, as MiniStack does in
tests/e2e/test_papers.py) and put the bytes with the S3 API, as `Bucket.upload` does."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from exam_depository.adapters.storage import objects_created
from exam_depository.domain.recording import ObjectCreated
from exam_depository.usecases import paper_recorder
from psycopg.rows import dict_row

from tests.integration.conftest import OTHER_EXAMINER, Api, ApiResponse, Bucket, move_window
from tests.integration.test_submissions import Record

EXAM = "timed-physics"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
MAX_PAPER_BYTES = 20 * 1024 * 1024


def _timed_exam(api: Api, exam_id: str = EXAM, *, duration_minutes: int | None = 60) -> dict[str, Any]:
    """An exam opening in an hour, due an hour later, with an hour's grace: 60 minutes each by default."""
    now = datetime.now(UTC)
    return api.create_exam(
        exam_id,
        opens_at=(now + timedelta(hours=1)).isoformat(),
        due_at=(now + timedelta(hours=2)).isoformat(),
        cutoff_at=(now + timedelta(hours=3)).isoformat(),
        duration_minutes=duration_minutes,
    )


def _paper_form(api: Api, exam_id: str = EXAM, *, api_key_id: str | None = None, **body: Any) -> ApiResponse:
    return api.call(
        "request_paper_upload", "pdf", path_params={"exam_id": exam_id}, body=body or None, api_key_id=api_key_id
    )


def _upload_paper(
    api: Api, bucket: Bucket, content: bytes = PDF, exam_id: str = EXAM, **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A form for the paper, the bytes put with it, and S3's notification of them."""
    response = _paper_form(api, exam_id, **body)
    assert response.status == 201, response.body
    form = dict(response.body)
    bucket.upload(form, content)
    return form, bucket.notification(form["fields"]["key"], len(content))


def _papers(database_url: str, exam_id: str = EXAM) -> list[dict[str, Any]]:
    """The exam's paper forms, as the database holds them, in the order they were issued."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            """SELECT q.id, q.status, q.rejection_reason, q.version_id, q.size_bytes, q.sha256,
                      q.object_deleted_at IS NOT NULL AS deleted
               FROM question_paper q JOIN exam e ON e.id = q.exam_id WHERE e.slug = %s ORDER BY q.issue_seq""",
            (exam_id,),
        ).fetchall()


def _exam(api: Api, exam_id: str = EXAM) -> dict[str, Any]:
    response = api.call("get_exam", "by_id", path_params={"exam_id": exam_id})
    assert response.status == 200, response.body
    return dict(response.body)


def _paper_versions(bucket: Bucket) -> list[tuple[str, str]]:
    return [(key, version) for key, version in bucket.versions() if key.startswith("papers/")]


def _link(api: Api, upload_code: str) -> ApiResponse:
    return api.call("get_paper_link", "after_start", path_params={"upload_code": upload_code})


def _start(api: Api, upload_code: str) -> ApiResponse:
    return api.call("start_attempt", "start", path_params={"upload_code": upload_code})


def _set_started_at(database_url: str, upload_code: str, started_at: datetime) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE student SET started_at = %s WHERE upload_code = %s", (started_at, upload_code.replace("-", ""))
        )


# --- the examiner's form ----------------------------------------------------------------------


def test_the_form_pins_an_unguessable_key_a_pdf_of_at_most_20_mib_and_expires_by_the_opening(api: Api) -> None:
    exam = _timed_exam(api)
    sha256 = hashlib.sha256(PDF).hexdigest()

    response = _paper_form(api, filename="Physics – paper.pdf", sha256=sha256)

    assert response.status == 201, response.body
    form = response.body
    assert form["max_bytes"] == MAX_PAPER_BYTES
    # Under the exam's folder (its deletion takes it), with 256 random bits no answer but this form holds
    key = form["fields"]["key"]
    assert re.fullmatch(r"papers/\d+/[A-Za-z0-9_-]{43}/question-paper\.pdf", key)
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert {"key": key} in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert ["content-length-range", 1, MAX_PAPER_BYTES] in policy["conditions"]
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
    assert {"x-amz-checksum-sha256": checksum} in policy["conditions"]
    disposition = form["fields"]["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Physics%20%E2%80%93%20paper.pdf" in disposition
    # S3 refuses the form after the exam opens (here: after its hour's lifetime, which ends first)
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert expires <= datetime.fromisoformat(form["expires_at"]) <= datetime.fromisoformat(exam["opens_at"])


def test_a_form_issued_minutes_before_the_opening_expires_at_it(api: Api, database_url: str) -> None:
    _timed_exam(api)
    opens_at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    move_window(database_url, EXAM, opens_at=opens_at)

    response = _paper_form(api)

    assert response.status == 201, response.body
    assert datetime.fromisoformat(response.body["expires_at"]) == opens_at
    policy = json.loads(base64.b64decode(response.body["fields"]["policy"]))
    assert datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) <= opens_at


def test_no_form_once_the_exam_opened_nor_for_another_examiner_s_exam(api: Api) -> None:
    # The sample exam opened an hour ago
    response = _paper_form(api, "physics-2026-12")

    assert response.status == 409
    assert response.body["type"] == "urn:exam-depository:problem:paper-locked"
    assert "opens_at" in response.body
    _timed_exam(api)
    assert _paper_form(api, api_key_id=OTHER_EXAMINER).status == 404


def test_an_exam_holds_at_most_five_unused_paper_forms(api: Api, database_url: str) -> None:
    _timed_exam(api)
    for _ in range(5):
        assert _paper_form(api).status == 201

    refused = _paper_form(api)

    assert refused.status == 429
    assert refused.body["type"] == "urn:exam-depository:problem:too-many-open-forms"
    # A form used (its paper arrived) or expired no longer counts
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE question_paper SET form_expires_at = now() - interval '1 second'")
    assert _paper_form(api).status == 201


# --- recording ------------------------------------------------------------------------------


def test_a_pdf_uploaded_before_the_opening_becomes_the_exam_s_paper(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api)
    form, notification = _upload_paper(api, bucket, sha256=hashlib.sha256(PDF).hexdigest())

    assert record(notification) == {"batchItemFailures": []}

    (paper,) = _papers(database_url)
    assert (str(paper["id"]), paper["status"], paper["deleted"]) == (form["paper_id"], "current", False)
    assert (paper["size_bytes"], paper["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    assert paper["version_id"] == bucket.latest[form["fields"]["key"]]
    # A notification delivered again changes nothing
    assert record(notification) == {"batchItemFailures": []}
    assert _papers(database_url) == [paper]


@pytest.mark.parametrize(
    ("content", "body", "reason"),
    [
        (b"PK\x03\x04 a .docx renamed .pdf", {}, "not_pdf"),
        (PDF, {"sha256": hashlib.sha256(b"another paper").hexdigest()}, "checksum_mismatch"),
        (b"", {}, "empty"),
        (b"%PDF-" + b"\0" * MAX_PAPER_BYTES, {}, "too_large"),
    ],
)
def test_a_paper_that_fails_a_check_is_rejected_with_its_reason_and_deleted(
    api: Api, bucket: Bucket, record: Record, database_url: str, content: bytes, body: dict[str, str], reason: str
) -> None:
    _timed_exam(api)
    _, notification = _upload_paper(api, bucket, content, **body)

    assert record(notification) == {"batchItemFailures": []}

    (paper,) = _papers(database_url)
    assert (paper["status"], paper["rejection_reason"], paper["deleted"]) == ("rejected", reason, True)
    assert _paper_versions(bucket) == []
    # The examiner's console reads why from the exam
    exam = _exam(api)
    assert exam["paper"] is None
    assert [(u["status"], u["rejection_reason"]) for u in exam["paper_uploads"]] == [("rejected", reason)]


def test_a_paper_s3_accepted_after_an_opening_moved_earlier_is_rejected(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a form issued while the exam opened in an hour, whose opening then moved to a minute ago
    _timed_exam(api)
    _, notification = _upload_paper(api, bucket)
    move_window(database_url, EXAM, opens_at=datetime.now(UTC) - timedelta(minutes=1))

    # When the paper S3 accepted now is recorded
    assert record(notification) == {"batchItemFailures": []}

    # Then it is rejected: a student may have started with the exam's paper as it was
    (paper,) = _papers(database_url)
    assert (paper["status"], paper["rejection_reason"]) == ("rejected", "after_opening")
    assert _paper_versions(bucket) == []


def test_a_replacement_supersedes_the_paper_and_deletes_it_whatever_order_they_arrive(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api)
    first_form, first = _upload_paper(api, bucket, PDF + b"first")
    second_form, second = _upload_paper(api, bucket, PDF + b"second")

    # The replacement's notification comes first, the older one's after it
    assert record(second) == {"batchItemFailures": []}
    assert record(first) == {"batchItemFailures": []}

    papers = _papers(database_url)
    assert [(str(p["id"]), p["status"], p["deleted"]) for p in papers] == [
        (first_form["paper_id"], "superseded", True),
        (second_form["paper_id"], "current", False),
    ]
    assert _paper_versions(bucket) == [(second_form["fields"]["key"], papers[1]["version_id"])]
    exam = _exam(api)
    assert exam["paper"]["paper_id"] == second_form["paper_id"]
    assert [u["status"] for u in exam["paper_uploads"]] == ["current", "superseded"]  # newest first

    # And a third, arriving in order, replaces the second
    third_form, third = _upload_paper(api, bucket, PDF + b"third")
    assert record(third) == {"batchItemFailures": []}
    assert [p["status"] for p in _papers(database_url)] == ["superseded", "superseded", "current"]
    assert [key for key, _ in _paper_versions(bucket)] == [third_form["fields"]["key"]]


def test_papers_recorded_at_the_same_instant_leave_one_current_the_one_issued_last(
    api: Api, bucket: Bucket, database_url: str
) -> None:
    # Given five papers of one exam (as many forms as it may hold) and five record workers, each
    # on its own connection
    _timed_exam(api)
    forms, events = [], []
    for n in range(5):
        form, notification = _upload_paper(api, bucket, PDF + str(n).encode())
        forms.append(form)
        events += objects_created({"Records": [notification]})
    barrier = threading.Barrier(len(events))
    failures: list[BaseException] = []

    def worker(event: ObjectCreated) -> None:
        try:
            barrier.wait()
            assert paper_recorder.record_papers([event]).failed == set()
        except BaseException as exc:  # reported below, with the test's failure
            failures.append(exc)

    # When they all record at once
    threads = [threading.Thread(target=worker, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the exam's lock made them take turns: the last issued is current, the others superseded
    # (whatever order they took) and deleted
    assert failures == []
    assert [p["status"] for p in _papers(database_url)] == ["superseded"] * 4 + ["current"]
    assert [key for key, _ in _paper_versions(bucket)] == [forms[-1]["fields"]["key"]]


def test_a_form_posted_again_leaves_the_recorded_paper_and_its_new_version_is_deleted(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api)
    form, notification = _upload_paper(api, bucket)
    assert record(notification) == {"batchItemFailures": []}
    key = form["fields"]["key"]
    recorded = bucket.latest[key]

    # When the same form is posted again within its lifetime (S3 accepts it: a new version of the key)
    bucket.upload(form, b"%PDF-1.7 something else")
    assert record(bucket.notification(key, 23)) == {"batchItemFailures": []}

    # Then the paper is the version recorded, and S3 keeps no other
    (paper,) = _papers(database_url)
    assert (paper["status"], paper["version_id"]) == ("current", recorded)
    assert _paper_versions(bucket) == [(key, recorded)]
    assert bucket.read(key, recorded) == PDF


def test_an_answer_and_a_paper_in_one_batch_are_each_recorded_by_their_own_rules(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api)
    student = api.create_student()  # of the sample exam, open since an hour ago and untimed
    answer = api.request_upload(student["upload_code"]).body
    bucket.upload(answer, b"my answers")
    _, paper = _upload_paper(api, bucket)

    result = record(bucket.notification(answer["fields"]["key"], 10), paper)

    assert result == {"batchItemFailures": []}
    assert [p["status"] for p in _papers(database_url)] == ["current"]
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body
    assert progress["current"]["upload_id"] == answer["upload_id"]


def test_an_object_under_the_papers_prefix_without_a_form_is_deleted(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    key = "papers/1/guessed/question-paper.pdf"
    bucket.upload({"fields": {"key": key, "Content-Type": "application/pdf"}}, PDF)

    assert record(bucket.notification(key, len(PDF))) == {"batchItemFailures": []}

    assert _paper_versions(bucket) == []


# --- a student's link -----------------------------------------------------------------------


def test_a_student_gets_the_recorded_paper_after_starting_and_until_their_own_cut_off(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a timed exam's paper, recorded before the exam opened, and a student of it
    _timed_exam(api)
    form, notification = _upload_paper(api, bucket, filename="Physics paper.pdf")
    assert record(notification) == {"batchItemFailures": []}
    recorded = bucket.latest[form["fields"]["key"]]
    student = api.create_student(exam_id=EXAM)
    code = student["upload_code"]

    # Before the exam opens, nothing gives the paper
    before = _link(api, code)
    assert (before.status, before.body["type"]) == (409, "urn:exam-depository:problem:not-started")

    # Once it is open, still nothing before the student starts
    now = datetime.now(UTC)
    move_window(database_url, EXAM, opens_at=now - timedelta(minutes=1))
    assert _link(api, code).body["type"] == "urn:exam-depository:problem:not-started"

    # After the start, a link to the recorded version, an attachment, that lives a minute
    started = _start(api, code)
    assert started.status == 200, started.body
    link = _link(api, code)
    assert link.status == 200, link.body
    query = parse_qs(urlsplit(link.body["url"]).query)
    assert query["versionId"] == [recorded]
    assert urlsplit(link.body["url"]).path.endswith(form["fields"]["key"])
    assert query["response-content-type"] == ["application/pdf"]
    assert "filename*=UTF-8''Physics%20paper.pdf" in query["response-content-disposition"][0]
    assert 1 <= int(query["X-Amz-Expires"][0]) <= 60
    assert (link.body["filename"], link.body["size_bytes"]) == ("Physics paper.pdf", len(PDF))
    assert link.body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert bucket.read(form["fields"]["key"], query["versionId"][0]) == PDF

    # Near the student's own cut-off (their 60 minutes and the exam's hour of grace), the link ends by it
    cutoff = now + timedelta(seconds=20)
    _set_started_at(database_url, code, cutoff - timedelta(hours=2))
    near = _link(api, code)
    assert near.status == 200
    assert datetime.fromisoformat(near.body["expires_at"]) <= cutoff
    assert int(parse_qs(urlsplit(near.body["url"]).query)["X-Amz-Expires"][0]) <= 20

    # After it, no link, whatever the exam's own cut-off (hours away)
    _set_started_at(database_url, code, now - timedelta(hours=2))
    after = _link(api, code)
    assert (after.status, after.body["type"]) == (409, "urn:exam-depository:problem:exam-closed")
    assert "cutoff_at" in after.body


def test_an_untimed_exam_s_paper_is_there_from_its_opening(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api, duration_minutes=None)
    _, notification = _upload_paper(api, bucket)
    assert record(notification) == {"batchItemFailures": []}
    code = api.create_student(exam_id=EXAM)["upload_code"]

    before = _link(api, code)
    assert (before.status, before.body["type"]) == (409, "urn:exam-depository:problem:exam-not-open")

    move_window(database_url, EXAM, opens_at=datetime.now(UTC) - timedelta(minutes=1))
    assert _link(api, code).status == 200


def test_no_paper_no_link_and_an_unknown_code_is_not_found(api: Api, database_url: str) -> None:
    _timed_exam(api)
    code = api.create_student(exam_id=EXAM)["upload_code"]
    move_window(database_url, EXAM, opens_at=datetime.now(UTC) - timedelta(minutes=1))
    assert _start(api, code).status == 200

    none = _link(api, code)

    assert (none.status, none.body["type"]) == (404, "urn:exam-depository:problem:no-paper")
    assert _link(api, "AAAA-AAAA-AAAA-AAAA-AAAA").status == 404
    assert _link(api, "not a code").status == 404


# --- the exam's deletion --------------------------------------------------------------------


def test_deleting_the_exam_leaves_no_version_of_its_papers(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    _timed_exam(api)
    for content in (PDF, b"not a pdf", PDF + b"replacement"):
        _, notification = _upload_paper(api, bucket, content)
        assert record(notification) == {"batchItemFailures": []}
    _upload_paper(api, bucket)  # one more, posted but never notified
    assert _paper_versions(bucket) != []

    deleted = api.call("delete_exam", "by_id", path_params={"exam_id": EXAM})

    assert deleted.status == 204, deleted.body
    assert _paper_versions(bucket) == []
    assert _papers(database_url) == []
