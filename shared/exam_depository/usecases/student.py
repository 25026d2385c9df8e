"""What a student does with an upload code: start their clock in a timed exam, ask for an upload
form, and see the exam, the file on record and the uploads in flight."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.forms  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import MAX_UPLOAD_BYTES, RulesSettings, StorageSettings, load
from exam_depository.domain import codes
from exam_depository.domain.errors import NotFound, NotTimed
from exam_depository.domain.filenames import attachment_disposition, client_filename, object_key, served_content_type
from exam_depository.domain.form_requests import UploadRequest
from exam_depository.domain.rules import (
    attempts_left,
    effective_window,
    form_expiry,
    form_refusal,
    is_late,
    personal_window,
    start_refusal,
    time_allowed,
)
from exam_depository.observability import logger

NO_STUDENT = "No student has this upload code."


@dataclass(frozen=True)
class IssuedForm:
    """A presigned POST form for one upload, and where the student stands with it."""

    upload_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    attempts_used: int
    attempts_left: int
    due_at: datetime
    cutoff_at: datetime
    late: bool  # an upload now would be after the due time


@dataclass(frozen=True)
class Started:
    """A student's clock: when it started (the server's instant), their personal window from it,
    and the time they were allowed (duration with extra time, before the window's cap)."""

    started_at: datetime
    due_at: datetime
    cutoff_at: datetime
    time_allowed: timedelta


def start_attempt(upload_code: str) -> Started:
    """Start the student's clock in a timed exam, now by the server's clock; idempotent: a
    student who started already is answered their stored start and window, refused nothing
    (even after their cut-off). Concurrent starts wait for each other on the student's row, and
    all answer the first's instant."""
    code = _canonical(upload_code)
    with db.transaction() as conn:
        student = db.forms.lock_student_for_start(conn, code)
        if student is None:
            raise NotFound(NO_STUDENT)
        clock = student.clock
        if clock is None:
            raise NotTimed("This exam has no time limit: there is nothing to start; upload when you are ready.")
        if clock.started_at is None:
            now = datetime.now(UTC)
            refusal = start_refusal(
                effective_window(student.window, student.extension_due_at, student.extension_cutoff_at), now
            )
            if refusal is not None:
                raise refusal
            db.forms.start_clock(conn, student.id, now)
            clock = replace(clock, started_at=now)
            logger.info("Attempt started", extra={"upload_code": codes.redact(code)})
    window = personal_window(student.window, student.extension_due_at, student.extension_cutoff_at, clock)
    assert clock.started_at is not None  # started now or before
    return Started(clock.started_at, window.due_at, window.cutoff_at, time_allowed(clock))


def request_upload(upload_code: str, request: UploadRequest) -> IssuedForm:
    code = _canonical(upload_code)
    rules = load(RulesSettings)
    prefix = load(StorageSettings).prefix
    upload_id = uuid.uuid4()
    filename = client_filename(request.filename)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        found = db.forms.lock_student_by_upload_code(conn, code)
        if found is None:
            raise NotFound(NO_STUDENT)
        student, used, open_forms = found
        if student.accepted_types:
            # Here: only an exam that restricts its types loads the kinds' table.
            from exam_depository.domain.content_types import filename_refusal

            wrong_type = filename_refusal(filename, student.accepted_types)
            if wrong_type is not None:
                raise wrong_type
        clock = student.clock
        # The personal window: a form expires by the student's own cut-off, so S3 itself refuses
        # bytes after it.
        window = personal_window(student.window, student.extension_due_at, student.extension_cutoff_at, clock)
        max_attempts = student.max_attempts + student.extra_attempts
        refusal = form_refusal(
            window=window,
            now=now,
            attempts_used=used,
            max_attempts=max_attempts,
            open_forms=open_forms,
            max_open_forms=rules.max_open_forms,
            form_ttl_s=rules.upload_form_ttl_s,
            not_started=clock is not None and clock.started_at is None,
        )
        if refusal is not None:
            raise refusal
        expires_at = form_expiry(now, rules.upload_form_ttl_s, window.cutoff_at)
        key = object_key(f"{prefix}{student.exam_pk}/", upload_id, filename)
        db.forms.insert_upload(
            conn,
            upload_id=upload_id,
            student_id=student.id,
            object_key=key,
            filename=filename,
            content_type=request.content_type,
            form_expires_at=expires_at,
            expected_sha256=request.sha256,
            accepted_types=student.accepted_types,
            check_pdfs=student.check_pdfs,
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
    return IssuedForm(
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


def upload_progress(upload_code: str) -> db.forms.ProgressRow:
    """The exam as this student sees it, the file on record and the uploads in flight
    (`views.upload_progress` shows them as of now)."""
    code = _canonical(upload_code)
    # One statement, without BEGIN and COMMIT: every student's page polls this until its file
    # is recorded, so at a deadline it is the database's most frequent query.
    with db.statement() as conn:
        row = db.forms.upload_progress(conn, code)
    if row is None:
        raise NotFound(NO_STUDENT)
    return row


def _canonical(upload_code: str) -> str:
    canonical = codes.normalize(upload_code)
    if canonical is None:
        raise NotFound(NO_STUDENT)
    return canonical
