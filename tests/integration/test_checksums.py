"""The SHA-256 a student's page computes: pinned in the form (S3 refuses other bytes and keeps
the checksum), read back with one HEAD so the file's body is never read, and, where S3 holds no
checksum (a stand-in that ignores the fields), checked by the recorder as it hashes the file."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from exam_depository.adapters import storage

from tests.integration.conftest import BUCKET, Api, Bucket

Record = Callable[..., dict[str, Any]]
CONTENT = b"%PDF-1.7 the answers, hashed by the page"
SHA256 = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def s3_calls() -> Iterator[list[str]]:
    """The S3 operations the product's client makes, in order."""
    calls: list[str] = []

    def seen(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    storage.client().meta.events.register("before-call.s3", seen)
    yield calls
    storage.client().meta.events.unregister("before-call.s3", seen)


def _presign(api: Api, code: str, sha256: str | None) -> dict[str, Any]:
    body = {"filename": "answers.pdf", "content_type": "application/pdf"} | ({"sha256": sha256} if sha256 else {})
    response = api.call("request_upload", "with_filename", path_params={"upload_code": code}, body=body)
    assert response.status == 201, response.body
    return dict(response.body)


def test_the_form_pins_the_pages_sha256_for_s3_to_check(api: Api) -> None:
    student = api.create_student()

    form = _presign(api, student["upload_code"], SHA256.upper())

    checksum = base64.b64encode(bytes.fromhex(SHA256)).decode()
    assert form["fields"]["x-amz-checksum-algorithm"] == "SHA256"
    assert form["fields"]["x-amz-checksum-sha256"] == checksum
    conditions = json.loads(base64.b64decode(form["fields"]["policy"]))["conditions"]
    assert {"x-amz-checksum-sha256": checksum} in conditions
    assert {"x-amz-checksum-algorithm": "SHA256"} in conditions


def test_where_s3_holds_the_checksum_the_file_is_never_read(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[str]
) -> None:
    student = api.create_student()
    form = _presign(api, student["upload_code"], SHA256)
    # What S3 stores for a POST with the checksum fields: the bytes and their SHA-256
    stored = bucket.s3.put_object(
        Bucket=BUCKET,
        Key=form["fields"]["key"],
        Body=CONTENT,
        ChecksumAlgorithm=form["fields"]["x-amz-checksum-algorithm"],
        ChecksumSHA256=form["fields"]["x-amz-checksum-sha256"],
    )
    bucket.latest[form["fields"]["key"]] = stored["VersionId"]

    record(bucket.notification(form["fields"]["key"], len(CONTENT)))

    assert "HeadObject" in s3_calls
    assert "GetObject" not in s3_calls
    current = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]
    assert current["sha256"] == SHA256
    claims = json.loads(base64.urlsafe_b64decode(current["receipt"].split(".")[1] + "=="))
    assert claims["sha256_checked_by_s3"] is True


def test_where_s3_holds_none_the_recorder_hashes_the_file_and_refuses_other_bytes(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[str]
) -> None:
    student = api.create_student()
    good, bad = _presign(api, student["upload_code"], SHA256), _presign(api, student["upload_code"], SHA256)
    bucket.upload(good, CONTENT)  # a stand-in that ignored the checksum fields (as MiniStack does on POST)
    bucket.upload(bad, b"other bytes than the page hashed")

    record(
        bucket.notification(good["fields"]["key"], len(CONTENT)),
        bucket.notification(bad["fields"]["key"], 32),
    )

    assert s3_calls.count("GetObject") == 2
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body
    states = {u["upload_id"]: (u["status"], u["rejection_reason"]) for u in progress["uploads"]}
    assert states[good["upload_id"]] == ("recorded", None)
    assert states[bad["upload_id"]] == ("rejected", "checksum_mismatch")
    assert progress["attempts_used"] == 1
    assert bucket.keys() == [good["fields"]["key"]]  # the other bytes are deleted


def test_an_empty_file_is_never_recorded(api: Api, bucket: Bucket, record: Record, s3_calls: list[str]) -> None:
    student = api.create_student()
    form = _presign(api, student["upload_code"], None)
    bucket.upload(form, b"")  # past a policy that says 1 byte at least

    record(bucket.notification(form["fields"]["key"], 0))

    upload = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body
    assert (upload["uploads"][0]["status"], upload["uploads"][0]["rejection_reason"]) == ("rejected", "empty")
    # its one GET's headers say it all (the body is closed unread); no HEAD before it
    assert [call for call in s3_calls if call in ("HeadObject", "GetObject")] == ["GetObject"]
    assert bucket.keys() == []
