"""What students and reviewers do, and what the recorder does when S3 says a file arrived."""

from __future__ import annotations

import functools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from exam_depository import codes, db, storage
from exam_depository.config import MAX_UPLOAD_BYTES, RulesSettings, StorageSettings, load
from exam_depository.errors import Gone, LimitReached, NotFound, ServiceUnavailable, TooManyOpenForms
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
        student = db.lock_student_by_upload_code(conn, code)
        if student is None:
            raise NotFound("No student has this upload code.")
        used = int(student["attempts_used"])
        if used >= rules.max_attempts:
            raise LimitReached(f"All {rules.max_attempts} attempts are used; ask your examiner.")
        if int(student["open_forms"]) >= rules.max_open_forms:
            raise TooManyOpenForms(
                f"{student['open_forms']} upload forms are open and unused; upload with one of them, "
                f"or ask again when they expire ({rules.upload_form_ttl_s // 60} minutes after they were issued)."
            )
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
class BatchResult:
    """What became of each event of a batch (None: not handled), which failed, what was deleted."""

    outcomes: list[Outcome | None]
    failed: set[int]
    deleted: int = 0


def record_objects(events: list[ObjectCreated]) -> BatchResult:
    """Record a batch of uploaded objects in one transaction, idempotently, whatever order and
    however often they arrive.

    S3 is asked about every object first (size, SHA-256); an event whose object cannot be read
    fails alone. Then one transaction locks the batch's uploads and their students, in student
    order so that concurrent batches cannot deadlock, and applies the rules event by event. The
    objects that must not exist (unknown, over the limit, too large, superseded) are marked in
    that transaction and deleted after the commit. Every later batch of the same student asks
    for those deletes again, so a failed delete fails its events, the retry deletes them, and
    what even that misses the reconcile job finds.
    """
    outcomes: list[Outcome | None] = [None] * len(events)
    failed: set[int] = set()
    stored = _read_objects(events, outcomes, failed)
    if not stored:
        return BatchResult(outcomes, failed)
    try:
        with db.transaction() as conn:
            recorded = _record(conn, events, stored, outcomes)
    except ServiceUnavailable:
        logger.exception("PostgreSQL is unavailable; the batch is retried")
        return BatchResult([None if i in stored else o for i, o in enumerate(outcomes)], failed | set(stored))

    to_delete = sorted(set(recorded.orphans) | set(recorded.must_go))
    if to_delete:
        try:
            storage.delete(to_delete)
        except ServiceUnavailable:
            # The records are committed; the retried events ask for the same deletes again.
            logger.exception("S3 delete failed; the messages are retried", extra={"keys": len(to_delete)})
            failed |= set(stored)
    for index in stored:
        logger.info("Object recorded", extra={"key": events[index].key, "outcome": outcomes[index]})
    for key in recorded.orphans:
        logger.warning("Object without an upload form deleted", extra={"key": key})
    return BatchResult(outcomes, failed, deleted=recorded.newly_deleted + len(set(recorded.orphans)))


def _read_objects(
    events: list[ObjectCreated], outcomes: list[Outcome | None], failed: set[int]
) -> dict[int, storage.StoredObject]:
    """S3's answer for each event's object, by event index, read concurrently (it is I/O);
    sets the outcome of the events that have no object to record."""
    prefix = load(StorageSettings).prefix
    wanted = []
    for index, event in enumerate(events):
        if event.key.startswith(prefix):
            wanted.append(index)
        else:
            logger.warning("Object outside the submissions prefix ignored", extra={"key": event.key})
            outcomes[index] = "ignored"
    stored: dict[int, storage.StoredObject] = {}
    if not wanted:
        return stored
    keys = [events[index].key for index in wanted]
    answers = [_inspect(keys[0])] if len(keys) == 1 else list(_readers().map(_inspect, keys))
    for index, found in zip(wanted, answers, strict=True):
        if isinstance(found, ServiceUnavailable):
            logger.error(
                "S3 could not be read; the message is retried", extra={"key": events[index].key, "cause": str(found)}
            )
            failed.add(index)
            continue
        if found is None:
            # Already deleted (a superseded or rejected object, or its student is gone): nothing to keep.
            outcomes[index] = "gone"
        else:
            stored[index] = found
    return stored


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """Threads that read a batch's objects at once; kept by the warm execution environment."""
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix="s3-read")


def _inspect(key: str) -> storage.StoredObject | ServiceUnavailable | None:
    try:
        return storage.inspect(key, MAX_UPLOAD_BYTES)
    except ServiceUnavailable as exc:  # this event fails; the others of its batch go on
        return exc


@dataclass
class _Recorded:
    orphans: list[str]  # objects no upload form was issued for
    must_go: list[str]  # objects of the batch's students that must not exist
    newly_deleted: int  # of those, how many this batch marked


def _record(
    conn: db.Connection,
    events: list[ObjectCreated],
    stored: dict[int, storage.StoredObject],
    outcomes: list[Outcome | None],
) -> _Recorded:
    rules = load(RulesSettings)
    # HEAD answers for the key's newest object, so of several events on one key only the newest counts.
    newest: dict[str, int] = {}
    for index in stored:
        key = events[index].key
        if key not in newest or int(events[index].sequencer, 16) > int(events[newest[key]].sequencer, 16):
            newest[key] = index
    uploads = db.lock_uploads(conn, sorted(newest))
    orphans: list[str] = []
    students: set[int] = set()
    for index, found in stored.items():
        event = events[index]
        upload = uploads.get(event.key)
        if upload is None:
            outcomes[index] = "orphan"
            orphans.append(event.key)
            continue
        students.add(upload["student_id"])
        if newest[event.key] != index:
            outcomes[index] = "duplicate"
        else:
            outcomes[index] = _apply(conn, upload, event=event, found=found, rules=rules)
    must_go = db.keys_to_delete(conn, sorted(students))
    newly_deleted = db.mark_objects_deleted(conn, must_go)
    return _Recorded(orphans, must_go, newly_deleted)


def _apply(
    conn: db.Connection,
    upload: db.Row,
    *,
    event: ObjectCreated,
    found: storage.StoredObject,
    rules: RulesSettings,
) -> Outcome:
    sha256 = found.sha256  # None: over the size limit
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
