"""The expiry job (every 6 hours): submissions past their retention become expired, and their
files are deleted. S3's lifecycle rule is the backstop: it runs once a day and rounds to midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.uploads  # noqa: F401
from exam_depository.adapters import db, storage


@dataclass(frozen=True)
class ExpiryReport:
    expired: int
    deleted: int


def expire_submissions(now: datetime) -> ExpiryReport:
    """Mark current submissions past their retention as expired and delete their files."""
    with db.transaction() as conn:
        expired = db.uploads.expire_submissions(conn, now)
    deleted = storage.delete_versions([(item.object_key, item.version_id) for item in expired])
    with db.statement() as conn:
        db.uploads.mark_objects_deleted(conn, [item.upload_id for item in expired])
    return ExpiryReport(expired=len(expired), deleted=deleted)
