"""The malware gate, end to end in process: GuardDuty's EventBridge events, as the scan queue
delivers them, recorded by the scan results' function (idempotent, order-free, a result before
the recording kept); every download path held back until the scan ends clean; the owner's audited
release of a file that could not be scanned; the reconcile job landing a lost result from the tag."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError
from exam_depository import config
from exam_depository.adapters import db, storage
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.scans import TAG_KEY, ScanResult
from exam_depository.usecases import checkpoints, expiry

from local_stack.functions import LambdaContext, sample_event
from tests.faults import printed_metric
from tests.integration.conftest import BUCKET, EXAM, OTHER_EXAMINER, REGION, Api, ApiResponse, Bucket
from tests.integration.test_exports import _build_queued
from tests.unit.test_scans import SUPERSEDES

Record = Callable[..., dict[str, Any]]
Handler = Callable[[str], ModuleType]
PLAN = "arn:aws:guardduty:eu-west-1:123456789012:malware-protection-plan/b4c7f464ab3a4EXAMPLE"
EICAR_NAME = "EICAR-Test-File (not a virus)"
_SCAN_STATUS = {
    "NO_THREATS_FOUND": "COMPLETED",
    "THREATS_FOUND": "COMPLETED",
    "UNSUPPORTED": "SKIPPED",
    "ACCESS_DENIED": "SKIPPED",
    "FAILED": "FAILED",
}


def guardduty_event(
    key: str,
    version_id: str,
    status: str,
    *,
    at: datetime | None = None,
    event_id: str | None = None,
    threats: list[str] | None = None,
    reasons: list[str] | None = None,
    bucket: str = BUCKET,
) -> dict[str, Any]:
    """GuardDuty Malware Protection for S3's event, exactly as EventBridge delivers it to the queue."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty",
        "account": "123456789012",
        "time": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [PLAN],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": _SCAN_STATUS[status],
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "versionId": version_id,
                "s3Throttled": False,
            },
            "scanResultDetails": {
                "scanResultStatus": status,
                "threats": None if threats is None else [{"name": name} for name in threats],
                "statusReasons": reasons,
            },
        },
    }


