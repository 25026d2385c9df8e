"""How the recorder reads an uploaded object: ONE S3 request each. A HEAD where the form pinned a
SHA-256 (S3 checked the bytes and keeps the checksum), else a GET whose headers are read before
its body (the size, and any checksum S3 holds), with no transaction held open while S3 answers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

import psycopg
import pytest
from botocore.response import StreamingBody
from exam_depository.adapters import storage
from exam_depository.config import MAX_UPLOAD_BYTES

from tests.integration.conftest import BUCKET, Api, Bucket

Record = Callable[..., dict[str, Any]]
CONTENT = b"%PDF-1.7 the answers"
SHA256 = hashlib.sha256(CONTENT).hexdigest()


class _ReadTally:
    """A GET's body stream that counts the bytes taken from it: what a real GET pulls off the wire."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.bytes_read = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        chunk: bytes = self._stream.read(amt)
        self.bytes_read += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True
        self._stream.close()


@dataclass
class S3Reads:
    """The object reads the product's S3 client makes, as (operation, key), and each GET's body."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    bodies: dict[str, _ReadTally] = field(default_factory=dict)

    def of(self, *operations: str) -> list[tuple[str, str]]:
        return sorted(call for call in self.calls if call[0] in operations)


@pytest.fixture
def s3_reads(aws: None) -> Iterator[S3Reads]:
    reads = S3Reads()

    def requested(event_name: str, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["read_key"] = str(params.get("Key"))  # the request's own context, handed to after-call
        reads.calls.append((event_name.rsplit(".", 1)[-1], context["read_key"]))

    def answered(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:  # an error has none
            tally = _ReadTally(parsed["Body"])
            reads.bodies[context["read_key"]] = tally
            # StreamingBody only reads and closes its stream
            parsed["Body"] = StreamingBody(cast("IO[bytes]", tally), parsed["ContentLength"])

    events = storage.client().meta.events
    events.register("before-parameter-build.s3", requested)
    events.register("after-call.s3.GetObject", answered)
    yield reads
    events.unregister("after-call.s3.GetObject", answered)
    events.unregister("before-parameter-build.s3", requested)


def _form(api: Api, code: str, sha256: str | None) -> dict[str, Any]:
    body = {"filename": "answers.pdf", "content_type": "application/pdf"} | ({"sha256": sha256} if sha256 else {})
    response = api.call("request_upload", "with_filename", path_params={"upload_code": code}, body=body)
    assert response.status == 201, response.body
    return dict(response.body)


def _post_with_checksum(bucket: Bucket, form: dict[str, Any], content: bytes) -> None:
    """What S3 stores for a POST with the form's checksum fields: the bytes and their SHA-256."""
    key = form["fields"]["key"]
    stored = bucket.s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=content,
        ChecksumAlgorithm=form["fields"]["x-amz-checksum-algorithm"],
        ChecksumSHA256=form["fields"]["x-amz-checksum-sha256"],
    )
    bucket.latest[key] = stored["VersionId"]


def _uploads(api: Api, code: str) -> dict[str, tuple[str, str | None]]:
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body
    return {u["upload_id"]: (u["status"], u["rejection_reason"]) for u in progress["uploads"]}


def test_a_form_without_a_checksum_is_read_with_one_get_and_no_head(
    api: Api, bucket: Bucket, record: Record, s3_reads: S3Reads
) -> None:
    # Given two files of forms without a checksum, and an object no form is about, in one batch
    student = api.create_student()
    forms = [_form(api, student["upload_code"], None) for _ in range(2)]
    for form in forms:
        bucket.upload(form, CONTENT)
    stray = "submissions/not-a-form/stray.pdf"
    stray_version = bucket.s3.put_object(Bucket=BUCKET, Key=stray, Body=b"stray")["VersionId"]

    # When the recorder is notified of all three
    record(
        *(bucket.notification(form["fields"]["key"], len(CONTENT)) for form in forms),
        bucket.notification(stray, 5, version_id=stray_version),
    )

    # Then each object was read with exactly one GET, none with a HEAD, and hashed from its body
    keys = sorted([form["fields"]["key"] for form in forms] + [stray])
    assert s3_reads.of("GetObject", "HeadObject") == [("GetObject", key) for key in keys]
    assert {key: s3_reads.bodies[key].bytes_read for key in keys} == {
        key: len(CONTENT) if key != stray else 5 for key in keys
    }
    assert all(body.closed for body in s3_reads.bodies.values())
    assert set(_uploads(api, student["upload_code"]).values()) == {("recorded", None)}
    current = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]
    assert (current["sha256"], current["size_bytes"]) == (SHA256, len(CONTENT))
    assert bucket.keys() == [forms[-1]["fields"]["key"]]  # the superseded file and the orphan are deleted


