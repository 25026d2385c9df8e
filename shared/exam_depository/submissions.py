"""What students and reviewers do, and what the recorder does when S3 says a file arrived."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from exam_depository import codes, db, storage
from exam_depository.config import MAX_UPLOAD_BYTES, RulesSettings, StorageSettings, load
from exam_depository.errors import Gone, LimitReached, NotFound
from exam_depository.models import (
    DownloadLink,
    StudentName,
    Submission,
    UploadForm,
    UploadProgress,
    UploadRequest,
    UploadState,
    Verification,
)
from exam_depository.observability import logger
from exam_depository.rules import (
    attachment_disposition,
    attempts_left,
    client_filename,
    expiry_of,
    is_newer_event,
    object_key,
    placement,
    status_at,
)

Outcome = Literal["recorded", "superseded", "updated", "rejected", "duplicate", "orphan", "gone", "ignored"]


def request_upload(upload_code: str, request: UploadRequest) -> UploadForm:
    code = _canonical(upload_code, "upload")
    rules = load(RulesSettings)
    prefix = load(StorageSettings).prefix
    upload_id = uuid.uuid4()
    filename = client_filename(request.filename)
    key = object_key(prefix, upload_id, filename)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=rules.upload_form_ttl_s)
    with db.transaction() as conn:
        student = db.student_by_upload_code(conn, code)
        if student is None:
            raise NotFound("No student has this upload code.")
        used = int(student["attempts_used"])
        if used >= rules.max_attempts:
            raise LimitReached(f"All {rules.max_attempts} attempts are used; ask your examiner.")
        db.insert_upload(
            conn,
            upload_id=upload_id,
            student_id=student["id"],
            object_key=key,
            filename=filename,
            content_type=request.content_type,
            form_expires_at=expires_at,
        )
    url, fields = storage.presign_upload(key, request.content_type, MAX_UPLOAD_BYTES, rules.upload_form_ttl_s)
    logger.info("Upload form issued", extra={"upload_id": str(upload_id), "upload_code": codes.redact(code)})
    return UploadForm(
        upload_id=upload_id,
        url=url,
        fields=fields,
        expires_at=expires_at,
        max_bytes=MAX_UPLOAD_BYTES,
        attempts_used=used,
        attempts_left=attempts_left(used, rules.max_attempts),
    )


def upload_progress(upload_code: str) -> UploadProgress:
    code = _canonical(upload_code, "upload")
    with db.transaction() as conn:
        row = db.upload_progress(conn, code)
    if row is None:
        raise NotFound("No student has this upload code.")
    used = int(row["attempts_used"])
    now = datetime.now(UTC)
    return UploadProgress(
        student=StudentName(first_name=row["first_name"], last_name=row["last_name"]),
        attempts_used=used,
        attempts_left=attempts_left(used, load(RulesSettings).max_attempts),
        current=submission_view(row["current"], now) if row["current"] is not None else None,
        uploads=[UploadState.model_validate(item) for item in row["uploads"]],
    )


def verify(verification_code: str) -> Verification:
    row = _submission_row(verification_code)
    return Verification(
        verification_code=codes.display(row["verification_code"]),
        filename=row["filename"],
        size_bytes=row["size_bytes"],
        content_type=row["content_type"],
        sha256=row["sha256"],
        submitted_at=row["submitted_at"],
        status=status_at(row["status"], row["expires_at"], datetime.now(UTC)),
        student=StudentName(first_name=row["first_name"], last_name=row["last_name"]),
    )


def download_link(verification_code: str) -> DownloadLink:
    row = _submission_row(verification_code)
    now = datetime.now(UTC)
    status = status_at(row["status"], row["expires_at"], now)
    if status != "current":
        raise Gone(f"This file is {status}; only the current submission can be downloaded.")
    if row["object_deleted_at"] is not None:
        # The reconcile job found the file missing from S3: a link would only give a 404.
        raise Gone("This file is no longer stored; the student can upload it again.")
    ttl = load(RulesSettings).download_url_ttl_s
    url = storage.presign_download(row["object_key"], attachment_disposition(row["filename"]), row["content_type"], ttl)
    return DownloadLink(url=url, expires_at=now.replace(microsecond=0) + timedelta(seconds=ttl))


def expire_submissions(now: datetime) -> int:
    """Mark current submissions older than the retention as expired; returns how many."""
    with db.transaction() as conn:
        return db.expire_submissions(conn, now)


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 ObjectCreated record, key already URL-decoded."""

    key: str
    size_bytes: int
    sequencer: str
    event_time: datetime


