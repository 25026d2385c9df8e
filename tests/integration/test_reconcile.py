"""The reconcile job against PostgreSQL and S3 (moto): each kind of drift, made for real, repaired."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import psycopg
import pytest
from exam_depository import config

from local_stack.functions import LambdaContext, sample_event
from tests.integration.conftest import BUCKET, Api, Bucket

Record = Callable[..., dict[str, Any]]


@pytest.fixture
def reconcile(handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, int]]:
    # No grace: everything the test made is old enough to judge. The settings may have been read
    # already (creating the exam reads the rules): read them again.
    monkeypatch.setenv("RECONCILE_GRACE_S", "0")
    config.reset()

    def run() -> dict[str, int]:
        result: dict[str, int] = handler("reconcile_storage").lambda_handler(
            sample_event("reconcile_storage", "scheduled"), LambdaContext()
        )
        return result

    return run


def _form(api: Api, student: dict[str, Any]) -> dict[str, Any]:
    response = api.request_upload(student["upload_code"])
    assert response.status == 201, response.body
    return dict(response.body)


def _uploads(database_url: str) -> dict[str, tuple[str, bool]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT object_key, status, object_deleted_at IS NOT NULL FROM upload").fetchall()
    return {key: (status, deleted) for key, status, deleted in rows}


def test_each_kind_of_drift_is_repaired_and_a_second_run_finds_nothing(
    api: Api, bucket: Bucket, record: Record, reconcile: Callable[[], dict[str, int]], database_url: str
) -> None:
    student, other, third, fourth = (api.create_student(n) for n in ("a", "b", "c", "d"))
    # An object no upload form was issued for (written past the API, e.g. by hand)
    bucket.s3.put_object(Bucket=BUCKET, Key="submissions/stray/file.pdf", Body=b"stray")
    # A notification that never arrived: the object is stored, the upload still pending
    unnotified = _form(api, student)
    bucket.upload(unnotified, b"never notified")
    # A superseded file's form posted again after the recorder deleted the superseded version
    superseded = _form(api, other)
    bucket.upload(superseded, b"first")
    record(bucket.notification(superseded["fields"]["key"], 5))
    latest = _form(api, other)
    bucket.upload(latest, b"second")
    record(bucket.notification(latest["fields"]["key"], 6))
    bucket.upload(superseded, b"first again")
    # A current file whose version was removed from S3 for good, by hand
    lost = _form(api, third)
    lost_version = bucket.upload(lost, b"lost")
    record(bucket.notification(lost["fields"]["key"], 4))
    bucket.s3.delete_object(Bucket=BUCKET, Key=lost["fields"]["key"], VersionId=lost_version)
    # A current file "deleted" without a version: a delete marker hides bytes that are still there
    hidden = _form(api, fourth)
    bucket.upload(hidden, b"hidden")
    record(bucket.notification(hidden["fields"]["key"], 6))
    bucket.s3.delete_object(Bucket=BUCKET, Key=hidden["fields"]["key"])
    # A form that expired unused, and a live one
    expired_form, live_form = _form(api, third), _form(api, third)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE upload SET form_expires_at = now() - interval '1 hour' WHERE id = %s",
            (expired_form["upload_id"],),
        )

    report = reconcile()

    assert report == {
        "listed": 6,
        "recorded": 1,
        "deleted": 3,
        "confirmed_deleted": 0,
        "lost": 1,
        "unused_forms_dropped": 1,
        "failed": 0,
        "scans_landed": 0,
        "scans_overdue": 0,
    }
    assert bucket.keys() == sorted([unnotified["fields"]["key"], latest["fields"]["key"], hidden["fields"]["key"]])
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body
    assert progress["current"]["upload_id"] == unnotified["upload_id"]
    assert progress["current"]["size_bytes"] == len(b"never notified")
    uploads = _uploads(database_url)
    assert uploads[superseded["fields"]["key"]] == ("recorded", True)
    assert uploads[lost["fields"]["key"]] == ("recorded", True)
    assert expired_form["fields"]["key"] not in uploads
    assert uploads[live_form["fields"]["key"]] == ("pending", False)
    # The lost file's link is refused instead of pointing at nothing
    lost_code = api.call("get_student", "by_nickname", path_params={"nickname": "c"}).body["current"]
    link = api.call("get_download_url", "by_code", path_params={"verification_code": lost_code["verification_code"]})
    assert link.status == 410
    assert link.body["detail"].startswith("This file is no longer stored")
    # The hidden file is visible again, and its link serves it
    hidden_code = api.call("get_student", "by_nickname", path_params={"nickname": "d"}).body["current"]
    link = api.call("get_download_url", "by_code", path_params={"verification_code": hidden_code["verification_code"]})
    assert link.status == 200
    assert bucket.s3.get_object(Bucket=BUCKET, Key=hidden["fields"]["key"])["Body"].read() == b"hidden"

    assert reconcile() == {
        "listed": 3,
        "recorded": 0,
        "deleted": 0,
        "confirmed_deleted": 0,
        "lost": 0,
        "unused_forms_dropped": 0,
        "failed": 0,
        "scans_landed": 0,
        "scans_overdue": 0,
    }


def test_deletions_the_records_missed_are_confirmed_and_a_late_notification_changes_nothing(
    api: Api, bucket: Bucket, record: Record, reconcile: Callable[[], dict[str, int]], database_url: str
) -> None:
    # Given a superseded version deleted from S3 whose deletion was never marked, and an expired
    # submission whose version S3's lifecycle rule removed
    student, expired = api.create_student("a"), api.create_student("b")
    first, second = _form(api, student), _form(api, student)
    for form in (first, second):
        bucket.upload(form, b"content")
        record(bucket.notification(form["fields"]["key"], 7))
    old = _form(api, expired)
    old_version = bucket.upload(old, b"old")
    record(bucket.notification(old["fields"]["key"], 3))
    bucket.s3.delete_object(Bucket=BUCKET, Key=old["fields"]["key"], VersionId=old_version)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE upload SET object_deleted_at = NULL")
        conn.execute(
            "UPDATE submission SET expires_at = now() - interval '1 hour' WHERE upload_id = %s", (old["upload_id"],)
        )

    assert reconcile()["confirmed_deleted"] == 2

    uploads = _uploads(database_url)
    assert uploads[first["fields"]["key"]] == ("recorded", True)
    assert uploads[old["fields"]["key"]] == ("recorded", True)
    assert uploads[second["fields"]["key"]] == ("recorded", False)


def test_a_notification_arriving_after_the_job_recorded_its_object_keeps_the_code(
    api: Api, bucket: Bucket, record: Record, reconcile: Callable[[], dict[str, int]]
) -> None:
    student = api.create_student()
    form = _form(api, student)
    bucket.upload(form, b"late notification")
    assert reconcile()["recorded"] == 1
    code = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body

    record(bucket.notification(form["fields"]["key"], len(b"late notification")))

    again = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body
    assert again["current"]["verification_code"] == code["current"]["verification_code"]
    assert again["attempts_used"] == 1
    assert bucket.keys() == [form["fields"]["key"]]


def test_only_what_the_recorder_records_counts_as_recorded(
    api: Api, bucket: Bucket, reconcile: Callable[[], dict[str, int]], database_url: str
) -> None:
    # Given unnotified objects the recorder will not record: an empty file, and a form posted
    # twice (the second version is a reuse), beside one it records
    empty, twice, fine = (api.create_student(n) for n in ("a", "b", "c"))
    empty_form, twice_form, fine_form = _form(api, empty), _form(api, twice), _form(api, fine)
    bucket.upload(empty_form, b"")
    bucket.upload(twice_form, b"first")
    bucket.upload(twice_form, b"posted again")
    bucket.upload(fine_form, b"answers")

    # When the job records what no notification brought
    report = reconcile()

    # Then only the two files really recorded count (UnnotifiedObjectsRecorded is this figure)
    assert (report["recorded"], report["failed"]) == (2, 0)
    uploads = _uploads(database_url)
    assert uploads[empty_form["fields"]["key"]][0] == "rejected"
    assert uploads[twice_form["fields"]["key"]][0] == "recorded"
    assert uploads[fine_form["fields"]["key"]][0] == "recorded"
