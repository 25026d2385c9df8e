"""What students and reviewers do, and what the recorder does when S3 says a file arrived."""

from __future__ import annotations

import functools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, cast
from uuid import UUID

from exam_depository.adapters import db, storage
from exam_depository.api.models import (
    DownloadLink,
    ExamTitle,
    ExamWindow,
    StudentName,
    Submission,
    UploadForm,
    UploadProgress,
    UploadState,
    Verification,
)
from exam_depository.config import MAX_UPLOAD_BYTES, RulesSettings, StorageSettings, load
from exam_depository.domain import codes
from exam_depository.domain.errors import Gone, NotFound, ServiceUnavailable
from exam_depository.domain.filenames import attachment_disposition, client_filename, object_key, served_content_type
from exam_depository.domain.inputs import UploadRequest
from exam_depository.domain.recording import (
    Duplicate,
    FormReused,
    ObjectCreated,
    Orphan,
    Record,
    Reject,
    SeenObject,
    StudentFacts,
    UploadFacts,
    must_not_exist,
    recording_decision,
)
from exam_depository.domain.rules import (
    attempts_left,
    effective_window,
    expiry_of,
    form_expiry,
    form_refusal,
    is_late,
    shown_as,
    status_at,
)
from exam_depository.domain.statuses import SubmissionStatus
from exam_depository.observability import logger
from exam_depository.usecases import receipts

Outcome = Literal["recorded", "superseded", "rejected", "form_reused", "duplicate", "orphan", "gone", "ignored"]


def request_upload(upload_code: str, request: UploadRequest) -> UploadForm:
    code = _canonical(upload_code, "upload")
    rules = load(RulesSettings)
    prefix = load(StorageSettings).prefix
    upload_id = uuid.uuid4()
    filename = client_filename(request.filename)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        found = db.uploads.lock_student_by_upload_code(conn, code)
        if found is None:
            raise NotFound("No student has this upload code.")
        student, used, open_forms = found
        window = effective_window(student.window, student.extension_due_at, student.extension_cutoff_at)
        max_attempts = student.max_attempts + student.extra_attempts
        refusal = form_refusal(
            window=window,
            now=now,
            attempts_used=used,
            max_attempts=max_attempts,
            open_forms=open_forms,
            max_open_forms=rules.max_open_forms,
            form_ttl_s=rules.upload_form_ttl_s,
        )
        if refusal is not None:
            raise refusal
        expires_at = form_expiry(now, rules.upload_form_ttl_s, window.cutoff_at)
        key = object_key(f"{prefix}{student.exam_pk}/", upload_id, filename)
        db.uploads.insert_upload(
            conn,
            upload_id=upload_id,
            student_id=student.id,
            object_key=key,
            filename=filename,
            content_type=request.content_type,
            form_expires_at=expires_at,
            expected_sha256=request.sha256,
        )
    url, fields = storage.presign_upload(
        key,
        content_type=served_content_type(request.content_type),
        content_disposition=attachment_disposition(filename),
        max_bytes=MAX_UPLOAD_BYTES,
        expires_at=expires_at,
        sha256=request.sha256,
    )
    logger.info("Upload form issued", extra={"upload_id": str(upload_id), "upload_code": codes.redact(code)})
    return UploadForm(
        upload_id=upload_id,
        url=url,
        fields=fields,
        expires_at=expires_at,
        max_bytes=MAX_UPLOAD_BYTES,
        attempts_used=used,
        attempts_left=attempts_left(used, max_attempts),
        due_at=window.due_at,
        cutoff_at=window.cutoff_at,
        late=is_late(now, window.due_at),
    )


def upload_progress(upload_code: str) -> UploadProgress:
    code = _canonical(upload_code, "upload")
    with db.transaction() as conn:
        row = db.uploads.upload_progress(conn, code)
    if row is None:
        raise NotFound("No student has this upload code.")
    window = effective_window(row.window, row.extension_due_at, row.extension_cutoff_at)
    now = datetime.now(UTC)
    return UploadProgress(
        exam=ExamWindow(
            title=row.title,
            opens_at=window.opens_at,
            due_at=window.due_at,
            cutoff_at=window.cutoff_at,
            timezone=row.timezone,
        ),
        server_time=now,
        student=StudentName(first_name=row.first_name, last_name=row.last_name),
        attempts_used=row.attempts_used,
        attempts_left=attempts_left(row.attempts_used, row.max_attempts + row.extra_attempts),
        current=submission_view(row.current, now) if row.current is not None else None,
        uploads=[UploadState.model_validate(item) for item in row.uploads],
    )