def test_a_pinned_form_is_read_with_one_head_and_no_get_even_beside_unpinned_ones(
    api: Api, bucket: Bucket, record: Record, s3_reads: S3Reads
) -> None:
    # Given, in one batch, a file whose form pinned its SHA-256 (S3 keeps it) and one whose form did not
    student = api.create_student()
    pinned, plain = _form(api, student["upload_code"], SHA256), _form(api, student["upload_code"], None)
    _post_with_checksum(bucket, pinned, CONTENT)
    bucket.upload(plain, CONTENT)

    # When the recorder is notified of both
    record(
        bucket.notification(pinned["fields"]["key"], len(CONTENT)),
        bucket.notification(plain["fields"]["key"], len(CONTENT)),
    )

    # Then the pinned one was read with one HEAD and no GET, the other with one GET and no HEAD
    assert s3_reads.of("HeadObject") == [("HeadObject", pinned["fields"]["key"])]
    assert s3_reads.of("GetObject") == [("GetObject", plain["fields"]["key"])]
    assert _uploads(api, student["upload_code"]) == {
        pinned["upload_id"]: ("recorded", None),
        plain["upload_id"]: ("recorded", None),
    }


def test_a_get_whose_object_s3_holds_a_sha256_of_takes_it_and_leaves_the_body_unread(
    api: Api, bucket: Bucket, record: Record, s3_reads: S3Reads
) -> None:
    # Given a form without a checksum whose object S3 nevertheless holds a full-object SHA-256 of
    student = api.create_student()
    form = _form(api, student["upload_code"], None)
    key = form["fields"]["key"]
    checksum = base64.b64encode(bytes.fromhex(SHA256)).decode()
    bucket.latest[key] = bucket.s3.put_object(
        Bucket=BUCKET, Key=key, Body=CONTENT, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
    )["VersionId"]

    # When the recorder is notified
    record(bucket.notification(key, len(CONTENT)))

    # Then its one GET's headers gave the SHA-256, S3's own, and the body was closed unread
    assert s3_reads.of("GetObject", "HeadObject") == [("GetObject", key)]
    assert (s3_reads.bodies[key].bytes_read, s3_reads.bodies[key].closed) == (0, True)
    current = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]
    assert current["sha256"] == SHA256


def test_an_oversize_object_is_rejected_from_its_get_headers_without_reading_its_body(
    api: Api, bucket: Bucket, record: Record, s3_reads: S3Reads
) -> None:
    # Given a policy bypassed somehow: an object of a form without a checksum, one byte over the limit
    student = api.create_student()
    form = _form(api, student["upload_code"], None)
    key = form["fields"]["key"]
    bucket.upload(form, b"x" * (MAX_UPLOAD_BYTES + 1))

    # When the recorder is notified
    record(bucket.notification(key, MAX_UPLOAD_BYTES + 1))

    # Then one GET was made, its body closed with no byte read, and the upload rejected as too large
    assert s3_reads.of("GetObject", "HeadObject") == [("GetObject", key)]
    assert (s3_reads.bodies[key].bytes_read, s3_reads.bodies[key].closed) == (0, True)
    assert _uploads(api, student["upload_code"]) == {form["upload_id"]: ("rejected", "too_large")}
    assert bucket.keys() == []


def test_no_transaction_is_open_while_s3_is_read(
    api: Api, bucket: Bucket, record: Record, s3_reads: S3Reads, database_url: str
) -> None:
    # Given a pinned and an unpinned upload (the recorder first asks PostgreSQL which is which)
    student = api.create_student()
    pinned, plain = _form(api, student["upload_code"], SHA256), _form(api, student["upload_code"], None)
    _post_with_checksum(bucket, pinned, CONTENT)
    bucket.upload(plain, CONTENT)
    open_while_reading: list[int] = []

    def count_open_transactions(**_: Any) -> None:
        with psycopg.connect(database_url) as watcher:
            row = watcher.execute(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE application_name = 'exam-depository' AND state LIKE 'idle in transaction%'"""
            ).fetchone()
        assert row is not None
        open_while_reading.append(int(row[0]))

    # When the recorder reads their objects
    events = storage.client().meta.events
    events.register("before-call.s3.HeadObject", count_open_transactions)
    events.register("before-call.s3.GetObject", count_open_transactions)
    try:
        record(
            bucket.notification(pinned["fields"]["key"], len(CONTENT)),
            bucket.notification(plain["fields"]["key"], len(CONTENT)),
        )
    finally:
        events.unregister("before-call.s3.GetObject", count_open_transactions)
        events.unregister("before-call.s3.HeadObject", count_open_transactions)

    # Then no connection of the product held a transaction open during any read, and both are recorded
    assert open_while_reading == [0, 0]
    assert set(_uploads(api, student["upload_code"]).values()) == {("recorded", None)}
