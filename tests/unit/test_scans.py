"""The malware gate's rules: GuardDuty's event read as a result, the order of results (every order
and repetition of the same results ends in the same state; a threat wins), and who may download."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exam_depository.adapters.db.scans import rank, state_of
from exam_depository.domain.errors import NotReleasable, NotScanned, Threat
from exam_depository.domain.scans import (
    RANK,
    RELEASABLE_WHILE_SCANNING_AFTER,
    STATE_OF,
    Ignored,
    ScanResult,
    ScanStatus,
    download_refusal,
    held_back,
    precedence,
    release_refusal,
    scan_result_of,
    supersedes,
)
from hypothesis import given
from hypothesis import strategies as st

BUCKET = "exam-depository-submissions"
PREFIX = "submissions/"
KEY = "submissions/exam-1/student-1/0b9f7a4c.pdf"


def guardduty_event(
    status: str = "NO_THREATS_FOUND",
    *,
    scan_status: str = "COMPLETED",
    key: str = KEY,
    bucket: str = BUCKET,
    threats: list[dict[str, str]] | None = None,
    reasons: list[str] | None = None,
) -> dict[str, Any]:
    """GuardDuty Malware Protection for S3's EventBridge event, in AWS's published sample's shape."""
    return {
        "version": "0",
        "id": "72c7d362-737a-6dce-fc78-9e27a0171419",
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty",
        "account": "111122223333",
        "time": "2026-12-05T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:guardduty:us-east-1:111122223333:malware-protection-plan/b4c7f464ab3a4EXAMPLE"],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": scan_status,
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": "ASIAI44QH8DHBEXAMPLE",
                "versionId": "d41d8sd4gd4Example",
                "s3Throttled": False,
            },
            "scanResultDetails": {"scanResultStatus": status, "threats": threats, "statusReasons": reasons},
        },
    }


AT = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
PLAN = "arn:aws:guardduty:us-east-1:111122223333:malware-protection-plan/b4c7f464ab3a4EXAMPLE"


@pytest.mark.parametrize(
    ("status", "scan_status", "threats", "reasons", "found"),
    [
        ("NO_THREATS_FOUND", "COMPLETED", None, None, ((), ())),
        (
            "THREATS_FOUND",
            "COMPLETED",
            [{"name": "EICAR-Test-File (not a virus)"}],
            None,
            (("EICAR-Test-File (not a virus)",), ()),
        ),
        ("UNSUPPORTED", "SKIPPED", None, ["PASSWORD_PROTECTED"], ((), ("PASSWORD_PROTECTED",))),
        ("ACCESS_DENIED", "SKIPPED", None, None, ((), ())),
        ("FAILED", "FAILED", None, None, ((), ())),
    ],
)
def test_the_five_samples_of_aws_read_as_results(
    status: ScanStatus, scan_status: str, threats: Any, reasons: Any, found: tuple[tuple[str, ...], ...]
) -> None:
    result = scan_result_of(
        guardduty_event(status, scan_status=scan_status, threats=threats, reasons=reasons), bucket=BUCKET, prefix=PREFIX
    )

    assert result == ScanResult(
        key=KEY,
        version_id="d41d8sd4gd4Example",
        status=status,
        scanned_at=AT,
        event_id="72c7d362-737a-6dce-fc78-9e27a0171419",
        threats=found[0],
        reasons=found[1],
        scanner=PLAN,
    )


def test_events_about_no_submission_are_ignored() -> None:
    # The plan writes its validation object at the bucket's root.
    validation = guardduty_event(key="malware-protection-resource-validation-object")
    assert scan_result_of(validation, bucket=BUCKET, prefix=PREFIX) == Ignored("not a submission")
    assert scan_result_of(guardduty_event(bucket="another"), bucket=BUCKET, prefix=PREFIX) == Ignored("another bucket")


