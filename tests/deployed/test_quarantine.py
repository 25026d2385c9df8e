"""The bucket itself refuses a threat: EICAR (built at run time from two halves) handed in through
the deployed API, scanned by the local scanner that stands in for GuardDuty, its result routed by
the deployed EventBridge rule to the scan results' queue and function; then the export builder's
own credentials, whose role may read every submission version, are refused that version by the
bucket policy (DenyThreatDownloads), and still read a clean one. A bug in our code that presigned
or read a threat would meet the same refusal.

And the product's own readers meet a version tagged as a threat before its result is recorded: the
recorder, whose role the statement exempts, records it (refused, it would retry the file into its
dead-letter queue); the export builder, which it does not exempt, leaves it out of the ZIP, its
manifest saying why, rather than fail."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from exam_depository.domain.scans import TAG_KEY

from scripts.clamav import eicar
from tests.deployed.conftest import Deployed
from tests.deployed.test_iam import credentials_of
from tests.e2e.conftest import EXAM
from tests.waiting import wait_until

SCAN_S = 120  # a bound on a scan and its delivery through the deployed queue, not a wait


def _handed_in(deployed: Deployed, nickname: str, content: bytes) -> dict[str, Any]:
    """A student's file, recorded, once its scan has ended; with the version S3 holds it as."""
    code = deployed.create_student(EXAM, nickname)["upload_code"]
    current = deployed.hand_in(code, content, "answers.txt", until_scanned=False)["current"]
    assert current is not None
    wait_until(
        lambda: deployed.progress(code)["current"]["scan"] != "scanning", timeout_s=SCAN_S, what="the scan ended"
    )
    current = deployed.progress(code)["current"]
    (key,) = [k for k in deployed.object_keys() if f"/{current['upload_id']}/" in k]
    (version,) = deployed.versions(key)
    return dict(current) | {"key": key, "version_id": version}


