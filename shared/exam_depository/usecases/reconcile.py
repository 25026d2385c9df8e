"""The reconcile job: make the bucket and the records agree again (docs/DESIGN.md, rule 7).

The recorder keeps them in step as notifications arrive. Drift comes from what it cannot see:
a notification lost, or dead-lettered and never redriven; a delete that failed after its commit
once the message's retries ran out; a file removed by hand. The job lists every version in the
bucket first and reads the records second. An upload row is committed before its form is handed
out, so every listed object's row, if it has one, is visible by then: a listed object without a
row is an orphan, not a race. What must not exist is decided by `recording.must_not_exist`, as in
the recorder; what must be recorded is recorded by the recorder itself, which the job is handed
(`record`: the function wires them, so that no use case imports another).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.scans
import exam_depository.adapters.db.uploads  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.adapters.objects import ObjectVersion
from exam_depository.config import RulesSettings, StorageSettings, load
from exam_depository.domain.recording import BatchResult, ObjectCreated, must_not_exist
from exam_depository.domain.scans import Ignored, ScanBatch, ScanResult
from exam_depository.observability import logger

# Records a batch of uploaded objects as notifications would have: the recorder's record_objects.
Recorder = Callable[[list[ObjectCreated]], BatchResult]
# Records malware scan results as the scan queue would have: scans.record_scan_results.
ScanRecorder = Callable[[list[ScanResult | Ignored]], ScanBatch]
# A submission still `scanning` this long after it was recorded has lost its result's event, or
# its scan is late: the job reads the scanner's tag on the version.
SCAN_OVERDUE_AFTER = timedelta(minutes=30)
MAX_OVERDUE_SCANS = 1000


@dataclass(frozen=True)
class Deletion:
    key: str
    version_id: str
    upload_id: UUID | None  # the form whose record is about this version: marked once S3 confirms


@dataclass
class Repairs:
    """What one run does."""

    record: list[ObjectVersion] = field(default_factory=list)  # its notification never came
    delete: list[Deletion] = field(default_factory=list)  # versions that must not exist
    confirm_deleted: list[UUID] = field(default_factory=list)  # gone as intended, not yet marked
    lost: list[db.uploads.UploadRecord] = field(default_factory=list)  # a live submission whose file is missing
    drop_unused_forms: list[UUID] = field(default_factory=list)  # forms that expired unused


@dataclass(frozen=True)
class ReconcileReport:
    listed: int
    recorded: int
    deleted: int
    confirmed_deleted: int
    lost: int
    unused_forms_dropped: int
    failed: int
    scans_landed: int = 0  # overdue results read from the versions' tags
    scans_overdue: int = 0  # still without a result, tag and all


def plan(
    versions: list[ObjectVersion], uploads: list[db.uploads.UploadRecord], *, listed_at: datetime, grace: timedelta
) -> Repairs:
    """Compare the bucket's listing with the records; pure, so every case can be tested alone.

    Anything newer than `grace` before the listing began is left alone: its notification may be
    queued, its upload may still be arriving, and the next run will judge it.
    """
    settled = listed_at - grace
    by_key = {row.object_key: row for row in uploads}
    listed_keys = {item.key for item in versions}
    listed = {(item.key, item.version_id) for item in versions if not item.delete_marker}
    repairs = Repairs()
    for item in sorted(versions, key=lambda v: v.last_modified):
        upload = by_key.get(item.key)
        facts = upload.facts if upload is not None else None
        status = upload.submission_status if upload is not None else None
        scan = upload.submission_scan if upload is not None else None
        kept = upload is not None and upload.kept_in_place
        if item.delete_marker or must_not_exist(facts, status, item.version_id, scan, kept_in_place=kept):
            # A delete marker keeps nothing the records need, and may hide a version they do.
            owner = upload.upload_id if upload is not None and upload.version_id == item.version_id else None
            repairs.delete.append(Deletion(item.key, item.version_id, None if item.delete_marker else owner))
        elif upload is not None and upload.status == "pending" and item.last_modified < settled:
            repairs.record.append(item)
    for upload in uploads:
        if upload.object_deleted_at is not None:
            continue
        if upload.status == "pending":
            if upload.object_key not in listed_keys and upload.form_expires_at < settled:
                repairs.drop_unused_forms.append(upload.upload_id)
            continue
        assert upload.version_id is not None  # a used form names its version (a constraint)
        if (upload.object_key, upload.version_id) in listed:
            continue
        if must_not_exist(
            upload.facts,
            upload.submission_status,
            upload.version_id,
            upload.submission_scan,
            kept_in_place=upload.kept_in_place,
        ):
            repairs.confirm_deleted.append(upload.upload_id)
        elif upload.recorded_at is not None and upload.recorded_at < settled:
            # Recorded after a GET found the version, so it existed before the listing began.
            if upload.expires_at is not None and upload.expires_at <= listed_at:
                repairs.confirm_deleted.append(upload.upload_id)  # S3's lifecycle rule removed it
            else:
                repairs.lost.append(upload)
    return repairs


def reconcile(
    now: datetime, *, record: Recorder, grace: timedelta | None = None, record_scans: ScanRecorder | None = None
) -> ReconcileReport:
    """One run of the job: list, compare, repair; with `record_scans`, land the overdue scans'
    results from their tags. Safe to run at any time, and again. `grace` defaults to the
    setting; none is needed where no notification can still be queued."""
    if grace is None:
        grace = timedelta(seconds=load(RulesSettings).reconcile_grace_s)
    versions = list(storage.list_versions(load(StorageSettings).prefix))
    with db.transaction() as conn:
        uploads = db.uploads.upload_records(conn, sorted({item.key for item in versions}))
    repairs = plan(versions, uploads, listed_at=now, grace=grace)

    recorded = failed = 0
    for start in range(0, len(repairs.record), 100):
        chunk = repairs.record[start : start + 100]
        # Listed oldest first: of several versions of one form's key, the first posted is weighed first.
        events = [
            ObjectCreated(item.key, item.version_id, item.size_bytes, f"{start + n:X}", item.last_modified)
            for n, item in enumerate(chunk)
        ]
        result = record(events)
        for index in sorted(result.failed):
            logger.error("Recording a listed object failed; the next run retries", extra={"key": chunk[index].key})
        failed += len(result.failed)
        # Only what the recorder recorded (out of order counts: it has its submission and receipt);
        # the rest it rejected, found reused or duplicate, or could not read.
        recorded += sum(1 for outcome in result.outcomes if outcome in ("recorded", "superseded"))
    deleted = storage.delete_versions([(d.key, d.version_id) for d in repairs.delete]) if repairs.delete else 0
    for upload in repairs.lost:
        logger.error(
            "A live submission's file is missing from S3; its download is refused", extra={"key": upload.object_key}
        )
    with db.transaction() as conn:
        deleted_records = [d.upload_id for d in repairs.delete if d.upload_id is not None]
        lost = [upload.upload_id for upload in repairs.lost]
        db.uploads.mark_objects_deleted(conn, repairs.confirm_deleted + deleted_records + lost)
        dropped = db.uploads.delete_unused_uploads(conn, repairs.drop_unused_forms, now - grace)
    landed = overdue = 0
    if record_scans is not None:
        landed, overdue, scans_failed = _overdue_scans(now, record_scans)
        failed += scans_failed
    return ReconcileReport(
        listed=len(versions),
        recorded=recorded,
        deleted=deleted,
        confirmed_deleted=len(repairs.confirm_deleted),
        lost=len(repairs.lost),
        unused_forms_dropped=dropped,
        failed=failed,
        scans_landed=landed,
        scans_overdue=overdue,
    )


def _overdue_scans(now: datetime, record_scans: ScanRecorder) -> tuple[int, int, int]:
    """Results of overdue scans, read from the scanner's tag on each version (GuardDuty's durable
    copy of the result): a lost event lands within a run. Recorded as an event's would be, so a
    late event after this changes nothing, or supersedes it if it says more. Returns how many
    landed, how many are still without a result, and how many failed to record."""
    with db.transaction() as conn:
        pending = db.scans.overdue(conn, recorded_before=now - SCAN_OVERDUE_AFTER, limit=MAX_OVERDUE_SCANS)
    results: list[ScanResult | Ignored] = []
    for item in pending:
        status = storage.scan_status_tag(item.object_key, item.version_id)
        if status is not None:
            tagged = ScanResult(item.object_key, item.version_id, status, now, f"tag:{item.version_id}", scanner="tag")
            results.append(tagged)
    still = len(pending) - len(results)
    if still:
        logger.warning("Submissions still without a malware scan result", extra={"overdue": still})
    if not results:
        return 0, still, 0
    batch = record_scans(results)
    return len(results) - len(batch.failed), still, len(batch.failed)