@pytest.fixture
def scanning(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are scanned (template.yaml's MalwareScanning other than Off)."""
    monkeypatch.setenv("MALWARE_SCANNING", "on")
    config.reset()


@pytest.fixture
def deliver(handler: Handler, scanning: None) -> Callable[..., dict[str, Any]]:
    """The scan queue's batch of these events, each a message whose body is the event."""
    template = sample_event("record_scan_results", "no_threats_found")["Records"][0]

    def send(*events: dict[str, Any] | str) -> dict[str, Any]:
        records = []
        for index, event in enumerate(events):
            record = copy.deepcopy(template)
            record["messageId"] = f"scan-{index}"
            record["body"] = event if isinstance(event, str) else json.dumps(event)
            records.append(record)
        result: dict[str, Any] = handler("record_scan_results").lambda_handler({"Records": records}, LambdaContext())
        return result

    return send


@pytest.fixture
def student(api: Api, scanning: None) -> dict[str, Any]:
    return api.create_student("ann")


def _hand_in(api: Api, bucket: Bucket, record: Record, student: dict[str, Any], content: bytes) -> tuple[str, str]:
    """Upload and record a file: its key and version."""
    form = api.request_upload(student["upload_code"]).body
    version = bucket.upload(form, content)
    assert record(bucket.notification(form["fields"]["key"], len(content))) == {"batchItemFailures": []}
    return str(form["fields"]["key"]), version


def _status(api: Api, student: dict[str, Any]) -> dict[str, Any]:
    """The student's current file, as the examiner's roster shows it."""
    response = api.call("get_student", "by_nickname", path_params={"nickname": student["nickname"]})
    assert response.status == 200, response.body
    current: dict[str, Any] = response.body["current"]
    return current


def _link(api: Api, code: str) -> ApiResponse:
    return api.call("get_download_url", "by_code", path_params={"verification_code": code})


def _verification(api: Api, code: str) -> dict[str, Any]:
    response = api.call("get_verification", "by_code", path_params={"verification_code": code})
    assert response.status == 200, response.body
    return dict(response.body)


def _audit(api: Api, action: str) -> list[dict[str, Any]]:
    response = api.call("list_audit", "first_page", query={"action": action})
    assert response.status == 200, response.body
    return list(response.body["items"])


def _object_scan(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT version_id, result, event_id, threats, recorded_at FROM object_scan ORDER BY version_id"
        ).fetchall()


def test_a_file_is_downloadable_only_once_its_scan_ends_clean(
    api: Api, bucket: Bucket, record: Record, deliver: Callable[..., dict[str, Any]], student: dict[str, Any]
) -> None:
    # Given a file handed in while files are scanned
    key, version = _hand_in(api, bucket, record, student, b"%PDF clean answers")
    current = _status(api, student)
    own = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body["current"]
    assert (own["scan"], own["downloadable"]) == ("scanning", False)
    code = current["verification_code"]
    assert (current["scan"], current["downloadable"]) == ("scanning", False)

    # Then no link is given while it is being scanned, and the verification says why
    refused = _link(api, code)
    assert (refused.status, refused.body["type"]) == (409, "urn:exam-depository:problem:not-scanned")
    assert refused.body["scan"] == "scanning"
    shown = _verification(api, code)
    assert (shown["scan"], shown["downloadable"]) == ("scanning", False)
    assert _audit(api, "verification.link_issued") == []  # a refusal issues nothing

    # When GuardDuty's result arrives
    assert deliver(guardduty_event(key, version, "NO_THREATS_FOUND")) == {"batchItemFailures": []}

    # Then the file is clean everywhere, the student's own page too, and its link serves its bytes
    own = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body["current"]
    assert (own["scan"], own["scan_detail"], own["downloadable"]) == ("clean", None, True)
    assert (_status(api, student)["scan"], _status(api, student)["downloadable"]) == ("clean", True)
    shown = _verification(api, code)
    assert (shown["scan"], shown["scan_detail"], shown["downloadable"]) == ("clean", None, True)
    link = _link(api, code)
    assert link.status == 200, link.body
    assert bucket.read(key, version) == b"%PDF clean answers"
    check = api.call("verify_receipt", "not_a_receipt", body={"receipt": current["receipt"]}).body
    assert (check["genuine"], check["scan"]) == (True, "clean")
    roster = api.call("list_students", "first_page").body["items"]
    assert [(item["current"]["scan"], item["current"]["downloadable"]) for item in roster] == [("clean", True)]
    # A clean result is no news: the log records none
    assert _audit(api, "submission.scan_threat") == []


def test_a_result_that_arrives_before_the_recording_is_not_lost(
    api: Api, bucket: Bucket, record: Record, deliver: Callable[..., dict[str, Any]], student: dict[str, Any]
) -> None:
    # Given a file scanned before its notification reached the recorder
    form = api.request_upload(student["upload_code"]).body
    key = form["fields"]["key"]
    version = bucket.upload(form, b"MZ pretend program")
    assert deliver(guardduty_event(key, version, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}

    # When the recorder records it
    assert record(bucket.notification(key, 18)) == {"batchItemFailures": []}

    # Then it is recorded as the threat it is, and never served
    current = _status(api, student)
    assert (current["scan"], current["scan_detail"], current["downloadable"]) == ("threat", EICAR_NAME, False)
    refused = _link(api, current["verification_code"])
    assert (refused.status, refused.body["type"]) == (409, "urn:exam-depository:problem:threat")
    assert (refused.body["scan"], refused.body["scan_detail"]) == ("threat", EICAR_NAME)


def test_duplicate_and_older_results_change_nothing_and_append_nothing(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    database_url: str,
) -> None:
    # Given a file found to hold malware: one event in the exam's log, naming the student by pseudonym
    key, version = _hand_in(api, bucket, record, student, b"X5O!P%@AP (a test file)")
    at = datetime.now(UTC).replace(microsecond=0)
    threat = guardduty_event(key, version, "THREATS_FOUND", at=at, threats=[EICAR_NAME])
    assert deliver(threat) == {"batchItemFailures": []}
    (event,) = _audit(api, "submission.scan_threat")
    current = _status(api, student)
    assert (event["actor"], event["role"], event["target"]) == (
        "system:scanner",
        None,
        f"student:{student['pseudonym']}",
    )
    assert event["after"] == {
        "upload_id": current["upload_id"],
        "scan": "threat",
        "detail": EICAR_NAME,
        "verification": current["verification_code"].replace("-", "")[:4] + "…",
    }
    stored = _object_scan(database_url)

    # When the same event comes again, an older clean one, and a later clean one (a rescan), in one batch
    older = guardduty_event(key, version, "NO_THREATS_FOUND", at=at - timedelta(hours=1))
    later = guardduty_event(key, version, "NO_THREATS_FOUND", at=at + timedelta(hours=1))
    assert deliver(threat, older, later, threat) == {"batchItemFailures": []}

    # Then nothing changed: still a threat, one event, the stored result untouched
    assert _status(api, student)["scan"] == "threat"
    assert len(_audit(api, "submission.scan_threat")) == 1
    assert _object_scan(database_url) == stored


def test_a_rescan_after_a_failure_supersedes_it_and_an_older_failure_does_not(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
) -> None:
    key, version = _hand_in(api, bucket, record, student, b"%PDF answers")
    at = datetime.now(UTC).replace(microsecond=0)

    # A failed scan: the file is held back, and the log says so
    assert deliver(guardduty_event(key, version, "FAILED", at=at)) == {"batchItemFailures": []}
    current = _status(api, student)
    assert (current["scan"], current["downloadable"]) == ("failed", False)
    assert _link(api, current["verification_code"]).body["type"] == "urn:exam-depository:problem:not-scanned"
    assert len(_audit(api, "submission.scan_failed")) == 1

    # A rescan's clean result replaces it; the older failure delivered again changes nothing
    assert deliver(guardduty_event(key, version, "NO_THREATS_FOUND", at=at + timedelta(minutes=5))) == {
        "batchItemFailures": []
    }
    assert deliver(guardduty_event(key, version, "FAILED", at=at)) == {"batchItemFailures": []}
    assert _status(api, student)["scan"] == "clean"
    assert _link(api, current["verification_code"]).status == 200
    assert len(_audit(api, "submission.scan_failed")) == 1


def test_events_about_no_submission_are_ignored_and_malformed_ones_retried(
    api: Api, deliver: Callable[..., dict[str, Any]], student: dict[str, Any], database_url: str
) -> None:
    validation = guardduty_event("malware-protection-resource-validation-object", "v1", "NO_THREATS_FOUND")
    unknown_key = guardduty_event("submissions/no-such-upload/answers.pdf", "v1", "NO_THREATS_FOUND")
    other_bucket = guardduty_event("submissions/x/answers.pdf", "v1", "NO_THREATS_FOUND", bucket="another")
    malformed = guardduty_event("submissions/x/answers.pdf", "v1", "NO_THREATS_FOUND")
    malformed["detail"]["scanResultDetails"]["scanResultStatus"] = "PROBABLY_FINE"

    result = deliver(validation, unknown_key, other_bucket, malformed, "not json")

    # Only what cannot be read fails (and reaches the dead-letter queue after its retries)
    assert result == {"batchItemFailures": [{"itemIdentifier": "scan-3"}, {"itemIdentifier": "scan-4"}]}
    assert _object_scan(database_url) == []


def test_exports_hold_back_what_may_not_be_downloaded_and_the_manifest_says_why(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    database_url: str,
    scanning: None,
) -> None:
    # Given a clean file, a threat, one still being scanned and one that could not be scanned
    files = {name: b"%PDF " + name.encode() for name in ("ann", "bob", "cy", "dee")}
    keys = {}
    for name, content in files.items():
        keys[name] = _hand_in(api, bucket, record, api.create_student(name), content)
    assert deliver(
        guardduty_event(*keys["ann"], "NO_THREATS_FOUND"),
        guardduty_event(*keys["bob"], "THREATS_FOUND", threats=[EICAR_NAME]),
        guardduty_event(*keys["dee"], "UNSUPPORTED", reasons=["PASSWORD_PROTECTED"]),
    ) == {"batchItemFailures": []}

    # When the examiner exports
    started = api.call("create_export", "start", path_params={"exam_id": EXAM})
    assert started.status == 202, started.body
    assert set(_build_queued(handler)) <= {"done"}

    # Then the ZIP holds the clean file only; the manifest lists all four, saying why three are missing
    done = api.call("get_export", "progress", path_params={"exam_id": EXAM, "export_id": started.body["export_id"]})
    assert (done.body["status"], done.body["files_done"]) == ("done", 1), done.body
    archive = _zip(database_url, started.body["export_id"])
    assert [name for name in archive.namelist() if name.endswith(".pdf")] == ["ann/answers.pdf"]
    assert archive.read("ann/answers.pdf") == files["ann"]
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert list(manifest[0])[-2:] == ["scan", "held_back"]
    assert [(row["nickname"], row["path_in_zip"], row["scan"], row["held_back"]) for row in manifest] == [
        ("ann", "ann/answers.pdf", "clean", ""),
        ("bob", "", "threat", f"malware found: {EICAR_NAME}"),
        ("cy", "", "scanning", "not scanned yet: export again in a few minutes"),
        ("dee", "", "unsupported", "could not be scanned (PASSWORD_PROTECTED): the exam's owner can release it"),
    ]


@contextmanager
def threat_deny(bucket: Bucket) -> Iterator[None]:
    """The bucket policy's DenyThreatDownloads as S3 applies it to the export builder's role (which
    it does not exempt): a GetObject of a version tagged THREATS_FOUND answered AccessDenied,
    S3's code for it. moto evaluates no bucket policy; the deployed suite meets the real statement
    (tests/deployed/test_quarantine.py)."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        tags = bucket.s3.get_object_tagging(Bucket=params["Bucket"], Key=params["Key"], VersionId=params["VersionId"])
        if {"Key": TAG_KEY, "Value": "THREATS_FOUND"} in tags["TagSet"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    events = storage.client().meta.events
    events.register("before-parameter-build.s3.GetObject", refuse)
    try:
        yield
    finally:
        events.unregister("before-parameter-build.s3.GetObject", refuse)


def test_a_file_tagged_a_threat_after_the_export_listed_it_is_held_back_and_the_export_done(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    database_url: str,
) -> None:
    # Given two files scanned clean; then a rescan finds malware in bob's: GuardDuty tags the
    # version, and its result is still on its way (not recorded: the database says clean)
    files = {name: b"%PDF " + name.encode() for name in ("ann", "bob")}
    keys = {name: _hand_in(api, bucket, record, api.create_student(name), content) for name, content in files.items()}
    assert deliver(*(guardduty_event(*key, "NO_THREATS_FOUND") for key in keys.values())) == {"batchItemFailures": []}
    key, version = keys["bob"]
    bucket.s3.put_object_tagging(
        Bucket=BUCKET, Key=key, VersionId=version, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "THREATS_FOUND"}]}
    )

    # When the examiner exports, the bucket refusing the tagged version to the builder
    started = api.call("create_export", "start", path_params={"exam_id": EXAM})
    assert started.status == 202, started.body
    with threat_deny(bucket):
        assert set(_build_queued(handler)) <= {"done"}

        # And a refusal of a version that is not tagged a threat is a fault, not a threat
        refusal = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        with refused_reads(refusal), pytest.raises(ServiceUnavailable):
            storage.stream_version(*keys["ann"])

    # Then the export is done without it, the manifest saying it is a threat, as a recorded one
    done = api.call("get_export", "progress", path_params={"exam_id": EXAM, "export_id": started.body["export_id"]})
    assert (done.body["status"], done.body["files_done"]) == ("done", 1), done.body
    archive = _zip(database_url, started.body["export_id"])
    assert [name for name in archive.namelist() if name.endswith(".pdf")] == ["ann/answers.pdf"]
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [(row["nickname"], row["path_in_zip"], row["scan"], row["held_back"]) for row in manifest] == [
        ("ann", "ann/answers.pdf", "clean", ""),
        ("bob", "", "threat", "malware found: unnamed"),
    ]


@contextmanager
def refused_reads(refusal: ClientError) -> Iterator[None]:
    """Every GetObject of the product's client answered with `refusal`."""

    def refuse(**_: Any) -> None:
        raise refusal

    events = storage.client().meta.events
    events.register("before-parameter-build.s3.GetObject", refuse)
    try:
        yield
    finally:
        events.unregister("before-parameter-build.s3.GetObject", refuse)


def _zip(database_url: str, export_id: str) -> zipfile.ZipFile:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT object_key FROM export WHERE id = %s", (export_id,)).fetchone()
    assert row is not None
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=row[0])["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def _release(api: Api, upload_id: str, reason: str = "Opened with the student present.") -> ApiResponse:
    return api.call(
        "release_submission", "owner", path_params={"exam_id": EXAM, "upload_id": upload_id}, body={"reason": reason}
    )


def test_the_owner_releases_a_file_that_could_not_be_scanned_once_and_audited(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
) -> None:
    # Given a file GuardDuty could not scan (password-protected), and a co-examiner and a grader
    key, version = _hand_in(api, bucket, record, student, b"%PDF encrypted")
    assert deliver(guardduty_event(key, version, "UNSUPPORTED", reasons=["PASSWORD_PROTECTED"])) == {
        "batchItemFailures": []
    }
    current = _status(api, student)
    assert (current["scan"], current["scan_detail"]) == ("unsupported", "PASSWORD_PROTECTED")
    assert _link(api, current["verification_code"]).status == 409
    (told,) = _audit(api, "submission.scan_unsupported")
    assert told["after"]["detail"] == "PASSWORD_PROTECTED"
    co_examiner = api.as_key(OTHER_EXAMINER)
    co_examiner.join(api, "co_examiner")

    # Then only the owner may release it
    refused = _release(co_examiner, current["upload_id"])
    assert (refused.status, refused.body["type"]) == (403, "urn:exam-depository:problem:role-forbids")
    assert refused.body["action"] == "submission.release"
    assert _audit(api, "submission.released") == []

    # When the owner releases it, saying why, then again
    released = _release(api, current["upload_id"])
    again = _release(api, current["upload_id"], "Another reason")

    # Then it is released (the same answer twice), one event, and its link serves it
    assert released.status == 200, released.body
    assert released.body["scan_released_at"] is not None
    assert (released.body["scan"], released.body["downloadable"]) == ("unsupported", True)
    assert again.status == 200
    assert again.body == released.body
    (event,) = _audit(api, "submission.released")
    assert event["role"] == "owner"
    assert event["target"] == f"student:{student['pseudonym']}"
    assert event["after"] == {
        "upload_id": current["upload_id"],
        "scan": "unsupported",
        "detail": "PASSWORD_PROTECTED",
        "reason": "Opened with the student present.",
    }
    assert _link(api, current["verification_code"]).status == 200
    assert _verification(api, current["verification_code"])["downloadable"] is True


@pytest.mark.parametrize(("status", "scan"), [("THREATS_FOUND", "threat"), ("NO_THREATS_FOUND", "clean")])
def test_a_threat_is_never_released_and_a_clean_file_needs_no_release(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    status: str,
    scan: str,
) -> None:
    key, version = _hand_in(api, bucket, record, student, b"%PDF")
    assert deliver(guardduty_event(key, version, status, threats=[EICAR_NAME] if scan == "threat" else None)) == {
        "batchItemFailures": []
    }
    refused = _release(api, _status(api, student)["upload_id"])
    assert (refused.status, refused.body["type"], refused.body["scan"]) == (
        409,
        "urn:exam-depository:problem:not-releasable",
        scan,
    )
    assert _audit(api, "submission.released") == []
    assert _release(api, str(uuid.uuid4())).status == 404


def test_the_reconcile_job_lands_a_lost_result_from_the_versions_tag(
    api: Api,
    bucket: Bucket,
    record: Record,
    handler: Handler,
    scanning: None,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two files recorded an hour ago whose results never came; GuardDuty tagged one of them
    tagged, untagged = api.create_student("ann"), api.create_student("bob")
    key, version = _hand_in(api, bucket, record, tagged, b"%PDF ann")
    _hand_in(api, bucket, record, untagged, b"%PDF bob")
    bucket.s3.put_object_tagging(
        Bucket=BUCKET, Key=key, VersionId=version, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "THREATS_FOUND"}]}
    )
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE submission SET recorded_at = now() - interval '1 hour'")
    monkeypatch.setenv("RECONCILE_GRACE_S", "0")
    config.reset()

    # When the reconcile job runs
    report = handler("reconcile_storage").lambda_handler(
        sample_event("reconcile_storage", "scheduled"), LambdaContext()
    )

    # Then the tagged file's result is recorded as its event's would have been; the other is counted overdue
    assert (report["scans_landed"], report["scans_overdue"], report["failed"]) == (1, 1, 0)
    assert _status(api, tagged)["scan"] == "threat"
    assert _status(api, untagged)["scan"] == "scanning"
    (event,) = _audit(api, "submission.scan_threat")
    assert event["target"] == f"student:{tagged['pseudonym']}"


@pytest.mark.parametrize(("new", "old", "replaces"), [case for case in SUPERSEDES if case[1] is not None])
def test_the_sql_keeps_the_result_the_rule_keeps(
    api: Api, student: dict[str, Any], new: ScanResult, old: ScanResult, replaces: bool
) -> None:
    """The unit tests' table of which result stands, run through the statement that stores results."""
    key = api.request_upload(student["upload_code"]).body["fields"]["key"]
    with db.transaction() as conn:
        target = db.scans.lock_uploads_by_key(conn, [key])[key]
        db.scans.apply(conn, target, replace(old, key=key))
        db.scans.apply(conn, target, replace(new, key=key))
        stored = conn.execute(
            "SELECT result, scanned_at, event_id FROM object_scan WHERE upload_id = %s", (target.upload_id,)
        ).fetchone()
    assert stored is not None
    kept = new if replaces else old
    assert (stored["result"], stored["scanned_at"], stored["event_id"]) == (kept.status, kept.scanned_at, kept.event_id)


def test_a_superseded_threat_is_kept_quarantined_until_its_retention_then_deleted(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a threat, then a clean copy handed in after it
    threat = _hand_in(api, bucket, record, student, b"infected answers")
    assert deliver(guardduty_event(*threat, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}
    clean = _hand_in(api, bucket, record, student, b"%PDF clean copy")
    expires_at = datetime.fromisoformat(_status(api, student)["expires_at"])

    # Then the superseded threat's bytes stay (the examiner's record), through the reconcile job too
    monkeypatch.setenv("RECONCILE_GRACE_S", "0")
    config.reset()
    handler("reconcile_storage").lambda_handler(sample_event("reconcile_storage", "scheduled"), LambdaContext())
    assert sorted(bucket.versions()) == sorted([threat, clean])

    # And the expiry job deletes it at its retention, not before
    assert (
        expiry.expire_submissions(expires_at - timedelta(minutes=1), checkpoint=checkpoints.sign_checkpoint).deleted
        == 0
    )
    assert sorted(bucket.versions()) == sorted([threat, clean])
    report = expiry.expire_submissions(expires_at, checkpoint=checkpoints.sign_checkpoint)
    assert report.deleted == 2
    assert bucket.versions() == []


def test_results_racing_their_recordings_are_never_lost(
    api: Api, bucket: Bucket, record: Record, scanning: None
) -> None:
    """The recorder and the scan results' function, at once: both lock the upload's row first, so
    whichever commits second sees the other's work (a result is taken up by the recording, or a
    recording by the result); none is left `scanning`."""
    from exam_depository.adapters.storage import objects_created
    from exam_depository.domain.scans import scan_result_of
    from exam_depository.usecases import recorder, scans

    arrivals = []
    for n in range(8):
        student = api.create_student(f"s{n}")
        form = api.request_upload(student["upload_code"]).body
        key = form["fields"]["key"]
        version = bucket.upload(form, b"%PDF " + bytes([65 + n]))
        status = "THREATS_FOUND" if n % 2 else "NO_THREATS_FOUND"
        result = scan_result_of(guardduty_event(key, version, status), bucket=BUCKET, prefix="submissions/")
        created = objects_created({"Records": [bucket.notification(key, 6)]})
        arrivals.append((student, created, result, "threat" if n % 2 else "clean"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        recordings, results = [], []
        for _, created, result, _ in arrivals:  # each recording and its result submitted together
            recordings.append(pool.submit(recorder.record_objects, created))
            results.append(pool.submit(scans.record_scan_results, [result]))
        assert [future.result(timeout=120).failed for future in recordings] == [set()] * len(arrivals)
        assert [future.result(timeout=120).failed for future in results] == [set()] * len(arrivals)

    assert [_status(api, student)["scan"] for student, *_ in arrivals] == [state for *_, state in arrivals]


def test_the_function_counts_states_moved_and_results_unmatched_for_the_alarms(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, version = _hand_in(api, bucket, record, student, b"infected")
    capsys.readouterr()
    threat = guardduty_event(key, version, "THREATS_FOUND", threats=[EICAR_NAME])
    unknown = guardduty_event("submissions/no-such-upload/a.pdf", "v1", "NO_THREATS_FOUND")
    validation = guardduty_event("malware-protection-resource-validation-object", "v1", "NO_THREATS_FOUND")
    assert deliver(threat, threat, unknown, validation) == {"batchItemFailures": []}

    # CloudWatch's embedded metric format, one line per metric set: what the template's alarms watch
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    states = [(item["state"], item["ScanResults"]) for item in emitted if "ScanResults" in item]
    assert states == [("threat", [1.0])]  # the repeated result moved nothing
    (counts,) = [item for item in emitted if "ScanResultsUnmatched" in item]
    assert (counts["ScanResultsUnmatched"], counts["ScanResultsIgnored"]) == ([1.0], [1.0])


def _history(api: Api, student: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file the student handed in, as the examiner's student page shows them."""
    response = api.call("get_student", "by_nickname", path_params={"nickname": student["nickname"]})
    assert response.status == 200, response.body
    return list(response.body["submissions"])


def _roster(api: Api) -> list[dict[str, Any]]:
    response = api.call("list_students", "first_page")
    assert response.status == 200, response.body
    return list(response.body["items"])


def _reconcile(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("RECONCILE_GRACE_S", "0")
    config.reset()
    report: dict[str, Any] = handler("reconcile_storage").lambda_handler(
        sample_event("reconcile_storage", "scheduled"), LambdaContext()
    )
    return report


def test_a_threat_found_in_a_later_file_never_loses_the_clean_file_before_it(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clean answer, then a second try whose scan finds a threat (a false positive, say)
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    first_code = _status(api, student)["verification_code"]
    second = _hand_in(api, bucket, record, student, b"%PDF second try")

    # Then while the second is being scanned, the first is kept and served in its place
    assert bucket.versions() == sorted([first, second])
    assert _link(api, first_code).status == 200

    # When the second's scan finds a threat
    assert deliver(guardduty_event(*second, "THREATS_FOUND", threats=["Heur.FalsePositive"])) == {
        "batchItemFailures": []
    }

    # Then nothing of the student's is lost: the threat is quarantined, the first file still served,
    # and the reconcile job keeps both
    current = _status(api, student)
    assert (current["scan"], current["downloadable"], current["earlier_file_kept"]) == ("threat", False, True)
    assert _link(api, current["verification_code"]).status == 409
    assert _link(api, first_code).status == 200
    assert _verification(api, first_code)["downloadable"] is True
    history = _history(api, student)
    assert [(item["scan"], item["status"], item["stands_in"], item["downloadable"]) for item in history] == [
        ("clean", "superseded", True, True),
        ("threat", "current", False, False),
    ]
    (roster_row,) = _roster(api)
    assert (roster_row["current"]["scan"], roster_row["current"]["earlier_file_kept"]) == ("threat", True)
    _reconcile(handler, monkeypatch)
    assert bucket.versions() == sorted([first, second])

    # When a third try is recorded, it too is kept in place of only while it is scanned
    third = _hand_in(api, bucket, record, student, b"%PDF third try")
    assert bucket.versions() == sorted([first, second, third])
    assert _link(api, first_code).status == 200
    assert deliver(guardduty_event(*third, "NO_THREATS_FOUND")) == {"batchItemFailures": []}

    # Then once the third can be downloaded, its result deletes the first, as any superseded
    # file, and keeps the quarantined threat for its retention; the reconcile job agrees
    assert bucket.versions() == sorted([second, third])
    assert _reconcile(handler, monkeypatch)["deleted"] == 0
    assert bucket.versions() == sorted([second, third])
    assert _link(api, first_code).status == 410
    assert _link(api, _status(api, student)["verification_code"]).status == 200
    assert _status(api, student)["earlier_file_kept"] is False
    assert [item["stands_in"] for item in _history(api, student)] == [False, False, False]


def test_a_file_still_being_scanned_when_the_student_hands_in_again_is_kept_and_stands_in_for_a_threat(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a student who hands in twice within the minutes a scan takes
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    first_code = _status(api, student)["verification_code"]
    second = _hand_in(api, bucket, record, student, b"%PDF second try")

    # Then the first, whose scan has not ended, is kept: it may turn out the answer to serve
    assert bucket.versions() == sorted([first, second])
    assert _link(api, first_code).status == 410  # not served: it cannot be downloaded yet either
    _reconcile(handler, monkeypatch)
    assert bucket.versions() == sorted([first, second])

    # When the first ends clean and the second is found a threat (a false positive, say)
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    assert deliver(guardduty_event(*second, "THREATS_FOUND", threats=["Heur.FalsePositive"])) == {
        "batchItemFailures": []
    }

    # Then the first answer stands in for the threat: served by its code, kept by the reconcile job
    assert _link(api, first_code).status == 200
    assert [(item["scan"], item["stands_in"], item["downloadable"]) for item in _history(api, student)] == [
        ("clean", True, True),
        ("threat", False, False),
    ]
    assert _status(api, student)["earlier_file_kept"] is True
    _reconcile(handler, monkeypatch)
    assert bucket.versions() == sorted([first, second])


def test_the_newest_clean_earlier_file_stands_in_and_the_older_one_goes(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clean answer A, then B, then C handed in while B is still being scanned
    a = _hand_in(api, bucket, record, student, b"%PDF A")
    assert deliver(guardduty_event(*a, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    a_code = _status(api, student)["verification_code"]
    b = _hand_in(api, bucket, record, student, b"%PDF B, the better answer")
    b_code = _status(api, student)["verification_code"]
    c = _hand_in(api, bucket, record, student, b"%PDF C")

    # Then all three are kept while B's and C's scans run, A (the one that can be downloaded) served
    assert bucket.versions() == sorted([a, b, c])
    assert (_link(api, a_code).status, _link(api, b_code).status) == (200, 410)

    # When B ends clean and C is a threat
    assert deliver(guardduty_event(*b, "NO_THREATS_FOUND"), guardduty_event(*c, "THREATS_FOUND", threats=["X"])) == {
        "batchItemFailures": []
    }

    # Then B, the student's later clean answer, stands in for C, not A; and A goes at once
    assert (_link(api, b_code).status, _link(api, a_code).status) == (200, 410)
    assert [(item["scan"], item["stands_in"]) for item in _history(api, student)] == [
        ("clean", False),
        ("clean", True),
        ("threat", False),
    ]
    assert bucket.versions() == sorted([b, c])
    assert _reconcile(handler, monkeypatch)["deleted"] == 0
    assert bucket.versions() == sorted([b, c])
    assert _link(api, b_code).status == 200


def test_an_earlier_file_is_kept_while_a_released_later_one_may_still_turn_out_a_threat(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clean answer, and a later one whose overdue scan the owner released
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    first_code = _status(api, student)["verification_code"]
    second = _hand_in(api, bucket, record, student, b"%PDF second try")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE submission SET recorded_at = now() - interval '61 minutes' WHERE status = 'current'")
    assert _release(api, _status(api, student)["upload_id"]).status == 200

    # When the reconcile job runs, the released file served, its scan not ended
    _reconcile(handler, monkeypatch)

    # Then the earlier file is kept, not served (the released one is)
    assert bucket.versions() == sorted([first, second])
    assert _link(api, first_code).status == 410

    # And when the released file's scan finds a threat after all, the earlier file stands in for it
    assert deliver(guardduty_event(*second, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}
    assert _link(api, first_code).status == 200


def test_a_file_kept_in_place_of_a_later_one_goes_once_the_later_one_is_clean_and_at_its_retention(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a clean answer and a later one still being scanned
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    _hand_in(api, bucket, record, student, b"%PDF second try")
    expires_at = datetime.fromisoformat(_status(api, student)["expires_at"])

    # When the expiry job runs at their retention, the later one's scan still not ended
    report = expiry.expire_submissions(expires_at, checkpoint=checkpoints.sign_checkpoint)

    # Then both go: the first was kept only in place of the second, within its own retention
    assert report.deleted == 2
    assert bucket.versions() == []


def test_the_recorder_deletes_a_superseded_file_at_once_when_the_later_one_is_already_clean(
    api: Api, bucket: Bucket, record: Record, deliver: Callable[..., dict[str, Any]], student: dict[str, Any]
) -> None:
    # Given a clean answer, and a second whose result arrives before its recording
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    form = api.request_upload(student["upload_code"]).body
    key = form["fields"]["key"]
    version = bucket.upload(form, b"%PDF second")
    assert deliver(guardduty_event(key, version, "NO_THREATS_FOUND")) == {"batchItemFailures": []}

    # When the second is recorded
    assert record(bucket.notification(key, 11)) == {"batchItemFailures": []}

    # Then the first goes at once, as before: nothing needs it kept
    assert bucket.versions() == [(key, version)]


def _marked_deleted(database_url: str) -> list[bool]:
    """Whether each of the student's used forms' versions is marked deleted from S3, in the order issued."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT object_deleted_at IS NOT NULL FROM upload ORDER BY issue_seq").fetchall()
    return [row[0] for row in rows]


@contextmanager
def counted_deletes(refusal: ClientError | None = None) -> Iterator[list[str]]:
    """Every DeleteObjects of the product's client, counted; each answered with `refusal` if given."""
    calls: list[str] = []

    def count(**_: Any) -> None:
        calls.append("DeleteObjects")
        if refusal is not None:
            raise refusal

    events = storage.client().meta.events
    events.register("before-call.s3.DeleteObjects", count)
    try:
        yield calls
    finally:
        events.unregister("before-call.s3.DeleteObjects", count)


def _all_audit(api: Api) -> list[dict[str, Any]]:
    response = api.call("list_audit", "first_page")
    assert response.status == 200, response.body
    return list(response.body["items"])


def test_the_earlier_file_kept_goes_as_soon_as_the_current_one_is_found_clean(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given A recorded, then B recorded while A is still being scanned: A is kept in B's place
    a = _hand_in(api, bucket, record, student, b"%PDF A")
    a_code = _status(api, student)["verification_code"]
    b = _hand_in(api, bucket, record, student, b"%PDF B")
    assert bucket.versions() == sorted([a, b])
    assert _marked_deleted(database_url) == [False, False]
    logged = _all_audit(api)
    capsys.readouterr()

    # When B's scan result arrives: clean
    clean = guardduty_event(*b, "NO_THREATS_FOUND")
    assert deliver(clean) == {"batchItemFailures": []}

    # Then A goes at once (not at the reconcile job's next run): deleted from S3, marked so, counted,
    # and its code answers that the file is gone; B is served
    assert bucket.versions() == [b]
    assert _marked_deleted(database_url) == [True, False]
    assert printed_metric(capsys.readouterr().out, "ObjectVersionsDeleted") == 1
    assert _all_audit(api) == logged  # a clean result is no news, and neither is the delete
    assert _link(api, a_code).status == 410
    assert _link(api, _status(api, student)["verification_code"]).status == 200
    logged = _all_audit(api)  # the links given are logged

    # When the same result comes again
    with counted_deletes() as deletes:
        assert deliver(clean) == {"batchItemFailures": []}

    # Then nothing more is deleted, nor asked of S3, nor appended to the log
    assert deletes == []
    assert bucket.versions() == [b]
    assert _marked_deleted(database_url) == [True, False]
    assert printed_metric(capsys.readouterr().out, "ObjectVersionsDeleted") is None
    assert _all_audit(api) == logged


def test_a_failed_delete_of_a_kept_file_fails_the_result_and_its_redelivery_deletes_it(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    database_url: str,
) -> None:
    # Given A recorded, then B recorded while A is still being scanned
    a = _hand_in(api, bucket, record, student, b"%PDF A")
    b = _hand_in(api, bucket, record, student, b"%PDF B")
    clean = guardduty_event(*b, "NO_THREATS_FOUND")

    # When B's clean result arrives and S3 refuses the delete of A
    slow_down = ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "DeleteObjects"
    )
    with counted_deletes(slow_down) as deletes:
        assert deliver(clean) == {"batchItemFailures": [{"itemIdentifier": "scan-0"}]}

    # Then B's state is recorded, but A is still stored and not marked deleted: the message is retried
    assert deletes == ["DeleteObjects"]
    assert _status(api, student)["scan"] == "clean"
    assert bucket.versions() == sorted([a, b])
    assert _marked_deleted(database_url) == [False, False]

    # When SQS delivers it again (a duplicate result now)
    assert deliver(clean) == {"batchItemFailures": []}

    # Then the redelivery finishes the delete
    assert bucket.versions() == [b]
    assert _marked_deleted(database_url) == [True, False]


def test_the_owner_releases_a_file_whose_scan_is_overdue_and_not_one_just_recorded(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    student: dict[str, Any],
    database_url: str,
) -> None:
    # Given a file just recorded, still being scanned
    key, version = _hand_in(api, bucket, record, student, b"%PDF answers")
    current = _status(api, student)

    # Then it cannot be released yet: its result is minutes away
    refused = _release(api, current["upload_id"])
    assert (refused.status, refused.body["type"], refused.body["scan"]) == (
        409,
        "urn:exam-depository:problem:not-releasable",
        "scanning",
    )
    assert refused.body["detail"] == "This file is still being checked for malware: wait for the result."

    # When its result never comes (scanning turned off since, a result the scanner lost)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE submission SET recorded_at = now() - interval '61 minutes'")
    released = _release(api, current["upload_id"], "Scanning was turned off after it was recorded.")

    # Then the owner releases it, audited, and it can be downloaded
    assert released.status == 200, released.body
    assert (released.body["scan"], released.body["downloadable"]) == ("scanning", True)
    (event,) = _audit(api, "submission.released")
    assert event["after"]["scan"] == "scanning"
    assert _link(api, current["verification_code"]).status == 200

    # And a threat found after all is never served
    assert deliver(guardduty_event(key, version, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}
    assert _link(api, current["verification_code"]).status == 409


def test_a_release_whose_body_is_not_json_says_so_in_one_sentence(api: Api, scanning: None) -> None:
    response = api.call(
        "release_submission", "owner", path_params={"exam_id": EXAM, "upload_id": str(uuid.uuid4())}, raw_body="{nope"
    )
    assert response.status == 422
    assert response.body["detail"].startswith("The body is not valid JSON (")
    assert response.body["detail"].endswith(").")
    assert not response.body["detail"].endswith("..")


def test_an_export_holds_the_earlier_file_kept_in_place_of_a_threat_and_says_why(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    database_url: str,
    student: dict[str, Any],
) -> None:
    # Given a clean answer, then a second try in which a threat is found
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    first_code = _status(api, student)["verification_code"]
    second = _hand_in(api, bucket, record, student, b"%PDF second try")
    assert deliver(guardduty_event(*second, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}

    # When the examiner exports
    started = api.call("create_export", "start", path_params={"exam_id": EXAM})
    assert started.status == 202, started.body
    assert set(_build_queued(handler)) <= {"done"}

    # Then the ZIP holds the earlier file in the threat's place, and the manifest lists both, saying why
    archive = _zip(database_url, started.body["export_id"])
    assert [name for name in archive.namelist() if name.endswith(".pdf")] == ["ann/answers.pdf"]
    assert archive.read("ann/answers.pdf") == b"%PDF the real answer"
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [
        (row["nickname"], row["path_in_zip"], row["scan"], row["held_back"], row["verification_code"])
        for row in manifest
    ] == [
        (
            "ann",
            "",
            "threat",
            f"malware found: {EICAR_NAME}; the student's earlier file {first_code}, which can be downloaded, "
            "is exported in its place",
            _status(api, student)["verification_code"],
        ),
        ("ann", "ann/answers.pdf", "clean", "", first_code),
    ]


def test_an_export_ends_when_the_earlier_file_kept_in_place_of_a_threat_is_refused_as_one_too(
    api: Api,
    bucket: Bucket,
    record: Record,
    deliver: Callable[..., dict[str, Any]],
    handler: Handler,
    database_url: str,
    student: dict[str, Any],
) -> None:
    # Given a clean answer, a second try found a threat, then a rescan that tags the first a threat
    # too, its result not recorded yet
    first = _hand_in(api, bucket, record, student, b"%PDF the real answer")
    assert deliver(guardduty_event(*first, "NO_THREATS_FOUND")) == {"batchItemFailures": []}
    first_code = _status(api, student)["verification_code"]
    second = _hand_in(api, bucket, record, student, b"%PDF second try")
    assert deliver(guardduty_event(*second, "THREATS_FOUND", threats=[EICAR_NAME])) == {"batchItemFailures": []}
    bucket.s3.put_object_tagging(
        Bucket=BUCKET,
        Key=first[0],
        VersionId=first[1],
        Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "THREATS_FOUND"}]},
    )

    # When the examiner exports, the bucket refusing the first file (DenyThreatDownloads)
    started = api.call("create_export", "start", path_params={"exam_id": EXAM})
    assert started.status == 202, started.body
    with threat_deny(bucket):
        assert set(_build_queued(handler)) <= {"done"}

    # Then the export is done, holding neither file, the manifest naming both as threats
    archive = _zip(database_url, started.body["export_id"])
    assert [name for name in archive.namelist() if name.endswith(".pdf")] == []
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [(row["path_in_zip"], row["scan"], row["held_back"], row["verification_code"]) for row in manifest] == [
        ("", "threat", f"malware found: {EICAR_NAME}", _status(api, student)["verification_code"]),
        ("", "threat", "malware found: unnamed", first_code),
    ]