def _broken(change: Any) -> dict[str, Any]:
    event = copy.deepcopy(guardduty_event())
    change(event)
    return event


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (_broken(lambda e: e.update(source="aws.s3")), "not a malware scan result"),
        (_broken(lambda e: e.update({"detail-type": "Object Created"})), "not a malware scan result"),
        (_broken(lambda e: e["detail"].update(resourceType="EBS_VOLUME")), "not about an S3 object"),
        (_broken(lambda e: e["detail"]["scanResultDetails"].update(scanResultStatus="MAYBE")), "unknown scan result"),
        # a completed result under another status
        (_broken(lambda e: e["detail"].update(scanStatus="SKIPPED")), "unknown scan result"),
        (_broken(lambda e: e["detail"]["s3ObjectDetails"].pop("versionId")), "versionId is missing"),
        (_broken(lambda e: e.update(time="yesterday")), "Invalid isoformat"),
        (_broken(lambda e: e.update(time="2026-12-05T10:00:00")), "time has no offset"),
        (_broken(lambda e: e.pop("id")), "id is missing"),
        (_broken(lambda e: e.update(detail=None)), "detail is not an object"),
        (_broken(lambda e: e["detail"]["scanResultDetails"].update(threats=[{"name": 5}])), "non-text"),
        (_broken(lambda e: e["detail"]["scanResultDetails"].update(statusReasons="X")), "statusReasons is not a list"),
        # JSON that is no object at all, and a NUL, which no S3 key holds and PostgreSQL refuses
        ([], "event is not an object"),
        ("a text", "event is not an object"),
        (_broken(lambda e: e["detail"]["s3ObjectDetails"].update(objectKey=KEY + "\x00")), "objectKey holds a NUL"),
    ],
)
def test_a_malformed_event_raises_so_that_it_reaches_the_dead_letter_queue(event: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        scan_result_of(event, bucket=BUCKET, prefix=PREFIX)


def test_a_nul_in_a_threats_name_is_dropped_not_the_threat() -> None:
    threats = [{"name": "EICAR\x00Test"}]
    result = scan_result_of(guardduty_event("THREATS_FOUND", threats=threats), bucket=BUCKET, prefix=PREFIX)
    assert isinstance(result, ScanResult)
    assert result.threats == ("EICARTest",)


def test_names_are_bounded() -> None:
    threats = [{"name": "x" * 500} for _ in range(30)]
    result = scan_result_of(guardduty_event("THREATS_FOUND", threats=threats), bucket=BUCKET, prefix=PREFIX)
    assert isinstance(result, ScanResult)
    assert len(result.threats) == 10
    assert {len(name) for name in result.threats} == {200}


def _result(status: ScanStatus, minutes: int = 0, event_id: str = "e") -> ScanResult:
    return ScanResult(KEY, "v1", status, AT + timedelta(minutes=minutes), event_id)


# Which of two results stands: the same table holds the SQL's comparison (tests/integration/test_scans.py).
SUPERSEDES = [
    # new, old, whether new replaces old
    (_result("NO_THREATS_FOUND"), None, True),
    (_result("NO_THREATS_FOUND"), _result("NO_THREATS_FOUND"), False),  # a duplicate
    (_result("NO_THREATS_FOUND", 1), _result("FAILED"), True),  # a rescan after a failure
    (_result("FAILED", 1), _result("NO_THREATS_FOUND"), True),  # a later failure is later
    (_result("NO_THREATS_FOUND"), _result("FAILED", 1), False),  # an older result
    (_result("NO_THREATS_FOUND", 60), _result("THREATS_FOUND"), False),  # a threat is never replaced
    (_result("THREATS_FOUND"), _result("NO_THREATS_FOUND", 60), True),
    (_result("THREATS_FOUND", 1), _result("THREATS_FOUND"), True),  # the later threat's names
    (_result("UNSUPPORTED"), _result("ACCESS_DENIED"), True),  # the same instant: the more telling
    (_result("ACCESS_DENIED"), _result("FAILED"), True),
    (_result("NO_THREATS_FOUND"), _result("UNSUPPORTED"), True),
    (_result("NO_THREATS_FOUND", event_id="f"), _result("NO_THREATS_FOUND", event_id="e"), True),
]


@pytest.mark.parametrize(("new", "old", "replaces"), SUPERSEDES)
def test_which_result_stands(new: ScanResult, old: ScanResult | None, replaces: bool) -> None:
    assert supersedes(new, old) is replaces


def _stored_state(results: list[ScanResult]) -> ScanResult | None:
    """What the store keeps after these deliveries, in this order."""
    stored: ScanResult | None = None
    for new in results:
        if supersedes(new, stored):
            stored = new
    return stored


_results = st.builds(
    _result,
    st.sampled_from(list(STATE_OF)),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from(["a", "b", "c"]),
)


@given(st.lists(_results, min_size=1, max_size=8), st.randoms(use_true_random=False), st.data())
def test_any_order_and_any_repetition_ends_in_the_same_state(
    results: list[ScanResult], random: Any, data: st.DataObject
) -> None:
    delivered = results + data.draw(st.lists(st.sampled_from(results), max_size=8))  # at least once
    random.shuffle(delivered)

    assert _stored_state(delivered) == max(results, key=precedence)
    if any(result.status == "THREATS_FOUND" for result in results):
        stored = _stored_state(delivered)
        assert stored is not None
        assert STATE_OF[stored.status] == "threat"


def test_the_sql_names_the_same_states_and_ranks() -> None:
    assert state_of("r").count("WHEN") == len(STATE_OF)
    for status, state in STATE_OF.items():
        assert f"WHEN '{status}' THEN '{state}'" in state_of("r")
    assert rank("r") == f"array_position(ARRAY[{', '.join(repr(s) for s in RANK)}]::text[], r)"


RELEASED = AT


@pytest.mark.parametrize(
    ("scan", "released_at", "refusal", "held"),
    [
        (None, None, None, None),  # recorded before scanning, or scanning off
        ("clean", None, None, None),
        ("scanning", None, NotScanned, "not scanned yet: export again in a few minutes"),
        ("threat", None, Threat, "malware found: Eicar-Test-Signature"),
        ("threat", RELEASED, Threat, "malware found: Eicar-Test-Signature"),  # never, even if a row said so
        (
            "unsupported",
            None,
            NotScanned,
            "could not be scanned (Eicar-Test-Signature): the exam's owner can release it",
        ),
        ("unsupported", RELEASED, None, None),
        ("failed", None, NotScanned, "could not be scanned (Eicar-Test-Signature): the exam's owner can release it"),
        ("failed", RELEASED, None, None),
    ],
)
def test_who_may_download(scan: Any, released_at: datetime | None, refusal: type | None, held: str | None) -> None:
    detail = "Eicar-Test-Signature"
    found = download_refusal(scan, released_at, detail)
    if refusal is None:
        assert found is None
    else:
        assert isinstance(found, NotScanned | Threat)
        assert isinstance(found, refusal)
        assert found.extra["scan"] == scan
    assert held_back(scan, released_at, detail) == held


def test_a_threat_names_what_was_found() -> None:
    refusal = download_refusal("threat", None, "Eicar-Test-Signature.UNOFFICIAL")
    assert isinstance(refusal, Threat)
    assert refusal.extra == {"scan": "threat", "scan_detail": "Eicar-Test-Signature.UNOFFICIAL"}
    assert "Eicar-Test-Signature.UNOFFICIAL" in refusal.detail


@pytest.mark.parametrize(
    ("scan", "recorded_ago", "releasable"),
    [
        ("unsupported", timedelta(0), True),
        ("failed", timedelta(0), True),
        ("threat", timedelta(days=1), False),
        ("clean", timedelta(days=1), False),
        ("scanning", timedelta(0), False),
        ("scanning", RELEASABLE_WHILE_SCANNING_AFTER - timedelta(seconds=1), False),
        # A result that will not come (scanning turned off since, a result lost by the scanner)
        ("scanning", RELEASABLE_WHILE_SCANNING_AFTER, True),
        (None, timedelta(days=1), False),
    ],
)
def test_only_a_file_that_could_not_be_scanned_or_whose_scan_is_overdue_is_released(
    scan: Any, recorded_ago: timedelta, releasable: bool
) -> None:
    refusal = release_refusal(scan, RELEASED - recorded_ago, RELEASED)
    assert (refusal is None) is releasable
    if not releasable:
        assert isinstance(refusal, NotReleasable)
    if scan == "scanning" and not releasable:
        assert refusal is not None
        assert refusal.detail == "This file is still being checked for malware: wait for the result."


def test_a_released_overdue_scan_is_downloadable_until_a_threat_is_found() -> None:
    assert download_refusal("scanning", None, None) is not None
    assert download_refusal("scanning", RELEASED, None) is None
    assert held_back("scanning", RELEASED, None) is None
    assert isinstance(download_refusal("threat", RELEASED, "Eicar"), Threat)
