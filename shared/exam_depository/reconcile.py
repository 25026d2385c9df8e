"""The reconcile job: make the bucket and the records agree again (DESIGN.md, rule 5).

The recorder keeps them in step as notifications arrive. Drift comes from what it cannot see:
a notification lost, or dead-lettered and never redriven; a delete that failed after its commit
once the message's retries ran out; a file removed by hand. The job lists the bucket first and
reads the records second. An upload row is committed before its form is handed out, so every
listed object's row, if it has one, is visible by then: a listed object without a row is an
orphan, not a race.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from exam_depository import db, storage
from exam_depository.config import RulesSettings, StorageSettings, load
from exam_depository.observability import logger
from exam_depository.storage import ListedObject
from exam_depository.submissions import ObjectCreated, record_objects

# A listed object has no S3 sequencer. The lowest one orders it before any real event on its
# key, so a notification that arrives later still counts as newer and updates the record.
_NO_SEQUENCER = "0"


@dataclass
class Repairs:
    """What one run does; each list holds object keys (or objects, for `record`)."""

    record: list[ListedObject] = field(default_factory=list)  # its notification never came
    delete: list[str] = field(default_factory=list)  # no upload form, rejected, or superseded
    confirm_deleted: list[str] = field(default_factory=list)  # gone as intended, not yet marked
    lost: list[str] = field(default_factory=list)  # a live submission whose file is missing
    drop_unused_forms: list[str] = field(default_factory=list)  # forms that expired unused


@dataclass(frozen=True)
class ReconcileReport:
    listed: int
    recorded: int
    deleted: int
    confirmed_deleted: int
    lost: int
    unused_forms_dropped: int
    failed: int


def plan(objects: list[ListedObject], uploads: list[db.Row], *, listed_at: datetime, grace: timedelta) -> Repairs:
    """Compare the bucket's listing with the records; pure, so every case can be tested alone.

    Anything newer than `grace` before the listing began is left alone: its notification may be
    queued, its upload may still be arriving, and the next run will judge it.
    """
    settled = listed_at - grace
    by_key = {row["object_key"]: row for row in uploads}
    listed = {item.key for item in objects}
    repairs = Repairs()
    for item in objects:
        upload = by_key.get(item.key)
        if upload is None or upload["status"] == "rejected" or upload["submission_status"] == "superseded":
            repairs.delete.append(item.key)
        elif upload["status"] == "pending" and item.last_modified < settled:
            repairs.record.append(item)
    for key, upload in by_key.items():
        if key in listed or upload["object_deleted_at"] is not None:
            continue
        if upload["status"] == "pending":
            if upload["form_expires_at"] < settled:
                repairs.drop_unused_forms.append(key)
        elif upload["status"] == "rejected" or upload["submission_status"] == "superseded":
            repairs.confirm_deleted.append(key)
        elif upload["recorded_at"] < settled:
            # Recorded after a GET found the object, so it existed before the listing began.
            if upload["submission_status"] == "expired" or upload["expires_at"] <= listed_at:
                repairs.confirm_deleted.append(key)  # S3's lifecycle rule removed it
            else:
                repairs.lost.append(key)
    return repairs


def reconcile(now: datetime) -> ReconcileReport:
    """One run of the job: list, compare, repair. Safe to run at any time, and again."""
    rules = load(RulesSettings)
    objects = list(storage.list_objects(load(StorageSettings).prefix))
    with db.transaction() as conn:
        uploads = db.upload_records(conn, [item.key for item in objects])
    grace = timedelta(seconds=rules.reconcile_grace_s)
    repairs = plan(objects, uploads, listed_at=now, grace=grace)

    failed = 0
    for start in range(0, len(repairs.record), 100):
        chunk = repairs.record[start : start + 100]
        result = record_objects([ObjectCreated(i.key, i.size_bytes, _NO_SEQUENCER, i.last_modified) for i in chunk])
        for index in sorted(result.failed):
            logger.error("Recording a listed object failed; the next run retries", extra={"key": chunk[index].key})
        failed += len(result.failed)
    if repairs.delete:
        storage.delete(repairs.delete)
    for key in repairs.lost:
        logger.error("A live submission's file is missing from S3; its download is refused", extra={"key": key})
    with db.transaction() as conn:
        db.mark_objects_deleted(conn, repairs.delete + repairs.confirm_deleted + repairs.lost)
        dropped = db.delete_unused_uploads(conn, repairs.drop_unused_forms, now - grace)
    return ReconcileReport(
        listed=len(objects),
        recorded=len(repairs.record) - failed,
        deleted=len(repairs.delete),
        confirmed_deleted=len(repairs.confirm_deleted),
        lost=len(repairs.lost),
        unused_forms_dropped=dropped,
        failed=failed,
    )