@dataclass(frozen=True)
class RecordResult:
    outcome: Outcome
    deleted: int = 0


def record_object(event: ObjectCreated) -> RecordResult:
    """Record one uploaded object, idempotently, whatever order and however often it arrives.

    The database commit comes first; objects that must not exist (over the limit, too large,
    superseded, unknown) are deleted after it. If that delete fails this raises, the message is
    retried, the event is then a duplicate, and the delete is tried again.
    """
    rules = load(RulesSettings)
    if not event.key.startswith(load(StorageSettings).prefix):
        logger.warning("Object outside the submissions prefix ignored", extra={"key": event.key})
        return RecordResult("ignored")
    found = storage.head(event.key)
    if found is None:
        # Already deleted (a superseded or rejected object, or its student is gone): nothing to keep.
        return RecordResult("gone")
    sha256 = None
    if found.size_bytes <= MAX_UPLOAD_BYTES:
        sha256 = found.sha256 or storage.sha256_of(event.key)
        if sha256 is None:
            return RecordResult("gone")

    with db.transaction() as conn:
        upload = db.lock_upload(conn, event.key)
        if upload is None:
            outcome: Outcome = "orphan"
        else:
            outcome = _apply(conn, upload, event=event, found=found, sha256=sha256, rules=rules)
            to_delete = db.keys_to_delete(conn, upload["student_id"])
    if outcome == "orphan":
        logger.warning("Object without an upload form deleted", extra={"key": event.key})
        storage.delete([event.key])
        return RecordResult(outcome, deleted=1)
    if to_delete:
        storage.delete(to_delete)
        with db.transaction() as conn:
            db.mark_objects_deleted(conn, to_delete)
    logger.info("Object recorded", extra={"key": event.key, "outcome": outcome, "deleted": len(to_delete)})
    return RecordResult(outcome, deleted=len(to_delete))


def _apply(
    conn: db.Connection,
    upload: db.Row,
    *,
    event: ObjectCreated,
    found: storage.StoredObject,
    sha256: str | None,
    rules: RulesSettings,
) -> Outcome:
    if not is_newer_event(event.sequencer, upload["s3_sequencer"]):
        return "duplicate"
    if upload["status"] == "recorded" and sha256 is None:
        # The form was posted again with a file over the limit (a bypassed policy): the
        # recorded file is gone from S3, so its record is withdrawn and the object deleted.
        db.withdraw_submission(conn, upload["id"], event.sequencer)
        return "rejected"
    if upload["status"] == "rejected" or sha256 is None:
        db.reject_upload(conn, upload["id"], upload["rejection_reason"] or "too_large", event.sequencer)
        return "rejected"
    recorded = {
        "sequencer": event.sequencer,
        "size_bytes": found.size_bytes,
        "sha256": sha256,
        "content_type": found.content_type,
        "submitted_at": event.event_time,
    }
    if upload["status"] == "recorded":
        db.overwrite_submission(conn, upload["id"], recorded)
        return "updated"
    state = db.recording_state(conn, upload["student_id"])
    if int(state["attempts_used"]) >= rules.max_attempts:
        db.reject_upload(conn, upload["id"], "limit_reached", event.sequencer)
        return "rejected"
    where = placement(upload["issue_seq"], state["current_issue_seq"])
    if where == "current":
        db.supersede_current(conn, upload["student_id"])
    now = datetime.now(UTC)
    db.insert_submission(
        conn,
        {
            **recorded,
            "upload_id": upload["id"],
            "student_id": upload["student_id"],
            "issue_seq": upload["issue_seq"],
            "verification_code": codes.new_code(),
            "filename": upload["filename"],
            "expires_at": expiry_of(now, rules.retention_hours),
            "status": where,
        },
    )
    return "recorded" if where == "current" else "superseded"


def submission_view(item: dict[str, object], now: datetime) -> Submission:
    """A stored submission as clients see it: grouped code, status as of `now`."""
    parsed = Submission.model_validate({**item, "verification_code": codes.display(str(item["verification_code"]))})
    return parsed.model_copy(update={"status": status_at(parsed.status, parsed.expires_at, now)})


def _submission_row(verification_code: str) -> db.Row:
    code = _canonical(verification_code, "verification")
    with db.transaction() as conn:
        row = db.submission_by_code(conn, code)
    if row is None:
        raise NotFound("No submission has this verification code.")
    return row


def _canonical(code: str, kind: str) -> str:
    canonical = codes.normalize(code)
    if canonical is None:
        raise NotFound(f"No {'student' if kind == 'upload' else 'submission'} has this {kind} code.")
    return canonical
