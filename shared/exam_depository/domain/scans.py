"""The malware gate's rules: what a scanner's result says (GuardDuty Malware Protection for S3's
EventBridge event, or the local stand-in's, which speaks the same), which of two results about one
object version stands, what a submission's scan state then is, and who may download it.

Results arrive at least once and in any order: the state kept is the greatest result delivered by
`precedence`, a total order, so every order and every repetition of the same results ends in the
same state. A threat found is never replaced; a rescan after a failure is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from exam_depository.domain.errors import NotReleasable, NotScanned, Threat
from exam_depository.domain.statuses import ScanState, SubmissionStatus

ScanStatus = Literal["NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED"]

STATE_OF: Mapping[ScanStatus, ScanState] = {
    "NO_THREATS_FOUND": "clean",
    "THREATS_FOUND": "threat",
    "UNSUPPORTED": "unsupported",
    "ACCESS_DENIED": "failed",
    "FAILED": "failed",
}
# Of two results at the same instant, the more telling one stands (adapters/db/scans.py's SQL
# holds the same list: a unit test compares them).
RANK: tuple[ScanStatus, ...] = ("FAILED", "ACCESS_DENIED", "UNSUPPORTED", "NO_THREATS_FOUND", "THREATS_FOUND")

# The tag GuardDuty puts on each scanned object version (the same five values); the bucket policy
# refuses every read of a version tagged THREATS_FOUND.
TAG_KEY = "GuardDutyMalwareScanStatus"
SOURCE = "aws.guardduty"
DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
# What a scan's status may say about the result (scanStatus -> the results it allows).
_RESULTS_OF_SCAN: Mapping[str, frozenset[str]] = {
    "COMPLETED": frozenset({"NO_THREATS_FOUND", "THREATS_FOUND"}),
    "SKIPPED": frozenset({"UNSUPPORTED", "ACCESS_DENIED"}),
    "FAILED": frozenset({"FAILED"}),
}
MAX_THREATS = 10
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class ScanResult:
    """One scan of one object version. `scanned_at` is the event's `time`; `scanner` the
    resource that scanned (the plan's ARN, the stand-in's, or `tag` when read back from the
    object's tag by the reconcile job)."""

    key: str
    version_id: str
    status: ScanStatus
    scanned_at: datetime
    event_id: str
    threats: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    scanner: str = ""


@dataclass(frozen=True)
class Ignored:
    """An event that is well formed but not about a submission (another bucket or prefix, the
    plan's validation object)."""

    reason: str


@dataclass
class ScanBatch:
    """What became of a batch of results: `changed` the submissions' new states (one each),
    `unmatched` the results whose key no upload has, `deleted` the versions S3 confirmed deleted
    (earlier files no longer kept), `failed` the indices to retry."""

    changed: list[ScanState] = field(default_factory=list)
    unmatched: int = 0
    deleted: int = 0
    failed: set[int] = field(default_factory=set)


def scan_result_of(given: object, *, bucket: str, prefix: str) -> ScanResult | Ignored:
    """The result an EventBridge event states. A malformed event or an unknown status raises
    ValueError: its message is retried and reaches the dead-letter queue, so a change of format is
    seen rather than passed over (and the batch's other messages are recorded)."""
    event = _mapping(given, "event")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise ValueError(f"not a malware scan result: {event.get('source')!r} {event.get('detail-type')!r}")
    detail = _mapping(event.get("detail"), "detail")
    if detail.get("resourceType") != "S3_OBJECT":
        raise ValueError(f"not about an S3 object: {detail.get('resourceType')!r}")
    s3 = _mapping(detail.get("s3ObjectDetails"), "s3ObjectDetails")
    if s3.get("bucketName") != bucket:
        return Ignored("another bucket")
    key = _text(s3.get("objectKey"), "objectKey")
    if not key.startswith(prefix):
        # The plan writes a validation object at the bucket's root: never a submission.
        return Ignored("not a submission")
    version_id = _text(s3.get("versionId"), "versionId")
    results = _mapping(detail.get("scanResultDetails"), "scanResultDetails")
    status = results.get("scanResultStatus")
    allowed = _RESULTS_OF_SCAN.get(str(detail.get("scanStatus")))
    if status not in STATE_OF or allowed is None or status not in allowed:
        raise ValueError(f"unknown scan result: {detail.get('scanStatus')!r} {status!r}")
    resources = event.get("resources")
    scanner = resources[0] if isinstance(resources, list) and resources and isinstance(resources[0], str) else ""
    return ScanResult(
        key=key,
        version_id=version_id,
        status=status,
        scanned_at=_instant(event.get("time")),
        event_id=_text(event.get("id"), "id"),
        threats=_names(results.get("threats"), "threats", lambda threat: _mapping(threat, "threat").get("name")),
        reasons=_names(results.get("statusReasons"), "statusReasons", lambda reason: reason),
        scanner=scanner[:MAX_NAME_CHARS],
    )


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} is not an object")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing")
    if "\x00" in value:  # no S3 key or id holds one, and PostgreSQL refuses it in any text
        raise ValueError(f"{name} holds a NUL")
    return value


