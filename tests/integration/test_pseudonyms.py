"""Pseudonyms: every student has one, random, unique in its exam and never changed; an anonymous
exam names its students by it wherever a name leaves the examiner's roster (receipts, an export's
folders and manifest); the examiner's routes and roster map it back."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from exam_depository.domain import codes

from local_stack.functions import LambdaContext
from tests.integration.conftest import BUCKET, REGION, Api, Bucket

PSEUDONYM = re.compile(r"^anon-[0-9A-HJKMNP-TV-Z]{6}$")
Record = Callable[..., dict[str, Any]]
Handler = Callable[[str], ModuleType]


def _hand_in(api: Api, bucket: Bucket, record: Record, student: dict[str, Any], content: bytes) -> dict[str, Any]:
    """Upload and record a file; returns the student's current submission (with its receipt)."""
    form = api.request_upload(student["upload_code"], "answers.pdf").body
    bucket.upload(form, content)
    assert record(bucket.notification(form["fields"]["key"], len(content))) == {"batchItemFailures": []}
    status = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]})
    return dict(status.body["current"])


def _claims(receipt: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(receipt.split(".")[1] + "==")))


def _export(api: Api, handler: Handler, database_url: str, exam_id: str) -> bytes:
    """Start an export, build it as the queue would, and return the ZIP's bytes."""
    started = api.call("create_export", "start", path_params={"exam_id": exam_id})
    assert started.status == 202, started.body
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="export-jobs")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    event = {"Records": [{"messageId": "m", "body": message["Body"], "attributes": {"ApproximateReceiveCount": "1"}}]}
    assert handler("build_export").lambda_handler(event, LambdaContext()) == {"outcome": "done"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT object_key FROM export WHERE id = %s", (started.body["export_id"],)).fetchone()
    assert row is not None
    return bytes(boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=row[0])["Body"].read())


def _roster(api: Api, exam_id: str) -> list[dict[str, str]]:
    text = api.call("list_students", "roster_csv", path_params={"exam_id": exam_id}).body
    return list(csv.DictReader(io.StringIO(str(text).removeprefix("\ufeff"))))


def test_every_student_has_a_pseudonym_unique_in_its_exam_that_the_examiners_routes_show(api: Api) -> None:
    # Given students created one by one and by a roster import
    ann = api.create_student("ann")
    imported = api.call(
        "import_students",
        "roster",
        raw_body=base64.b64encode(
            ("nickname,first_name,last_name\n" + "".join(f"s{n},A,B\n" for n in range(40))).encode()
        ).decode(),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status == 201, imported.body

    # Then each has a pseudonym of the documented shape, unique in the exam, the same on every route
    pseudonyms = {s["nickname"]: s["pseudonym"] for s in [ann, *imported.body["created"]]}
    assert all(PSEUDONYM.match(p) for p in pseudonyms.values())
    assert len(set(pseudonyms.values())) == 41
    page = api.call("list_students", "first_page", query={"limit": "500"}).body["items"]
    assert {s["nickname"]: s["pseudonym"] for s in page} == pseudonyms
    detail = api.call("get_student", "by_nickname", path_params={"nickname": "ann"}).body
    assert detail["pseudonym"] == ann["pseudonym"]
    # And the roster a mail merge uses maps each pseudonym to its student
    assert {row["nickname"]: row["pseudonym"] for row in _roster(api, "physics-2026-12")} == pseudonyms


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pseudonyms drawn in the order given (a clash of random draws cannot be caused otherwise)."""
    queue: list[str] = []
    new_pseudonym = codes.new_pseudonym
    monkeypatch.setattr(codes, "new_pseudonym", lambda: queue.pop(0) if queue else new_pseudonym())
    return queue


def test_a_pseudonym_drawn_twice_in_one_exam_is_drawn_again(api: Api, drawn: list[str]) -> None:
    drawn.append("anon-7K3QX2")
    first = api.create_student("ann")
    drawn.extend(["anon-7K3QX2", "anon-7K3QX3"])

    second = api.create_student("bob")
    api.create_exam("other")
    drawn.append("anon-7K3QX2")
    elsewhere = api.create_student("cy", exam_id="other")

    assert (first["pseudonym"], second["pseudonym"]) == ("anon-7K3QX2", "anon-7K3QX3")
    assert elsewhere["pseudonym"] == "anon-7K3QX2"  # unique per exam, not across exams


def test_an_anonymous_exam_names_its_students_by_pseudonym_in_receipts_and_exports(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    # Given an anonymous exam whose students handed in
    api.create_exam("blind", anonymous=True)
    students = [api.create_student(n, exam_id="blind") for n in ("mobrien", "zlukasiewicz", "aardvark")]
    receipts = {s["nickname"]: _hand_in(api, bucket, record, s, b"%PDF answers")["receipt"] for s in students}
    pseudonyms = {s["nickname"]: s["pseudonym"] for s in students}

    # When the examiner exports it
    body = _export(api, handler, database_url, "blind")

    # Then receipts, folders and manifest name the pseudonym, and no nickname or name is anywhere
    assert {nickname: _claims(receipt)["nickname"] for nickname, receipt in receipts.items()} == pseudonyms
    for receipt in receipts.values():
        assert not [nickname for nickname in pseudonyms if nickname in json.dumps(_claims(receipt))]
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert list(manifest[0]) == [
        "pseudonym",
        "filename",
        "path_in_zip",
        "size_bytes",
        "sha256",
        "submitted_at",
        "late",
        "started_at",
        "due_at",
        "cutoff_at",
        "extra_time_percent",
        "extra_time_minutes",
        "verification_code",
        "scan",
        "held_back",
    ]
    # Listed by pseudonym: an order by nickname would tell who is who to anyone with the roster
    assert [row["pseudonym"] for row in manifest] == sorted(pseudonyms.values())
    assert sorted(archive.namelist()) == sorted(
        ["audit-checkpoint.jwt", "audit.csv", "manifest.csv", *(f"{p}/answers.pdf" for p in pseudonyms.values())]
    )
    log = archive.read("audit.csv").decode()
    for name in [*pseudonyms, "Mary-Ann", "O'Brien"]:
        assert name.encode() not in body
        assert name not in log  # the audit log names students by pseudonym only
    # And the examiner's roster maps each pseudonym back to its student
    assert {row["pseudonym"]: row["nickname"] for row in _roster(api, "blind")} == {p: n for n, p in pseudonyms.items()}


def test_an_exam_that_is_not_anonymous_keeps_nicknames(
    api: Api, bucket: Bucket, record: Record, handler: Handler, database_url: str
) -> None:
    ann = api.create_student("ann")
    receipt = _hand_in(api, bucket, record, ann, b"%PDF ann")["receipt"]

    body = _export(api, handler, database_url, "physics-2026-12")

    assert _claims(receipt)["nickname"] == "ann"
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["ann/answers.pdf", "audit-checkpoint.jwt", "audit.csv", "manifest.csv"]
    assert ann["pseudonym"] not in archive.read("manifest.csv").decode("utf-8-sig")
    # The audit log names every student by pseudonym, anonymous exam or not
    assert ann["pseudonym"] in archive.read("audit.csv").decode()
    assert "ann" not in archive.read("audit.csv").decode().replace(ann["pseudonym"], "")