def test_the_bucket_refuses_a_threat_even_to_a_role_that_may_read_every_submission(deployed: Deployed) -> None:
    # Given EICAR and a clean file, each scanned and its result recorded through the deployed path
    threat = _handed_in(deployed, "quarantine-eve", eicar())
    clean = _handed_in(deployed, "quarantine-cleo", b"My answer is 42.\n" * 50)
    assert (threat["scan"], clean["scan"]) == ("threat", "clean")
    link = deployed.download_link(threat["verification_code"])
    assert link.status_code == 409
    assert link.json()["type"].endswith(":threat")
    tags = deployed.s3.get_object_tagging(Bucket=deployed.bucket, Key=threat["key"], VersionId=threat["version_id"])
    assert {"Key": "GuardDutyMalwareScanStatus", "Value": "THREATS_FOUND"} in tags["TagSet"]

    # When the export builder's own credentials read each version (its role grants s3:GetObjectVersion
    # on every submission)
    s3 = deployed.client("s3", credentials_of(deployed, deployed.physical_id("BuildExportFunction")))
    read = s3.get_object(Bucket=deployed.bucket, Key=clean["key"], VersionId=clean["version_id"])

    # Then the clean one is served, and the threat is refused by the bucket policy
    assert read["Body"].read() == b"My answer is 42.\n" * 50
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=deployed.bucket, Key=threat["key"], VersionId=threat["version_id"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied", refused.value.response


@contextmanager
def recorder_paused(deployed: Deployed) -> Iterator[None]:
    """The recorder's queue not polled (its event source mapping disabled) until the block ends: the
    notifications wait in the queue, as they do while the recorder is throttled or its batch retried."""
    lambda_client = deployed.client("lambda")
    recorder = deployed.physical_id("RecordSubmissionsFunction")
    mappings = [
        m["UUID"] for m in lambda_client.list_event_source_mappings(FunctionName=recorder)["EventSourceMappings"]
    ]
    assert mappings, "the recorder has no event source mapping"
    for mapping in mappings:
        lambda_client.update_event_source_mapping(UUID=mapping, Enabled=False)
    try:
        yield
    finally:
        for mapping in mappings:
            lambda_client.update_event_source_mapping(UUID=mapping, Enabled=True)


def _tag(deployed: Deployed, key: str, version_id: str) -> str | None:
    tags = deployed.s3.get_object_tagging(Bucket=deployed.bucket, Key=key, VersionId=version_id)["TagSet"]
    return next((tag["Value"] for tag in tags if tag["Key"] == TAG_KEY), None)


def test_the_recorder_records_a_file_the_scanner_tagged_a_threat_before_it_read_it(deployed: Deployed) -> None:
    # Given EICAR handed in while the recorder's batch waits (throttled, or being retried), and
    # scanned meanwhile: its version tagged THREATS_FOUND before the recorder reads it
    code = deployed.create_student(EXAM, "quarantine-early")["upload_code"]
    with recorder_paused(deployed):
        form = deployed.form(code, "answers.txt", sha256=hashlib.sha256(eicar()).hexdigest())
        assert deployed.post_form(form, eicar(), filename="answers.txt").status_code in (200, 201, 204)
        key = form["fields"]["key"]
        wait_until(lambda: deployed.versions(key) != [], timeout_s=SCAN_S, what="the version stored")
        (version,) = deployed.versions(key)
        wait_until(lambda: _tag(deployed, key, version) == "THREATS_FOUND", timeout_s=SCAN_S, what="the version tagged")

    # When the recorder reads it: its role is exempt from the deny, since it hands the bytes to no one
    def recorded_as_threat() -> bool:
        current = deployed.progress(code)["current"]
        return current is not None and current["scan"] == "threat"

    wait_until(recorded_as_threat, timeout_s=SCAN_S, what="the file recorded, as a threat")

    # Then it is handed in (its receipt issued; a threat counts as an attempt) and quarantined
    current = deployed.progress(code)["current"]
    assert current["upload_id"] == form["upload_id"]
    assert current["receipt"]
    link = deployed.download_link(current["verification_code"])
    assert link.status_code == 409
    assert link.json()["type"].endswith(":threat")


def test_an_export_leaves_out_a_file_tagged_a_threat_after_its_scan_was_recorded_clean(deployed: Deployed) -> None:
    # Given two files scanned clean; then a rescan finds malware in one: its version is tagged
    # THREATS_FOUND, and the result is on its way (the database still says clean)
    deployed.create_exam("rescanned", due_in_s=3600, title="Rescanned")
    clean, rescanned = b"My answer is 42.\n" * 50, b"My answer is 43.\n" * 50
    for nickname, content in (("kept", clean), ("rescanned", rescanned)):
        code = deployed.create_student("rescanned", nickname)["upload_code"]
        assert deployed.hand_in(code, content, "answers.txt")["current"]["scan"] == "clean"
    current = deployed.progress(code)["current"]
    (key,) = [k for k in deployed.object_keys() if f"/{current['upload_id']}/" in k]
    (version,) = deployed.versions(key)
    deployed.s3.put_object_tagging(
        Bucket=deployed.bucket,
        Key=key,
        VersionId=version,
        Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "THREATS_FOUND"}]},
    )

    # When the examiner exports: the bucket refuses that version to the export builder
    started = deployed.start_export("rescanned")
    assert started.status_code == 202, started.text
    done = deployed.wait_for_export("rescanned", started.json()["export_id"], timeout_s=SCAN_S)

    # Then the export is done without it, its manifest saying it is a threat, as a recorded one
    assert (done["status"], done["files_done"]) == ("done", 1), done
    archive = zipfile.ZipFile(io.BytesIO(requests.get(done["url"], timeout=30).content))
    assert [name for name in archive.namelist() if name.endswith(".txt")] == ["kept/answers.txt"]
    assert archive.read("kept/answers.txt") == clean
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [(row["nickname"], row["path_in_zip"], row["scan"], row["held_back"]) for row in manifest] == [
        ("kept", "kept/answers.txt", "clean", ""),
        ("rescanned", "", "threat", "malware found: unnamed"),
    ]
