"""The malware scan: record what the scanner found about each uploaded version (GuardDuty's
results, or the local stand-in's, through the scan queue; the reconcile job's from a version's
tag), and delete the earlier files a result no longer needs kept. The exam owner's release of a
file that could not be scanned is `usecases.releases`."""

from __future__ import annotations

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.scans
import exam_depository.adapters.db.uploads  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.domain import codes
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.recording import versions_to_delete
from exam_depository.domain.scans import Ignored, ScanBatch, ScanResult
from exam_depository.domain.statuses import ScanState
from exam_depository.observability import logger

SCANNER = Actor("system:scanner", None, None)
# A state a result moved a submission to that the exam's log records (a clean file's is not news).
_TOLD: dict[ScanState, AuditAction] = {
    "threat": AuditAction.SUBMISSION_SCAN_THREAT,
    "unsupported": AuditAction.SUBMISSION_SCAN_UNSUPPORTED,
    "failed": AuditAction.SUBMISSION_SCAN_FAILED,
}


def record_scan_results(results: list[ScanResult | Ignored]) -> ScanBatch:
    """Keep each result that supersedes its version's stored one, give recorded submissions their
    state, and append an event for each that became a threat or could not be scanned: one
    transaction, idempotent whatever the order and repetitions of the results.

    A result that arrives before its version is recorded stays in `object_scan` and the recorder
    takes it up; both lock the upload's row first, so neither misses the other. A database that
    fails fails the whole batch (every index): SQS delivers it again.

    A result can end the keeping of a student's earlier files in place of a later one (their
    current file found clean, or a later superseded one): after the commit, the versions of the
    batch's students that must not exist (`domain.recording.versions_to_delete`, as the recorder
    asks) are deleted, and marked deleted once S3 confirms, rather than at the student's next
    recording or the reconcile job's next run. A delete that fails fails the batch: its
    redelivery, a duplicate by then, asks for the unconfirmed ones again."""
    batch = ScanBatch()
    found = [(index, result) for index, result in enumerate(results) if isinstance(result, ScanResult)]
    if not found:
        return batch
    try:
        with db.transaction() as conn:
            targets = db.scans.lock_uploads_by_key(conn, sorted({result.key for _, result in found}))
            told: list[tuple[int, Event]] = []
            for _, result in found:
                target = targets.get(result.key)
                if target is None:
                    logger.warning("A scan result for no upload", extra={"key": result.key})
                    batch.unmatched += 1
                    continue
                applied = db.scans.apply(conn, target, result)
                if applied is None:
                    continue
                batch.changed.append(applied.scan)
                action = _TOLD.get(applied.scan)
                if action is not None:
                    event = Event(
                        SCANNER,
                        action,
                        f"student:{target.pseudonym}",
                        after={
                            "upload_id": str(target.upload_id),
                            "scan": applied.scan,
                            "detail": applied.scan_detail,
                            "verification": codes.redact(applied.verification_code),
                        },
                        subjects=(target.pseudonym,),
                    )
                    told.append((target.exam_pk, event))
            # Every student of the batch, whatever their results changed: a redelivered duplicate
            # finishes the deletes its first delivery could not.
            students = sorted({target.student_id for target in targets.values()})
            must_go = versions_to_delete(db.uploads.unconfirmed_versions(conn, students)) if students else []
            # The events last: each exam's chain head is locked until the commit, so the uploads'
            # locks come first (the recorder's order), then the heads.
            for exam_pk in sorted({exam_pk for exam_pk, _ in told}):
                db.audit.append(conn, exam_pk, [event for pk, event in told if pk == exam_pk])
    except ServiceUnavailable:
        logger.exception("A batch of scan results could not be recorded; SQS delivers it again")
        return ScanBatch(failed={index for index, _ in found})
    if must_go:
        try:
            batch.deleted = _delete(must_go)
        except ServiceUnavailable:
            # The results are committed; their redelivery asks for the same deletes again.
            logger.exception(
                "Deleting files no longer kept failed; the results are retried", extra={"versions": len(must_go)}
            )
            batch.failed = {index for index, _ in found}
    return batch


def _delete(versions: list[db.uploads.UsedVersion]) -> int:
    """Delete the versions from S3, then mark them deleted (S3 confirmed): how many S3 confirmed."""
    deleted = storage.delete_versions([(version.object_key, version.version_id) for version in versions])
    with db.statement() as conn:
        db.uploads.mark_objects_deleted(conn, [version.upload_id for version in versions])
    return deleted