def verify(verification_code: str) -> Verification:
    row = _submission_row(verification_code)
    return Verification(
        verification_code=codes.display(row.verification_code),
        exam=ExamTitle(title=row.exam_title),
        filename=row.filename,
        size_bytes=row.size_bytes,
        content_type=row.content_type,
        sha256=row.sha256,
        submitted_at=row.submitted_at,
        status=status_at(row.status, row.expires_at, datetime.now(UTC)),
        late=row.late,
        # An anonymous exam is marked without names: the code reveals the file, not its author.
        student=None if row.anonymous else StudentName(first_name=row.first_name, last_name=row.last_name),
    )


def download_link(verification_code: str) -> DownloadLink:
    row = _submission_row(verification_code)
    now = datetime.now(UTC)
    status = status_at(row.status, row.expires_at, now)
    if status != "current":
        raise Gone(f"This file is {status}; only the current submission can be downloaded.")
    if row.object_deleted_at is not None:
        # The reconcile job found the file missing from S3: a link would only give a 404.
        raise Gone("This file is no longer stored; the student can upload it again.")
    ttl = load(RulesSettings).download_url_ttl_s
    url = storage.presign_download(
        row.object_key,
        row.version_id,
        attachment_disposition(row.filename),
        served_content_type(row.content_type),
        ttl,
    )
    return DownloadLink(url=url, expires_at=now.replace(microsecond=0) + timedelta(seconds=ttl))


def expire_submissions(now: datetime) -> ExpiryReport:
    """Mark current submissions past their retention as expired and delete their files (S3's
    lifecycle rule is the backstop: it runs once a day and rounds to midnight)."""
    with db.transaction() as conn:
        expired = db.uploads.expire_submissions(conn, now)
    deleted = storage.delete_versions([(item.object_key, item.version_id) for item in expired])
    with db.transaction() as conn:
        db.uploads.mark_objects_deleted(conn, [item.upload_id for item in expired])
    return ExpiryReport(expired=len(expired), deleted=deleted)


@dataclass(frozen=True)
class ExpiryReport:
    expired: int
    deleted: int


@dataclass(frozen=True)
class BatchResult:
    """What became of each event of a batch (None: not handled), which failed, and how many
    object versions S3 confirmed deleted."""

    outcomes: list[Outcome | None]
    failed: set[int]
    deleted: int = 0


def record_objects(events: list[ObjectCreated]) -> BatchResult:
    """Record a batch of uploaded objects in one transaction, idempotently, whatever order and
    however often they arrive.

    S3 is asked about every event's version first (size, SHA-256), with one request each: a HEAD
    where the form pinned a checksum, else a GET (one short transaction first says which, and
    ends before S3 is read); an event whose object cannot be read fails alone. Then one
    transaction locks the batch's uploads and their students, in student order so that
    concurrent batches cannot deadlock, and asks `recording_decision` about each event, in the
    order the forms were issued. After the commit the
    versions that must not exist (`must_not_exist`: orphans, reuses, rejected, superseded) are
    deleted, and marked deleted once S3 confirms. Every later batch of the same student asks for
    the unconfirmed ones again, so a failed delete fails its events, the retry deletes them, and
    what even that misses the reconcile job finds.
    """
    outcomes: list[Outcome | None] = [None] * len(events)
    failed: set[int] = set()
    stored = _read_objects(events, outcomes, failed)
    if not stored:
        return BatchResult(outcomes, failed)
    try:
        with db.transaction() as conn:
            to_delete = _record(conn, events, stored, outcomes)
    except ServiceUnavailable:
        logger.exception("PostgreSQL is unavailable; the batch is retried")
        return BatchResult([None if i in stored else o for i, o in enumerate(outcomes)], failed | set(stored))
    for index in stored:
        logger.info("Object recorded", extra={"key": events[index].key, "outcome": outcomes[index]})
    deleted = 0
    if to_delete.versions:
        try:
            deleted = storage.delete_versions(to_delete.versions)
            with db.transaction() as conn:
                db.uploads.mark_objects_deleted(conn, to_delete.uploads)
        except ServiceUnavailable:
            # The records are committed; the retried events ask for the same deletes again.
            logger.exception(
                "Deleting objects failed; the messages are retried", extra={"versions": len(to_delete.versions)}
            )
            failed |= set(stored)
    return BatchResult(outcomes, failed, deleted)


