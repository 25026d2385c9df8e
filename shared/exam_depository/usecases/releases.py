"""The exam owner's release of a file that could not be scanned for malware. Apart from
`usecases.scans` so that the release function loads none of what recording a scan result needs
(the recorder's decisions and statements)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.scans  # noqa: F401
from exam_depository.adapters import db
from exam_depository.adapters.db.submissions import SubmissionJson
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.errors import NotFound
from exam_depository.domain.scans import release_refusal

if TYPE_CHECKING:  # the route's body, validated by release_submission's app.py
    from exam_depository.domain.release_inputs import ReleaseIn

NO_SUBMISSION = "This exam has no submission from this upload."


def release_submission(caller: Caller, exam_id: str, upload_id: UUID, release: ReleaseIn) -> SubmissionJson:
    """The exam's owner lets a file that could not be scanned, or whose scan is long overdue, be
    downloaded: an audited act. A threat is never released (nor a released file whose scan later
    finds one downloaded). Releasing twice answers the same and appends nothing."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.SUBMISSION_RELEASE)
        target = db.scans.lock_submission(conn, exam.exam_pk, upload_id)
        if target is None:
            raise NotFound(NO_SUBMISSION)
        refusal = release_refusal(target.scan, target.recorded_at, datetime.now(UTC))
        if refusal is not None:
            raise refusal
        if target.scan_released_at is None:
            db.scans.release(conn, target.submission_id, exam.member_id)
            event = Event(
                Actor(str(exam.member_id), exam.role, caller.request_id),
                AuditAction.SUBMISSION_RELEASED,
                f"student:{target.pseudonym}",
                after={
                    "upload_id": str(upload_id),
                    "scan": target.scan,
                    "detail": target.scan_detail,
                    "reason": release.reason,
                },
                subjects=(target.pseudonym,),
            )
            db.audit.append(conn, exam.exam_pk, [event])
        return db.scans.submission_json(conn, target.submission_id)
