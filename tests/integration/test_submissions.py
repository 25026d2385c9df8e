"""Student and reviewer routes and the recorder: the rules of docs/DESIGN.md under retries and races."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from exam_depository.adapters.storage import objects_created
from exam_depository.config import MAX_UPLOAD_BYTES
from exam_depository.domain.recording import ObjectCreated
from exam_depository.usecases import recorder

from local_stack.functions import LambdaContext, sample_event
from tests.integration.conftest import Api, ApiResponse, Bucket, sqs_event

Record = Callable[..., dict[str, Any]]
Handler = Callable[[str], ModuleType]


def _upload(
    api: Api, bucket: Bucket, student: dict[str, Any], content: bytes, filename: str = "answers.pdf"
) -> tuple[dict[str, Any], dict[str, Any]]:
    form = api.request_upload(student["upload_code"], filename).body
    bucket.upload(form, content)
    return form, bucket.notification(form["fields"]["key"], len(content))


def _progress(api: Api, upload_code: str) -> dict[str, Any]:
    response = api.call("get_upload_status", "by_code", path_params={"upload_code": upload_code})
    assert response.status == 200, response.body
    return dict(response.body)


def _verify(api: Api, code: str, download: bool = False) -> ApiResponse:
    function = "get_download_url" if download else "get_verification"
    return api.call(function, "by_code", path_params={"verification_code": code})


def test_presign_returns_a_form_for_exactly_one_key_type_and_size(api: Api) -> None:
    student = api.create_student()

    response = api.request_upload(student["upload_code"].lower().replace("-", " "), "C:\\fakepath\\Ans wer.pdf")

    assert response.status == 201
    form = response.body
    assert form["max_bytes"] == 3 * 1024 * 1024
    assert (form["attempts_used"], form["attempts_left"]) == (0, 5)
    # Under the exam's prefix (deleting an exam deletes it), unique by the upload's id
    assert re.fullmatch(rf"submissions/\d+/{form['upload_id']}/Ans wer\.pdf", form["fields"]["key"])
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert {"key": form["fields"]["key"]} in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert ["content-length-range", 1, 3 * 1024 * 1024] in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(minutes=5) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"


def test_presign_without_a_body_uses_safe_defaults(api: Api) -> None:
    student = api.create_student()

    response = api.call(
        "request_upload", "with_filename", path_params={"upload_code": student["upload_code"]}, body=None
    )

    assert response.status == 201
    assert response.body["fields"]["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("code", ["0000-0000-0000-0000-0000", "short", "é" * 20, "A" * 500, "7K3M-Q9TX-2WFD-8HNB-C4RU"])
def test_unknown_or_malformed_upload_codes_are_404(api: Api, code: str) -> None:
    for response in (
        api.request_upload(code),
        api.call("get_upload_status", "by_code", path_params={"upload_code": code}),
    ):
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body", [{"content_type": "not a type"}, {"filename": ""}, {"filename": "a\x00b"}, {"extra": 1}]
)
def test_presign_refuses_bad_metadata_with_422(api: Api, body: dict[str, Any]) -> None:
    student = api.create_student()

    response = api.call(
        "request_upload", "with_filename", path_params={"upload_code": student["upload_code"]}, body=body
    )

    assert response.status == 422


def test_full_flow_create_presign_upload_record_verify_download(api: Api, bucket: Bucket, record: Record) -> None:
    # Given a student who uploads a file whose name has spaces and Unicode
    student = api.create_student()
    content = b"%PDF-1.7 my answers \xe2\x80\x93 final"
    form, notification = _upload(api, bucket, student, content, "Exam answers – Mary-Ann.pdf")
    assert "%E2%80%93" in notification["s3"]["object"]["key"]  # S3 sends the key URL-encoded
    pending = {
        "upload_id": form["upload_id"],
        "status": "pending",
        "rejection_reason": None,
        "found_type": None,
        "message": None,
    }
    assert _progress(api, student["upload_code"])["uploads"] == [pending]

    # When S3's notification reaches the recorder
    result = record(notification)

    # Then the student sees the verification code of the file
    assert result == {"batchItemFailures": []}
    progress = _progress(api, student["upload_code"])
    current = progress["current"]
    assert (progress["attempts_used"], progress["attempts_left"]) == (1, 4)
    assert progress["uploads"][0]["status"] == "recorded"
    assert current["upload_id"] == form["upload_id"]
    assert current["sha256"] == hashlib.sha256(content).hexdigest()
    assert current["size_bytes"] == len(content)

    # And a reviewer sees what was submitted and gets a short-lived attachment link
    verification = _verify(api, current["verification_code"].lower())
    assert verification.status == 200
    assert verification.body["status"] == "current"
    assert verification.body["filename"] == "Exam answers – Mary-Ann.pdf"
    assert verification.body["student"] == {"first_name": "Mary-Ann", "last_name": "O'Brien"}
    link = _verify(api, current["verification_code"], download=True)
    assert link.status == 200
    query = parse_qs(urlsplit(link.body["url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert "filename*=UTF-8''Exam%20answers%20%E2%80%93%20Mary-Ann.pdf" in query["response-content-disposition"][0]
    assert datetime.fromisoformat(link.body["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=5)


def test_resubmission_supersedes_the_old_code_and_deletes_its_file(api: Api, bucket: Bucket, record: Record) -> None:
    student = api.create_student()
    _, first = _upload(api, bucket, student, b"first")
    record(first)
    old_code = _progress(api, student["upload_code"])["current"]["verification_code"]

    second_form, second = _upload(api, bucket, student, b"second")
    record(second)

    progress = _progress(api, student["upload_code"])
    assert progress["current"]["upload_id"] == second_form["upload_id"]
    assert _verify(api, old_code).body["status"] == "superseded"
    gone = _verify(api, old_code, download=True)
    assert gone.status == 410
    assert gone.headers["Content-Type"] == "application/problem+json"
    assert bucket.keys() == [second_form["fields"]["key"]]
    detail = api.call("get_student", "by_nickname", path_params={"nickname": student["nickname"]}).body
    assert [s["status"] for s in detail["submissions"]] == ["superseded", "current"]


def test_the_sixth_upload_is_refused_at_presign(api: Api, bucket: Bucket, record: Record) -> None:
    student = api.create_student()
    for attempt in range(5):
        _, notification = _upload(api, bucket, student, f"attempt {attempt}".encode())
        record(notification)

    response = api.request_upload(student["upload_code"])

    assert response.status == 409
    assert response.body["title"] == "No attempts left"
    assert _progress(api, student["upload_code"])["attempts_left"] == 0


def test_uploads_past_the_limit_are_rejected_and_deleted(api: Api, bucket: Bucket, record: Record) -> None:
    # Given seven forms issued before any upload was recorded
    student = api.create_student()
    forms = [api.request_upload(student["upload_code"]).body for _ in range(7)]
    for form in forms:
        bucket.upload(form, b"x" * 10)

    # When all seven arrive
    record(*(bucket.notification(form["fields"]["key"], 10) for form in forms))

    # Then five are recorded, the last two are rejected and gone from the bucket
    progress = _progress(api, student["upload_code"])
    assert progress["attempts_used"] == 5
    assert [u["status"] for u in progress["uploads"]] == ["recorded"] * 5 + ["rejected"] * 2
    assert progress["uploads"][-1]["rejection_reason"] == "limit_reached"
    assert progress["current"]["upload_id"] == forms[4]["upload_id"]
    assert bucket.keys() == [forms[4]["fields"]["key"]]


def test_concurrent_deliveries_never_record_more_than_the_limit(api: Api, bucket: Bucket, database_url: str) -> None:
    # Given ten uploaded objects of one student and ten record workers on separate connections
    student = api.create_student()
    forms = [api.request_upload(student["upload_code"]).body for _ in range(10)]
    events = []
    for form in forms:
        bucket.upload(form, b"answer")
        events += objects_created({"Records": [bucket.notification(form["fields"]["key"], 6)]})
    barrier = threading.Barrier(len(events))
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def worker(event: ObjectCreated) -> None:
        try:
            barrier.wait()
            result = recorder.record_objects([event])
            assert result.failed == set()
            outcomes.append(str(result.outcomes[0]))
        except BaseException as exc:  # reported below, with the test's failure
            failures.append(exc)

    # When they all record at the same instant
    threads = [threading.Thread(target=worker, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then five are recorded, one current, and every rejected object is deleted
    assert failures == []
    assert outcomes.count("rejected") == 5
    with psycopg.connect(database_url) as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM submission")]
    assert len(statuses) == 5
    assert statuses.count("current") == 1
    current = _progress(api, student["upload_code"])["current"]
    assert bucket.keys() == [next(f["fields"]["key"] for f in forms if f["upload_id"] == current["upload_id"])]


def test_a_notification_delivered_many_times_records_one_row_with_one_code(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    student = api.create_student()
    _, notification = _upload(api, bucket, student, b"once")

    for _ in range(3):
        assert record(notification, notification) == {"batchItemFailures": []}

    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT verification_code) FROM submission").fetchone() == (1, 1)
    assert _progress(api, student["upload_code"])["attempts_used"] == 1
    assert len(bucket.keys()) == 1


def test_a_late_event_for_an_older_upload_never_demotes_the_current_file(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given two uploads, the second issued last, whose events arrive newest first
    student = api.create_student()
    _, older = _upload(api, bucket, student, b"older")
    newer_form, newer = _upload(api, bucket, student, b"newer")

    record(newer)
    record(older)

    # Then the newer stays current and only the older file is deleted
    progress = _progress(api, student["upload_code"])
    assert progress["current"]["upload_id"] == newer_form["upload_id"]
    assert progress["attempts_used"] == 2
    assert bucket.keys() == [newer_form["fields"]["key"]]


def test_an_oversize_object_is_rejected_deleted_and_never_recorded(api: Api, bucket: Bucket, record: Record) -> None:
    # Given a policy bypassed somehow: an object one byte over the limit
    student = api.create_student()
    _, notification = _upload(api, bucket, student, b"x" * (MAX_UPLOAD_BYTES + 1))

    record(notification)

    progress = _progress(api, student["upload_code"])
    assert progress["current"] is None
    assert progress["attempts_used"] == 0
    assert progress["uploads"][0] == {**progress["uploads"][0], "status": "rejected", "rejection_reason": "too_large"}
    assert bucket.keys() == []


def test_an_object_without_an_upload_form_is_deleted(api: Api, bucket: Bucket, record: Record) -> None:
    key = "submissions/not-a-form/stray file.pdf"
    version = bucket.s3.put_object(Bucket="exam-depository-test-submissions", Key=key, Body=b"stray")["VersionId"]

    assert record(bucket.notification(key, 5, version_id=version)) == {"batchItemFailures": []}
    assert bucket.keys() == []


def test_the_s3_test_event_and_a_poison_message_are_told_apart(handler: Handler, aws: None) -> None:
    test_event = sample_event("record_submissions", "test_event")
    poison = sqs_event({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]})
    event = {"Records": test_event["Records"] + poison["Records"]}

    result = handler("record_submissions").lambda_handler(event, LambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": poison["Records"][0]["messageId"]}]}


def test_expired_submissions_are_refused_from_the_moment_they_expire(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    student = api.create_student()
    _, notification = _upload(api, bucket, student, b"old")
    record(notification)
    code = _progress(api, student["upload_code"])["current"]["verification_code"]
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE submission SET expires_at = now() - interval '1 second'")

    # Before the job runs, the status is already expired and the link refused
    assert _verify(api, code).body["status"] == "expired"
    assert _verify(api, code, download=True).status == 410

    result = handler("expire_submissions").lambda_handler(
        sample_event("expire_submissions", "scheduled"), LambdaContext()
    )

    assert result == {"expired": 1, "deleted": 1, "checkpoints": 0, "audit_logs_purged": 0}
    assert bucket.keys() == []  # its file went with it (S3's lifecycle rule is only the backstop)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM submission").fetchone() == ("expired",)
        assert conn.execute("SELECT object_deleted_at IS NOT NULL FROM upload").fetchone() == (True,)


def test_unknown_verification_codes_are_404(api: Api) -> None:
    for download in (False, True):
        response = _verify(api, "Q2RB-M7TZ-3KXD-9WFA-H5NP", download=download)
        assert response.status == 404
        assert response.body["title"] == "Not found"


def test_a_student_holds_at_most_ten_unused_forms_until_they_expire(api: Api, database_url: str) -> None:
    student = api.create_student()
    for _ in range(10):
        assert api.request_upload(student["upload_code"]).status == 201

    refused = api.request_upload(student["upload_code"])

    assert refused.status == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.body["title"] == "Too many open upload forms"
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE upload SET form_expires_at = now() - interval '1 second'")
    assert api.request_upload(student["upload_code"]).status == 201


@pytest.mark.parametrize("attempts_before", [1, 5], ids=["first form", "last form"])
def test_posting_a_recorded_form_again_changes_nothing_and_the_new_version_is_deleted(
    api: Api, bucket: Bucket, record: Record, attempts_before: int
) -> None:
    # Given a student whose last recorded form is still within its lifetime
    student = api.create_student()
    for attempt in range(attempts_before):
        form, notification = _upload(api, bucket, student, f"the answers {attempt}".encode())
        record(notification)
    recorded_version = bucket.latest[form["fields"]["key"]]
    before = _progress(api, student["upload_code"])
    verification_before = _verify(api, before["current"]["verification_code"]).body

    # When the same form is posted again with other bytes (S3 accepts it: a new version of the key)
    reused = bucket.upload(form, b"swapped after the fact")
    result = record(bucket.notification(form["fields"]["key"], 22, version_id=reused))

    # Then the record, the attempts and what a reviewer sees are unchanged, and only the
    # recorded version is left of the key
    assert result == {"batchItemFailures": []}
    after = _progress(api, student["upload_code"])
    assert after["current"] == before["current"]
    assert after["attempts_used"] == attempts_before
    assert _verify(api, before["current"]["verification_code"]).body == verification_before
    link = _verify(api, before["current"]["verification_code"], download=True).body
    assert parse_qs(urlsplit(link["url"]).query)["versionId"] == [recorded_version]
    assert bucket.read(form["fields"]["key"], recorded_version) == f"the answers {attempts_before - 1}".encode()
    key = form["fields"]["key"]
    assert [version for version in bucket.versions() if version[0] == key] == [(key, recorded_version)]


def test_two_versions_of_one_form_in_one_batch_record_the_first_posted(
    api: Api, bucket: Bucket, record: Record
) -> None:
    student = api.create_student()
    form = api.request_upload(student["upload_code"]).body
    key = form["fields"]["key"]
    first = bucket.upload(form, b"first posted")
    second = bucket.upload(form, b"posted again")

    # S3 does not promise order: the later version's event arrives first, in the same batch
    record(
        bucket.notification(key, 12, version_id=second, sequencer="0B"),
        bucket.notification(key, 12, version_id=first, sequencer="0A"),
    )

    current = _progress(api, student["upload_code"])["current"]
    assert current["sha256"] == hashlib.sha256(b"first posted").hexdigest()
    assert bucket.versions() == [(key, first)]


def test_a_download_of_a_type_a_browser_would_render_is_served_as_bytes(
    api: Api, bucket: Bucket, record: Record
) -> None:
    student = api.create_student()
    form = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": student["upload_code"]},
        body={"filename": "answers.html", "content_type": "text/html"},
    ).body
    # The form makes S3 store it as bytes to save, whatever serves it later
    assert form["fields"]["Content-Type"] == "application/octet-stream"
    disposition = "attachment; filename=\"answers.html\"; filename*=UTF-8''answers.html"
    assert form["fields"]["Content-Disposition"] == disposition
    bucket.upload(form, b"<script>alert(1)</script>")
    record(bucket.notification(form["fields"]["key"], 25))
    code = _progress(api, student["upload_code"])["current"]["verification_code"]

    link = _verify(api, code, download=True).body

    query = parse_qs(urlsplit(link["url"]).query)
    assert query["response-content-type"] == ["application/octet-stream"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    assert _verify(api, code).body["content_type"] == "text/html"  # what was handed in, as recorded


@pytest.mark.parametrize(
    ("sent", "recorded"),
    [
        ("Application/PDF", "application/pdf"),
        ("application/vnd.ms-word.document.macroEnabled.12", "application/vnd.ms-word.document.macroenabled.12"),
    ],
)
def test_content_types_are_accepted_in_any_case(api: Api, sent: str, recorded: str) -> None:
    student = api.create_student()

    response = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": student["upload_code"]},
        body={"filename": "answers.docm", "content_type": sent},
    )

    assert response.status == 201, response.body
    assert response.body["fields"]["Content-Type"] == recorded


@pytest.mark.parametrize(
    ("sent", "key_name"),
    [
        ("A" * 300 + ".pdf", "A" * 196 + ".pdf"),
        (".", "answer"),
        ("..", "answer"),
        ("rapport\u202efdp.exe", "rapportfdp.exe"),
    ],
    ids=["300 characters", "dot", "dot dot", "bidi override"],
)
def test_unusable_filenames_are_made_usable_instead_of_refused(api: Api, sent: str, key_name: str) -> None:
    student = api.create_student()

    response = api.request_upload(student["upload_code"], sent)

    assert response.status == 201, response.body
    assert response.body["fields"]["key"].endswith(f"/{response.body['upload_id']}/{key_name}")


def test_an_anonymous_exams_verification_shows_no_names(api: Api, bucket: Bucket, record: Record) -> None:
    api.create_exam("blind", anonymous=True, title="Blind marking")
    student = api.create_student(exam_id="blind")
    _, notification = _upload(api, bucket, student, b"%PDF anonymous")
    record(notification)
    code = _progress(api, student["upload_code"])["current"]["verification_code"]

    verification = _verify(api, code).body

    assert verification["student"] is None
    assert verification["exam"] == {"title": "Blind marking"}
    assert verification["late"] is False
    assert "O'Brien" not in json.dumps(verification)