def _read_objects(
    events: list[ObjectCreated], outcomes: list[Outcome | None], failed: set[int]
) -> dict[int, storage.StoredObject]:
    """S3's answer for each event's version, by event index, read concurrently (it is I/O);
    sets the outcome of the events that have no object to record, and fails them all when
    PostgreSQL cannot say which forms pinned a checksum."""
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
    targets = [events[index] for index in wanted]
    try:
        # Its own transaction, committed before S3 is read: no snapshot is held open meanwhile.
        with db.transaction() as conn:
            pinned = db.uploads.keys_with_pinned_checksum(conn, sorted({event.key for event in targets}))
    except ServiceUnavailable:
        logger.exception("PostgreSQL is unavailable; the batch is retried")
        failed.update(wanted)
        return stored
    # A key no form is about (an orphan) is read with the GET too: its size is checked first.
    checked = [event.key in pinned for event in targets]
    if len(targets) == 1:
        answers = [_inspect(targets[0], checked[0])]
    else:
        answers = list(_readers().map(_inspect, targets, checked))
    for index, found in zip(wanted, answers, strict=True):
        if isinstance(found, ServiceUnavailable):
            logger.error(
                "S3 could not be read; the message is retried", extra={"key": events[index].key, "cause": str(found)}
            )
            failed.add(index)
            continue
        if found is None:
            # Already deleted (a superseded, rejected or reused version, or its student is gone).
            outcomes[index] = "gone"
        else:
            stored[index] = found
    return stored


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """Threads that read a batch's objects at once; kept by the warm execution environment."""
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix="s3-read")


def _inspect(event: ObjectCreated, checksum_pinned: bool) -> storage.StoredObject | ServiceUnavailable | None:
    try:
        return storage.inspect(event.key, event.version_id, MAX_UPLOAD_BYTES, checksum_pinned=checksum_pinned)
    except ServiceUnavailable as exc:  # this event fails; the others of its batch go on
        return exc


@dataclass
class _Deletions:
    versions: list[tuple[str, str]]  # (key, version) that must not exist
    uploads: list[UUID]  # the forms among them whose record must be marked once S3 confirms


def _record(
    conn: db.Connection,
    events: list[ObjectCreated],
    stored: dict[int, storage.StoredObject],
    outcomes: list[Outcome | None],
) -> _Deletions:
    rules = load(RulesSettings)
    uploads = db.uploads.lock_uploads(conn, sorted({events[index].key for index in stored}))
    states = db.uploads.recording_states(conn, sorted({upload.student_id for upload in uploads.values()}))
    students = {
        sid: StudentFacts(state.attempts_used, state.max_attempts, state.current_issue_seq, state.cutoff_at)
        for sid, state in states.items()
    }
    forms = {key: upload.facts for key, upload in uploads.items()}
    new: list[db.uploads.NewSubmission] = []
    attempts: dict[UUID, int] = {}  # each new submission's attempt number, for its receipt
    rejections: list[db.uploads.Rejection] = []
    loose: list[tuple[str, str]] = []  # versions no form's record is about: orphans and reuses
    for index in sorted(stored, key=lambda i: _weighing_order(uploads.get(events[i].key), events[i])):
        event, found = events[index], stored[index]
        upload = uploads.get(event.key)
        student = students.get(upload.student_id) if upload is not None else None
        seen = SeenObject(event.version_id, found.size_bytes, found.sha256, event.event_time)
        decision = recording_decision(forms.get(event.key), seen, student, max_bytes=MAX_UPLOAD_BYTES)
        match decision:
            case Record(placement=where):
                assert upload is not None
                assert student is not None
                assert found.sha256 is not None  # recordable objects are 1..max_bytes, so hashed
                new.append(
                    _new_submission(
                        upload,
                        event,
                        found=found,
                        sha256=found.sha256,
                        student=states[upload.student_id],
                        rules=rules,
                    )
                )
                attempts[upload.id] = student.attempts_used + 1
                forms[event.key] = UploadFacts("recorded", event.version_id, upload.issue_seq)
                current = upload.issue_seq if where == "current" else student.current_issue_seq
                students[upload.student_id] = replace(
                    student, attempts_used=student.attempts_used + 1, current_issue_seq=current
                )
                outcomes[index] = "recorded" if where == "current" else "superseded"
            case Reject(reason=reason):
                assert upload is not None
                rejections.append(db.uploads.Rejection(upload.id, event.version_id, reason))
                forms[event.key] = UploadFacts("rejected", event.version_id, upload.issue_seq)
                outcomes[index] = "rejected"
            case FormReused():
                loose.append((event.key, event.version_id))
                outcomes[index] = "form_reused"
            case Orphan():
                loose.append((event.key, event.version_id))
                outcomes[index] = "orphan"
            case Duplicate():
                outcomes[index] = "duplicate"

    if new:
        new = _with_receipts(conn, new, attempts, states, students)
    _write(conn, new, rejections, students, states)
    must_go = [
        version
        for version in db.uploads.unconfirmed_versions(conn, sorted(students))
        if must_not_exist(version.facts, version.submission_status, version.version_id)
    ]
    return _Deletions(
        versions=loose + [(version.object_key, version.version_id) for version in must_go],
        uploads=[version.upload_id for version in must_go],
    )


def _weighing_order(upload: db.uploads.LockedUpload | None, event: ObjectCreated) -> tuple[int, int]:
    """Uploads in the order their forms were issued; the versions of one key in the order S3
    accepted them, so the first version posted is the one a form's record is about."""
    return (upload.issue_seq if upload is not None else 0, int(event.sequencer, 16))


