"""An exam's question paper: the examiner's form to upload it (`request_paper_upload`) and a
student's link to it (`paper_link`). What the recorder makes of a paper S3 accepted is
`paper_recorder`'s.

The bucket is private and a paper's key holds 256 random bits: nothing but a presigned form (the
examiner's) or link (a student's, once their clock runs and until their cut-off) contains it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.papers  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import MAX_PAPER_BYTES, RulesSettings, StorageSettings, load
from exam_depository.domain import codes
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import Actor, AuditAction, Event, member_actor
from exam_depository.domain.errors import NotFound
from exam_depository.domain.filenames import attachment_disposition, client_filename
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.papers import paper_form_refusal, paper_key, paper_refusal
from exam_depository.domain.rules import clock_of, form_expiry, personal_window
from exam_depository.observability import logger

if TYPE_CHECKING:
    from exam_depository.domain.form_requests import PaperRequest

PDF = "application/pdf"
NO_STUDENT = "No student has this upload code."


@dataclass(frozen=True)
class IssuedPaperForm:
    """A presigned POST form for the exam's question paper."""

    paper_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


def request_paper_upload(caller: Caller, exam_id: str, request: PaperRequest) -> IssuedPaperForm:
    """A form for the exam's paper, until the exam opens: S3 refuses it after the opening, and the
    recorder rejects what S3 accepted after an opening moved earlier since. The paper recorded
    from the form issued last is the one students get."""
    rules = load(RulesSettings)
    prefix = load(StorageSettings).papers_prefix
    paper_id = uuid.uuid4()
    filename = client_filename(request.filename)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        # Locked: the opening cannot move, nor the exam go, while the form is issued.
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.PAPER_UPLOAD, lock=True)
        refusal = paper_form_refusal(
            opens_at=exam.opens_at,
            now=now,
            ttl_s=rules.paper_form_ttl_s,
            open_forms=db.papers.open_forms(conn, exam.exam_pk),
            max_open_forms=rules.max_open_paper_forms,
        )
        if refusal is not None:
            raise refusal
        expires_at = form_expiry(now, rules.paper_form_ttl_s, exam.opens_at)
        key = paper_key(prefix, exam.exam_pk)
        db.papers.insert_form(
            conn,
            paper_id=paper_id,
            exam_pk=exam.exam_pk,
            object_key=key,
            filename=filename,
            form_expires_at=expires_at,
            expected_sha256=request.sha256,
        )
        issued = Event(
            member_actor(exam, caller),
            AuditAction.PAPER_FORM_ISSUED,
            f"paper:{paper_id}",
            after={"filename": filename, "sha256": request.sha256, "form_expires_at": rfc3339(expires_at)},
        )
        db.audit.append(conn, exam.exam_pk, [issued])
    url, fields = storage.presign_upload(
        key,
        content_type=PDF,
        content_disposition=attachment_disposition(filename),
        max_bytes=MAX_PAPER_BYTES,
        expires_at=expires_at,
        sha256=request.sha256,
    )
    logger.info("Paper form issued", extra={"paper_id": str(paper_id), "exam_id": exam_id})
    return IssuedPaperForm(paper_id=paper_id, url=url, fields=fields, expires_at=expires_at, max_bytes=MAX_PAPER_BYTES)


@dataclass(frozen=True)
class PaperDownload:
    """A link to the exam's current paper, and what the student downloads with it."""

    url: str
    expires_at: datetime
    filename: str
    size_bytes: int
    sha256: str


def paper_link(upload_code: str, *, request_id: str | None = None) -> PaperDownload:
    """A short link to the recorded version of the exam's current paper, for a student of a timed
    exam once their clock runs (of an untimed exam, from its opening), until their own cut-off,
    which the link never outlives. A student's first link to it is recorded in the exam's audit log
    (once: the database notes it), with the request it came from (`request_id`)."""
    code = codes.normalize(upload_code)
    if code is None:
        raise NotFound(NO_STUDENT)
    ttl_s = load(RulesSettings).paper_link_ttl_s
    now = datetime.now(UTC)
    with db.statement() as conn:
        row = db.papers.student_paper(conn, code)
    if row is None:
        raise NotFound(NO_STUDENT)
    clock = clock_of(row.duration_minutes, row.extra_time_percent, row.extra_time_minutes, row.started_at)
    window = personal_window(row.window, row.extension_due_at, row.extension_cutoff_at, clock)
    paper = row.paper
    refusal = paper_refusal(
        window, timed=clock is not None, started_at=row.started_at, now=now, ttl_s=ttl_s, has_paper=paper is not None
    )
    if refusal is not None:
        raise refusal
    assert paper is not None  # paper_refusal refuses without one
    if row.paper_first_linked_at is None:
        _record_first_link(row, paper.paper_id, request_id)
    expires_at = form_expiry(now, ttl_s, window.cutoff_at)
    # Whole seconds from now: S3 counts the link's life from its signing, a moment later and
    # truncated to the second, so it ends by `expires_at`.
    url = storage.presign_download(
        paper.object_key,
        paper.version_id,
        attachment_disposition(paper.filename),
        PDF,
        int((expires_at - now).total_seconds()),
    )
    return PaperDownload(url, expires_at, paper.filename, paper.size_bytes, paper.sha256)


def _record_first_link(row: db.papers.StudentPaper, paper_id: UUID, request_id: str | None) -> None:
    """Note the student's first link to a paper of the exam, and log it, in one transaction; a
    request of theirs that noted it first logged it."""
    with db.transaction() as conn:
        if db.papers.note_first_link(conn, row.student_id):
            first = Event(
                Actor(f"student:{row.pseudonym}", None, request_id),
                AuditAction.PAPER_FIRST_DOWNLOAD,
                f"paper:{paper_id}",
                subjects=(row.pseudonym,),
            )
            db.audit.append(conn, row.exam_pk, [first])
