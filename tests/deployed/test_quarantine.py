"""The bucket itself refuses a threat: EICAR (built at run time from two halves) handed in through
the deployed API, scanned by the local scanner that stands in for GuardDuty, its result routed by
the deployed EventBridge rule to the scan results' queue and function; then the export builder's
own credentials, whose role may read every submission version, are refused that version by the
bucket policy (DenyThreatDownloads), and still read a clean one. A bug in our code that presigned
or read a threat would meet the same refusal."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

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
