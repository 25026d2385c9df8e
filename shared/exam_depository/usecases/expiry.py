"""The expiry job (every 6 hours): submissions past their retention become expired, and their
files are deleted (S3's lifecycle rule is the backstop: it runs once a day and rounds to
midnight); every exam whose last cut-off passed gets a signed checkpoint of its audit log; the
logs of exams deleted more than AUDIT_RETENTION_DAYS ago go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field, field_validator

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.uploads  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import EnvSettings, load
from exam_depository.domain.audit import SignCheckpoint
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.observability import logger


class AuditSettings(EnvSettings):
    """The expiry job's: how long a deleted exam's tombstone (and the log of an exam an older
    release deleted) is kept: template.yaml's AuditRetentionDays, one of these."""

    retention_days: int = Field(default=365, alias="AUDIT_RETENTION_DAYS")

    @field_validator("retention_days")
    @classmethod
    def _allowed(cls, value: int) -> int:
        if value not in AUDIT_RETENTION_DAYS:
            raise ValueError(f"AUDIT_RETENTION_DAYS must be one of {sorted(AUDIT_RETENTION_DAYS)}")
        return value


# The template's AllowedValues; never under 30 days (the log's trigger refuses sooner anyway).
AUDIT_RETENTION_DAYS = frozenset({30, 90, 180, 365, 730, 1825, 3650})


# Checkpoints signed per run, at most (a KMS call each): the first run after an upgrade finds
# every past exam, and the next runs take the rest.
CHECKPOINTS_PER_RUN = 100


@dataclass(frozen=True)
class ExpiryReport:
    expired: int
    deleted: int
    checkpoints: int = 0
    audit_logs_purged: int = 0


def expire_submissions(now: datetime, *, checkpoint: SignCheckpoint) -> ExpiryReport:
    """Mark current submissions past their retention as expired and delete their files; sign a
    checkpoint of the audit log of each exam whose last cut-off passed (`checkpoint`), and purge
    the logs of exams deleted long enough ago (`purge_audit`)."""
    with db.transaction() as conn:
        expired = db.uploads.expire_submissions(conn, now)
    deleted = storage.delete_versions([(item.object_key, item.version_id) for item in expired])
    with db.statement() as conn:
        db.uploads.mark_objects_deleted(conn, [item.upload_id for item in expired])
    return ExpiryReport(
        expired=len(expired),
        deleted=deleted,
        checkpoints=checkpoint_passed_exams(now, checkpoint),
        audit_logs_purged=purge_audit(now),
    )


def checkpoint_passed_exams(now: datetime, checkpoint: SignCheckpoint) -> int:
    """A `closed` checkpoint for each exam whose last cut-off, extensions included, passed with
    none signed since: the guarantee that every exam's log is signed once it is over, whether or
    not it was closed by hand. KMS unavailable stops the run's signing; the next run goes on."""
    with db.statement() as conn:
        due = db.audit.exams_to_checkpoint(conn, now, CHECKPOINTS_PER_RUN)
    signed = 0
    for exam_pk in due:
        try:
            signed += checkpoint(exam_pk, "closed") is not None
        except ServiceUnavailable:
            logger.exception("Signing audit checkpoints failed; the next run signs the rest")
            break
    return signed


def purge_audit(now: datetime) -> int:
    """Forget the audit logs of exams deleted more than AUDIT_RETENTION_DAYS before `now` (their
    tombstones), and of exams an older release deleted, as long after their last event."""
    with db.transaction() as conn:
        return db.audit.purge(conn, tombstones_before=now - timedelta(days=load(AuditSettings).retention_days))
