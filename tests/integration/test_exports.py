"""Exports: every current submission of an exam in one ZIP with its manifest, built from the
queued job, each file checked against its recorded SHA-256; failures say why."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
import requests
from exam_depository import config
from exam_depository.adapters import aws, storage
from exam_depository.domain.filenames import AUDIT_CHECKPOINT, AUDIT_LOG, MANIFEST

from local_stack.delivery import poller_event
from local_stack.functions import LambdaContext
from tests.integration.conftest import BUCKET, OTHER_EXAMINER, REGION, Api, Bucket

Record = Callable[..., dict[str, Any]]
Handler = Callable[[str], ModuleType]


def _hand_in(api: Api, bucket: Bucket, record: Record, student: dict[str, Any], content: bytes, name: str) -> str:
    """Upload and record a file; returns its key."""
    form = api.request_upload(student["upload_code"], name).body
    bucket.upload(form, content)
    outcome = record(bucket.notification(form["fields"]["key"], len(content)))
    assert outcome == {"batchItemFailures": []}, outcome
    return str(form["fields"]["key"])


def _start(api: Api, exam_id: str = "physics-2026-12") -> str:
    response = api.call("create_export", "start", path_params={"exam_id": exam_id})
    assert response.status == 202, response.body
    assert response.body["status"] == "queued"
    return str(response.body["export_id"])


def _build_queued(handler: Handler, *, tries: int = 1) -> list[str]:
    """What the event source mapping does: take the queued jobs and hand each to the builder, as
    its `tries`-th receive."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="export-jobs")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    outcomes = []
    for message in messages:
        event = poller_event([message], queue_arn=arn, region=REGION)
        event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(tries)
        outcomes.append(handler("build_export").lambda_handler(event, LambdaContext())["outcome"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return outcomes


def _status(api: Api, export_id: str, exam_id: str = "physics-2026-12") -> Any:
    return api.call("get_export", "progress", path_params={"exam_id": exam_id, "export_id": export_id})


def _zip(database_url: str, export_id: str) -> zipfile.ZipFile:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT object_key FROM export WHERE id = %s", (export_id,)).fetchone()
    assert row is not None
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=row[0])["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def test_an_export_holds_every_current_file_byte_for_byte_and_a_manifest(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    # Given three students: one handed in twice, one once, one not at all
    ann, bob, cy = (api.create_student(n) for n in ("ann", "bob", "cy"))
    _hand_in(api, bucket, record, ann, b"%PDF ann v1", "answers.pdf")
    _hand_in(api, bucket, record, ann, b"%PDF ann v2", "answers.pdf")
    _hand_in(api, bucket, record, bob, b"%PDF bob", "Réponses: finales?.pdf")
    assert cy["nickname"] == "cy"

    # When the examiner exports, and the builder takes the job
    export_id = _start(api)
    assert _status(api, export_id).body["status"] == "queued"
    assert _build_queued(handler) == ["done"]

    # Then the export is done, with a link, and the ZIP holds exactly the current files
    done = _status(api, export_id).body
    assert (done["status"], done["files_done"], done["files_total"]) == ("done", 2, 2)
    assert done["url"]
    assert done["expires_at"]
    archive = _zip(database_url, export_id)
    assert archive.testzip() is None
    # the files, then the exam's audit log and its signed checkpoint, then the manifest, last
    assert archive.namelist() == [
        "ann/answers.pdf",
        "bob/Réponses_ finales_.pdf",
        "audit.csv",
        "audit-checkpoint.jwt",
        "manifest.csv",
    ]
    assert archive.read("ann/answers.pdf") == b"%PDF ann v2"
    assert archive.read("bob/Réponses_ finales_.pdf") == b"%PDF bob"
    assert done["bytes"] == sum(info.compress_size for info in archive.infolist()) + _overhead(archive)
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    listed = {s["nickname"]: s for s in api.call("list_students", "first_page").body["items"]}
    assert [row["nickname"] for row in manifest] == ["ann", "bob"]
    for row in manifest:
        current = listed[row["nickname"]]["current"]
        assert row["sha256"] == current["sha256"] == hashlib.sha256(archive.read(row["path_in_zip"])).hexdigest()
        assert (row["verification_code"], row["filename"]) == (current["verification_code"], current["filename"])
        assert (row["first_name"], row["last_name"], row["late"]) == ("Mary-Ann", "O'Brien", "no")
        # the student's window as the roster shows it; an untimed exam has no start and no extra time
        assert (row["due_at"], row["cutoff_at"]) == (
            listed[row["nickname"]]["due_at"],
            listed[row["nickname"]]["cutoff_at"],
        )
        assert (row["started_at"], row["extra_time_percent"], row["extra_time_minutes"]) == ("", "0", "0")


def _overhead(archive: zipfile.ZipFile) -> int:
    """Everything in a ZIP but the files' bytes: headers, the directory. Its size is what is left."""
    assert archive.fp is not None
    archive.fp.seek(0, io.SEEK_END)
    return archive.fp.tell() - sum(info.compress_size for info in archive.infolist())


def test_a_zip_is_written_in_parts_of_8_mib_whatever_the_sizes_of_its_pieces(aws: None) -> None:
    # Given pieces that end inside a part, on a part's end, and span several parts
    mib = 1024 * 1024
    pieces = [os.urandom(n) for n in (1, 3 * mib, 5 * mib - 1, 0, 20 * mib, 4 * mib, 7 * mib + 3)]
    whole = b"".join(pieces)

    # When they are written as one multipart upload
    upload = storage.MultipartUpload("exports/parts.zip", content_type="application/zip", content_disposition="x")
    for piece in pieces:
        upload.write(piece)
    upload.complete()

    # Then the object is the pieces byte for byte, in parts of exactly 8 MiB but the last (its
    # ETag is S3's digest of each part's MD5, and counts them)
    s3 = boto3.client("s3", region_name=REGION)
    answer = s3.get_object(Bucket=BUCKET, Key="exports/parts.zip")
    assert answer["Body"].read() == whole
    assert upload.bytes == len(whole)
    parts = [whole[start : start + 8 * mib] for start in range(0, len(whole), 8 * mib)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)  # S3's multipart ETag
    assert answer["ETag"].strip('"') == f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def test_an_anonymous_exams_manifest_has_no_names(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    api.create_exam("blind", anonymous=True)
    student = api.create_student("ann", exam_id="blind")
    _hand_in(api, bucket, record, student, b"%PDF", "a.pdf")

    export_id = _start(api, "blind")
    _build_queued(handler)

    header = _zip(database_url, export_id).read("manifest.csv").decode("utf-8-sig").splitlines()[0]
    assert header == (
        "pseudonym,filename,path_in_zip,size_bytes,sha256,submitted_at,late,"
        "started_at,due_at,cutoff_at,extra_time_percent,extra_time_minutes,verification_code,scan,held_back"
    )


def test_a_file_that_does_not_match_its_recorded_sha256_fails_the_export_naming_it(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    student = api.create_student("ann")
    _hand_in(api, bucket, record, student, b"%PDF", "answers.pdf")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE submission SET sha256 = repeat('0', 64)")

    export_id = _start(api)

    assert _build_queued(handler) == ["failed"]
    failed = _status(api, export_id).body
    assert failed["status"] == "failed"
    assert failed["error"] == "ann/answers.pdf (of ann) does not match its recorded SHA-256; nothing was exported."
    assert failed["url"] is None
    stored = bucket.keys()
    assert not [key for key in stored if key.startswith("exports/")]


def test_two_exports_of_one_exam_at_once_are_two_zips(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF", "a.pdf")

    first, second = _start(api), _start(api)

    assert _build_queued(handler) == ["done", "done"]
    # Two objects, not two links: links to one object differ too once signed a second apart.
    keys = {_object_key(database_url, first), _object_key(database_url, second)}
    assert len(keys) == 2
    assert [key for key, _ in _under("exports/")] == sorted(keys)
    assert _zip(database_url, first).namelist() == _zip(database_url, second).namelist()


def test_an_unreachable_s3_is_retried_and_fails_the_export_on_its_last_try(
    api: Api, bucket: Bucket, record: Record, handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF", "a.pdf")
    export_id = _start(api)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="export-jobs")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    attributes = {"ApproximateReceiveCount": "1"}
    event = {"Records": [{"messageId": "m", "body": message["Body"], "attributes": attributes}]}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    config.reset()
    aws.reset()

    with pytest.raises(Exception, match="S3"):  # the first try: SQS delivers the job again
        handler("build_export").lambda_handler(event, LambdaContext())
    attributes["ApproximateReceiveCount"] = "3"
    assert handler("build_export").lambda_handler(event, LambdaContext()) == {"outcome": "failed"}

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    config.reset()
    aws.reset()
    assert _status(api, export_id).body["error"] == "S3 was unavailable on every try; start the export again."


def test_an_export_is_an_examiners_own_and_expires_after_a_day(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF", "a.pdf")
    export_id = _start(api)
    _build_queued(handler)

    theirs = api.call(
        "get_export",
        "progress",
        path_params={"exam_id": "physics-2026-12", "export_id": export_id},
        api_key_id=OTHER_EXAMINER,
    )
    start = api.call("create_export", "start", path_params={"exam_id": "physics-2026-12"}, api_key_id=OTHER_EXAMINER)
    assert (theirs.status, start.status) == (404, 404)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE export SET expires_at = now() - interval '1 second'")
    expired = _status(api, export_id)
    assert expired.status == 410
    assert "expired" in expired.body["detail"]
    assert json.dumps(expired.body).count("http") == 0  # no link to what is gone


def _object_key(database_url: str, export_id: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT object_key FROM export WHERE id = %s", (export_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _under(prefix: str) -> list[tuple[str, str]]:
    """Every version and delete marker under `prefix`, as (key, version)."""
    listed = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return sorted(
        (item["Key"], item["VersionId"]) for item in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    )


def test_deleting_an_exam_deletes_every_version_of_its_exports_and_a_link_given_before_fails(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    # Given an exam with two exports done, one ZIP written twice (as a retried build does: two
    # versions of its key), and a link to it handed out
    _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF ann", "a.pdf")
    first, second = _start(api), _start(api)
    assert _build_queued(handler) == ["done", "done"]
    link = _status(api, first).body["url"]
    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200
    key = _object_key(database_url, first)
    bucket.s3.put_object(Bucket=BUCKET, Key=key, Body=fetched.content)
    exam_exports = key.rsplit("/", 2)[0] + "/"
    assert len(_under(exam_exports)) == 3
    # And another exam's export
    api.create_exam("staying")
    _hand_in(api, bucket, record, api.create_student("bob", exam_id="staying"), b"%PDF bob", "b.pdf")
    kept = _start(api, "staying")
    assert _build_queued(handler) == ["done"]

    # When the examiner deletes the exam
    response = api.call("delete_exam", "by_id")

    # Then no version of its exports is left, the link handed out fails, and the export is not found
    assert response.status == 204
    assert _under(exam_exports) == []
    assert [key for key, _ in _under("exports/")] == [_object_key(database_url, kept)]
    assert requests.get(link, timeout=10).status_code == 404
    assert _status(api, first).status == 404
    assert _status(api, second).status == 404


def test_an_exam_deleted_while_its_export_is_built_leaves_no_zip(
    api: Api, bucket: Bucket, record: Record, handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an export being built: the examiner deletes the exam as soon as its file has been read
    _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF ann", "a.pdf")
    _start(api)
    read = storage.stream_version

    def read_then_delete_the_exam(key: str, version_id: str) -> Iterator[bytes]:
        chunks = read(key, version_id)
        assert chunks is not None
        yield from chunks
        assert api.call("delete_exam", "by_id").status == 204

    monkeypatch.setattr(storage, "stream_version", read_then_delete_the_exam)

    # When the builder goes on
    outcome = _build_queued(handler)

    # Then it abandons the export: no ZIP is left, in any version
    assert outcome == ["skipped"]
    assert _under("exports/") == []


# Names a trial found that standard tools could not extract: a folder named like the manifest,
# names of hundreds of bytes, and what Windows refuses.
WORST_NAMES = {
    "manifest.csv": "字" * 200 + ".pdf",
    "AUDIT.CSV": "audit-checkpoint.jwt",  # the audit log's names, as a folder and as a file
    "CON": "😀" * 199 + ".pdf",
    "ann.": "👩\u200d💻" * 80 + ".pdf",
    "ANN": 'what?: <a|b> "quoted".pdf',
    "zoe": "Zoe\u0308 nul.tar.gz",
    "lpt1": "aux",
}


def test_an_export_of_the_worst_names_extracts_with_unzip_and_python(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str, tmp_path: Path
) -> None:
    # Given students whose nicknames and file names are the worst a trial found
    for nickname, filename in WORST_NAMES.items():
        _hand_in(api, bucket, record, api.create_student(nickname), f"%PDF of {nickname}".encode(), filename)

    # When they are exported
    export_id = _start(api)
    assert _build_queued(handler) == ["done"]

    # Then unzip extracts the ZIP without an error, and Python does too, every name within the
    # limits of Linux, macOS and Windows, every file where the manifest says
    archive = _zip(database_url, export_id)
    (tmp_path / "export.zip").write_bytes(_bytes_of(archive))
    unzipped = subprocess.run(
        ["unzip", "-q", str(tmp_path / "export.zip"), "-d", str(tmp_path / "unzip")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert unzipped.returncode == 0, unzipped.stdout + unzipped.stderr
    archive.extractall(tmp_path / "python")
    manifest = list(csv.DictReader(io.StringIO(archive.read(MANIFEST).decode("utf-8-sig"))))
    assert sorted(row["nickname"] for row in manifest) == sorted(WORST_NAMES)
    for extracted in (tmp_path / "unzip", tmp_path / "python"):
        files = sorted(str(path.relative_to(extracted)) for path in extracted.rglob("*") if path.is_file())
        assert files == sorted([MANIFEST, AUDIT_LOG, AUDIT_CHECKPOINT, *(row["path_in_zip"] for row in manifest)])
        for row in manifest:
            assert (extracted / row["path_in_zip"]).read_bytes() == f"%PDF of {row['nickname']}".encode()
    folders = [row["path_in_zip"].split("/")[0] for row in manifest]
    assert {MANIFEST, AUDIT_LOG, AUDIT_CHECKPOINT} & {folder.casefold() for folder in folders} == set()
    assert len({folder.casefold() for folder in folders}) == len(folders)
    assert all(len(part.encode()) <= 255 for row in manifest for part in row["path_in_zip"].split("/"))


def _bytes_of(archive: zipfile.ZipFile) -> bytes:
    assert isinstance(archive.fp, io.BytesIO)
    return archive.fp.getvalue()


def _reading(monkeypatch: pytest.MonkeyPatch, before_read: Callable[[str], object]) -> None:
    """Make the builder's every read of a file first run `before_read(key)`: what happens between
    the export's listing and its read happens there, by construction, not by timing."""
    read = storage.stream_version

    def read_after(key: str, version_id: str) -> Any:
        before_read(key)
        return read(key, version_id)

    monkeypatch.setattr(storage, "stream_version", read_after)


def test_a_file_replaced_while_the_export_is_built_is_exported_as_the_students_newer_file(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two students who handed in, and an export listing their files
    ann = api.create_student("ann")
    first = _hand_in(api, bucket, record, ann, b"%PDF ann v1", "first.pdf")
    _hand_in(api, bucket, record, api.create_student("bob"), b"%PDF bob", "b.pdf")
    export_id = _start(api)

    # When ann hands in again just before the builder reads her listed file: the recorder makes
    # the new one current and deletes the version the export listed
    def ann_hands_in_again(key: str) -> None:
        if key == first:
            _hand_in(api, bucket, record, ann, b"%PDF ann v2", "second.pdf")
            stored = bucket.keys()
            assert first not in stored

    _reading(monkeypatch, ann_hands_in_again)
    outcome = _build_queued(handler)

    # Then the export holds her newer, current file, and its manifest says so
    assert outcome == ["done"]
    archive = _zip(database_url, export_id)
    assert sorted(archive.namelist()) == ["ann/second.pdf", AUDIT_CHECKPOINT, AUDIT_LOG, "bob/b.pdf", MANIFEST]
    assert archive.read("ann/second.pdf") == b"%PDF ann v2"
    manifest = {row["nickname"]: row for row in csv.DictReader(io.StringIO(archive.read(MANIFEST).decode("utf-8-sig")))}
    current = api.call("get_student", "by_nickname", path_params={"nickname": "ann"}).body["current"]
    assert (manifest["ann"]["filename"], manifest["ann"]["path_in_zip"]) == ("second.pdf", "ann/second.pdf")
    assert (manifest["ann"]["verification_code"], manifest["ann"]["sha256"]) == (
        current["verification_code"],
        hashlib.sha256(b"%PDF ann v2").hexdigest(),
    )
    done = _status(api, export_id).body
    assert (done["status"], done["files_done"], done["files_total"]) == ("done", 2, 2)


def test_a_student_deleted_while_the_export_is_built_is_left_out(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaving = _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF ann", "a.pdf")
    _hand_in(api, bucket, record, api.create_student("bob"), b"%PDF bob", "b.pdf")
    export_id = _start(api)

    def delete_ann(key: str) -> None:
        if key == leaving:
            deleted = api.call("delete_student", "by_nickname", path_params={"nickname": "ann"})
            assert deleted.status == 204

    _reading(monkeypatch, delete_ann)

    assert _build_queued(handler) == ["done"]
    archive = _zip(database_url, export_id)
    assert sorted(archive.namelist()) == [AUDIT_CHECKPOINT, AUDIT_LOG, "bob/b.pdf", MANIFEST]
    assert "ann" not in archive.read(MANIFEST).decode("utf-8-sig")
    done = _status(api, export_id).body
    assert (done["files_done"], done["files_total"]) == (1, 1)


def test_a_file_that_changes_at_every_read_fails_the_export_saying_so(
    api: Api, bucket: Bucket, record: Record, handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.create_exam("restless", max_attempts=10)
    ann = api.create_student("ann", exam_id="restless")
    _hand_in(api, bucket, record, ann, b"%PDF ann v0", "a.pdf")
    export_id = _start(api, "restless")
    versions = iter(range(1, 10))

    _reading(
        monkeypatch, lambda key: _hand_in(api, bucket, record, ann, f"%PDF ann v{next(versions)}".encode(), "a.pdf")
    )

    assert _build_queued(handler) == ["failed"]
    failed = _status(api, export_id, "restless").body
    assert failed["error"] == (
        "The file of ann changed 3 times while the export was built; nothing was exported. Start the export again."
    )
    assert _under("exports/") == []


def test_a_file_missing_from_s3_fails_the_export_saying_so_at_once(
    api: Api, bucket: Bucket, record: Record, handler: Handler
) -> None:
    key = _hand_in(api, bucket, record, api.create_student("ann"), b"%PDF ann", "a.pdf")
    bucket.s3.delete_object(Bucket=BUCKET, Key=key, VersionId=bucket.latest[key])  # by hand, outside the product
    export_id = _start(api)

    assert _build_queued(handler) == ["failed"]  # on its first try: retrying would not bring it back
    assert _status(api, export_id).body["error"] == (
        "The recorded file of ann (a.pdf) is missing from S3; nothing was exported."
    )