def _new_submission(
    upload: db.uploads.LockedUpload,
    event: ObjectCreated,
    *,
    found: storage.StoredObject,
    sha256: str,
    student: db.uploads.RecordingState,
    rules: RulesSettings,
) -> db.uploads.NewSubmission:
    return db.uploads.NewSubmission(
        upload_id=upload.id,
        student_id=upload.student_id,
        issue_seq=upload.issue_seq,
        version_id=event.version_id,
        verification_code=codes.new_code(),
        filename=upload.filename,
        content_type=upload.content_type,
        size_bytes=found.size_bytes,
        sha256=sha256,
        sha256_checked_by_s3=found.checked_by_s3,
        # When S3 accepted the bytes, not when the queue delivered them.
        submitted_at=event.event_time,
        expires_at=expiry_of(event.event_time, student.cutoff_at, rules.retention_days),
        late=is_late(event.event_time, student.due_at),
        status="superseded",  # until _write knows which one ends current
    )


def _with_receipts(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    attempts: dict[UUID, int],
    states: dict[int, db.uploads.RecordingState],
    students: dict[int, StudentFacts],
) -> list[db.uploads.NewSubmission]:
    """The batch's new submissions with their receipts, each student's chained in recording order
    from that student's latest receipt. Signed before the commit: a KMS failure fails the batch
    (it is retried), so no submission is ever recorded without its receipt."""
    kid = receipts.publish_key(conn)
    chains: dict[int, list[db.uploads.NewSubmission]] = {}
    for submission in new:
        chains.setdefault(submission.student_id, []).append(submission)
    statements = [
        [
            receipts.claims(
                exam=states[sid].exam_id,
                nickname=shown_as(states[sid].nickname, states[sid].pseudonym, anonymous=states[sid].anonymous),
                submission=submission,
                attempt=attempts[submission.upload_id],
                attempts=students[sid].max_attempts,
                previous=states[sid].last_receipt_sha256,
            )
            for submission in chain
        ]
        for sid, chain in chains.items()
    ]
    signed = receipts.issue(kid, statements)
    tokens = {
        submission.upload_id: token
        for chain, chain_tokens in zip(chains.values(), signed, strict=True)
        for submission, token in zip(chain, chain_tokens, strict=True)
    }
    return [replace(submission, receipt=tokens[submission.upload_id]) for submission in new]


def _write(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    rejections: list[db.uploads.Rejection],
    students: dict[int, StudentFacts],
    before: dict[int, db.uploads.RecordingState],
) -> None:
    """The batch's decisions in a fixed number of statements: of a student's submissions, the
    one whose form was issued last ends current (one current per student, a unique index)."""
    changed = [sid for sid, facts in students.items() if facts.current_issue_seq != before[sid].current_issue_seq]
    if changed:
        db.uploads.supersede_current(conn, changed)
    if new:
        final = {sid: facts.current_issue_seq for sid, facts in students.items()}
        db.uploads.insert_submissions(
            conn, [replace(s, status="current" if s.issue_seq == final[s.student_id] else "superseded") for s in new]
        )
    if rejections:
        db.uploads.reject_uploads(conn, rejections)


def submission_view(item: dict[str, object], now: datetime) -> Submission:
    """A stored submission as clients see it: grouped code, status as of `now`."""
    return Submission.model_validate(submission_fields(item, now))


def submission_fields(item: dict[str, object], now: datetime) -> dict[str, object]:
    """`submission_view`'s fields, in its order and types but unvalidated, for a page that is
    serialised without models (`students.list_students`)."""
    expires_at = _instant(item["expires_at"])
    return {
        "upload_id": item["upload_id"],
        "verification_code": codes.display(str(item["verification_code"])),
        "filename": item["filename"],
        "content_type": item["content_type"],
        "size_bytes": item["size_bytes"],
        "sha256": item["sha256"],
        "submitted_at": _instant(item["submitted_at"]),
        "expires_at": expires_at,
        "status": status_at(cast(SubmissionStatus, item["status"]), expires_at, now),
        "late": item["late"],
        "receipt": item.get("receipt"),
    }


def _instant(value: object) -> datetime:
    if isinstance(value, str):  # from PostgreSQL's JSON: ISO 8601 with its offset
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value


def _submission_row(verification_code: str) -> db.uploads.VerifiedSubmission:
    code = _canonical(verification_code, "verification")
    with db.transaction() as conn:
        row = db.uploads.submission_by_code(conn, code)
    if row is None:
        raise NotFound("No submission has this verification code.")
    return row


def _canonical(code: str, kind: str) -> str:
    canonical = codes.normalize(code)
    if canonical is None:
        raise NotFound(f"No {'student' if kind == 'upload' else 'submission'} has this {kind} code.")
    return canonical