def _instant(value: object) -> datetime:
    text = _text(value, "time")
    instant = datetime.fromisoformat(text)  # RFC 3339, `Z` included; raises ValueError otherwise
    if instant.tzinfo is None:
        raise ValueError("time has no offset")
    return instant


def _names(value: object, name: str, name_of: Any) -> tuple[str, ...]:
    """A list of names (threats, or why a file was not scanned): null is none; the first ten,
    each cut to 200 characters (a detail shown to people, not a report)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    names = []
    for item in value[:MAX_THREATS]:
        text = name_of(item)
        if not isinstance(text, str):
            raise ValueError(f"{name} holds a non-text item")
        # A NUL is dropped, not the result: PostgreSQL refuses it in text, and a threat must be recorded.
        names.append(text.replace("\x00", "")[:MAX_NAME_CHARS])
    return tuple(names)


def precedence(result: ScanResult) -> tuple[bool, datetime, int, str]:
    """The order of results about one version: a threat above everything, then the later scan,
    then the more telling status, then the event's id (any fixed tie-break makes it total)."""
    return (result.status == "THREATS_FOUND", result.scanned_at, RANK.index(result.status), result.event_id)


def supersedes(new: ScanResult, old: ScanResult | None) -> bool:
    """Whether `new` replaces the stored `old` (a duplicate or an older result does not)."""
    return old is None or precedence(new) > precedence(old)


def state_of(status: ScanStatus) -> ScanState:
    return STATE_OF[status]


NOT_SCANNED_YET = "This file is still being checked for malware; try again in a minute."
THREAT_FOUND = "Malware was found in this file ({detail}): it is quarantined and cannot be downloaded."


def download_refusal(
    scan: ScanState | None, released_at: datetime | None, detail: str | None
) -> NotScanned | Threat | None:
    """Whether a file may be downloaded. None (not scanned: recorded before scanning began, or
    with scanning off) and clean may; a threat never; a file that could not be scanned, or whose
    scan is overdue, only once the exam's owner released it; one still being scanned not yet."""
    if scan is None or scan == "clean":
        return None
    if scan == "threat":
        return Threat(THREAT_FOUND.format(detail=detail or "unnamed"), extra={"scan": scan, "scan_detail": detail})
    if released_at is not None:
        return None
    if scan in ("unsupported", "failed"):
        why = f" ({detail})" if detail else ""
        return NotScanned(
            f"This file could not be scanned for malware{why}; the exam's owner can release it.",
            extra={"scan": scan},
        )
    return NotScanned(NOT_SCANNED_YET, extra={"scan": scan})


# A scan still without a result this long after its file was recorded will not get one by
# waiting: GuardDuty scans a 3 MiB file within minutes, and the reconcile job reads the scanner's
# tag of a result whose event was lost after half an hour. What is left (scanning turned off after
# the file was recorded, a result GuardDuty never gave) only the exam's owner can end, by a release.
RELEASABLE_WHILE_SCANNING_AFTER = timedelta(hours=1)


def release_refusal(scan: ScanState | None, recorded_at: datetime, now: datetime) -> NotReleasable | None:
    """Only a file that could not be scanned, or whose scan is overdue (`RELEASABLE_WHILE_SCANNING_AFTER` after
    it was recorded), can be released: a threat never, and a clean or unscanned file needs no
    release (one still being scanned waits for its result until then)."""
    if scan in ("unsupported", "failed"):
        return None
    if scan == "threat":
        return NotReleasable("Malware was found in this file: it is never released.", extra={"scan": scan})
    if scan == "scanning":
        if now - recorded_at >= RELEASABLE_WHILE_SCANNING_AFTER:
            return None
        return NotReleasable("This file is still being checked for malware: wait for the result.", extra={"scan": scan})
    return NotReleasable("This file can be downloaded already: there is nothing to release.", extra={"scan": scan})


def served(status: SubmissionStatus, stands_in: bool) -> bool:
    """Whether a submission's file is one a download may serve (its scan permitting): the current
    file, or an earlier one that stands in for it while the current one cannot be downloaded
    (adapters/db/submissions.py's `stands_in`)."""
    return status == "current" or (status == "superseded" and stands_in)


def held_back(
    scan: ScanState | None, released_at: datetime | None, detail: str | None, *, kept_instead: str | None = None
) -> str | None:
    """Why an export leaves a file out (its manifest's `held_back`), or None when it is exported.
    `kept_instead`: the verification code of the student's earlier file exported in its place
    (one that stands in for it)."""
    refusal = download_refusal(scan, released_at, detail)
    if refusal is None:
        return None
    if isinstance(refusal, Threat):
        why = f"malware found: {detail or 'unnamed'}"
    elif scan == "scanning":
        why = "not scanned yet: export again in a few minutes"
    else:
        cause = f" ({detail})" if detail else ""
        why = f"could not be scanned{cause}: the exam's owner can release it"
    if kept_instead is not None:
        why += f"; the student's earlier file {kept_instead}, which can be downloaded, is exported in its place"
    return why
