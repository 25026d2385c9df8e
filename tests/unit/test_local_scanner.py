"""The local stand-in for GuardDuty Malware Protection for S3: clamscan's verdicts on real files
(EICAR, built at run time from two halves; a clean file; EICAR inside a ZIP; an encrypted PDF), and
its events in GuardDuty's shape, parsed by the same rule the scan results' function applies."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from exam_depository.domain import scans
from samtranslator.yaml_helper import yaml_parse

from local_stack import scanner
from local_stack.emulator import deny_threat_downloads, scan_results_pattern
from scripts.clamav import eicar
from tests.conftest import ROOT

BUCKET = "exam-depository-local"
KEY = "submissions/3f0c1a52-6a8b-4c9e-9b1a-0d2c4e6f8a10"

needs_clamscan = pytest.mark.skipif(
    not scanner.CLAMSCAN.exists(), reason="ClamAV is unpacked by `make unit` (.tools/clamav)"
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text()))


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@needs_clamscan
@pytest.mark.parametrize(
    ("name", "content", "verdict"),
    [
        ("a clean text", b"My answer to question 1 is 42.\n" * 100, scanner.Verdict("NO_THREATS_FOUND")),
        ("EICAR", eicar(), scanner.Verdict("THREATS_FOUND", threats=("Eicar-Test-Signature.UNOFFICIAL",))),
        (
            "EICAR inside a ZIP",
            _zip("answers/eicar.com", eicar()),
            scanner.Verdict("THREATS_FOUND", threats=("Eicar-Test-Signature.UNOFFICIAL",)),
        ),
        ("an encrypted PDF", _encrypted_pdf(), scanner.Verdict("UNSUPPORTED", reasons=("PASSWORD_PROTECTED",))),
    ],
)
def test_clamscan_s_verdict_is_guardduty_s_result(name: str, content: bytes, verdict: scanner.Verdict) -> None:
    assert scanner.clamscan(content) == verdict, name


@needs_clamscan
def test_a_scan_that_cannot_run_fails_rather_than_passes(tmp_path: Any) -> None:
    missing = tmp_path / "none.ndb"
    assert scanner.clamscan(b"anything", database=missing) == scanner.Verdict("FAILED", reasons=("SCAN_ERROR",))


@pytest.mark.parametrize(
    ("verdict", "scan_status", "state"),
    [
        (scanner.Verdict("NO_THREATS_FOUND"), "COMPLETED", "clean"),
        (scanner.Verdict("THREATS_FOUND", threats=("Eicar-Test-Signature.UNOFFICIAL",)), "COMPLETED", "threat"),
        (scanner.Verdict("UNSUPPORTED", reasons=("PASSWORD_PROTECTED",)), "SKIPPED", "unsupported"),
        (scanner.Verdict("FAILED", reasons=("TIMEOUT",)), "FAILED", "failed"),
    ],
)
def test_its_events_have_guardduty_s_shape_and_parse_as_the_function_parses_them(
    verdict: scanner.Verdict, scan_status: str, state: str
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    event = scanner.scan_result_event(
        bucket=BUCKET, key=KEY, version_id="v1", etag="d41d8", verdict=verdict, region="eu-west-1", account="0" * 12
    )
    # EventBridge delivers it to SQS as the message body: JSON all the way.
    event = json.loads(json.dumps(event))
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["resources"] == ["arn:aws:guardduty:eu-west-1:000000000000:malware-protection-plan/local-clamav"]
    assert event["time"].endswith("Z")
    assert len(event["time"]) == len("2026-12-05T10:00:00Z")
    detail = event["detail"]
    assert detail["scanStatus"] == scan_status
    assert detail["s3ObjectDetails"] == {
        "bucketName": BUCKET,
        "objectKey": KEY,
        "eTag": "d41d8",
        "versionId": "v1",
        "s3Throttled": False,
    }
    results = detail["scanResultDetails"]
    assert results["threats"] == ([{"name": name} for name in verdict.threats] or None)
    assert results["statusReasons"] == (list(verdict.reasons) or None)
    parsed = scans.scan_result_of(event, bucket=BUCKET, prefix="submissions/")
    assert isinstance(parsed, scans.ScanResult)
    assert (parsed.key, parsed.version_id, parsed.status) == (KEY, "v1", verdict.status)
    assert (parsed.threats, parsed.reasons) == (verdict.threats, verdict.reasons)
    assert scans.STATE_OF[parsed.status] == state
    assert parsed.scanned_at >= before


def test_it_uses_guardduty_s_names_the_product_and_the_template_rely_on(template: dict[str, Any]) -> None:
    assert scanner.TAG_KEY == scans.TAG_KEY
    assert scanner.DETAIL_TYPE == scans.DETAIL_TYPE
    assert set(scanner.SCAN_STATUS) == set(scans.STATE_OF)
    # The local rule is the template's, and the local bucket policy its DenyThreatDownloads.
    pattern = scan_results_pattern(template, BUCKET)
    assert pattern == {
        "source": ["aws.guardduty"],
        "detail-type": [scanner.DETAIL_TYPE],
        "detail": {"s3ObjectDetails": {"bucketName": [BUCKET]}},
    }
    statements = template["Resources"]["SubmissionsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement["Sid"] == "DenyThreatDownloads"]
    local = deny_threat_downloads(BUCKET)
    # But the template's exemption of two roles: the local stack has none.
    exempting = {"ArnNotEquals": deny["Condition"]["ArnNotEquals"]}
    assert {**local, "Resource": deny["Resource"], "Condition": local["Condition"] | exempting} == deny
    assert local["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    assert local["Condition"] == {"StringEquals": {f"s3:ExistingObjectTag/{scanner.TAG_KEY}": "THREATS_FOUND"}}


def test_the_signature_database_holds_the_test_file_s_hex_only() -> None:
    # No scanner on a developer's machine may quarantine the repository: EICAR itself is nowhere in it.
    text = scanner.DATABASE.read_text()
    assert text == f"Eicar-Test-Signature:0:0:{eicar().hex()}\n"
    assert eicar() not in scanner.DATABASE.read_bytes()
