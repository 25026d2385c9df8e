"""An exam's question paper: the examiner's form to upload it (`request_paper_upload`), what the
recorder makes of a paper S3 accepted (`record_papers`, handed the notifications under the papers
prefix), and a student's link to it (`paper_link`).

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
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.papers  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import MAX_PAPER_BYTES, RulesSettings, StorageSettings, load
from exam_depository.domain import codes
from exam_depository.domain.errors import NotFound, ServiceUnavailable
from exam_depository.domain.filenames import attachment_disposition, client_filename
from exam_depository.domain.papers import (
    ExamPaper,
    PaperArrival,
    PaperForm,
    RecordPaper,
    RejectPaper,
    SeenPaper,
    paper_form_refusal,
    paper_key,
    paper_refusal,
    weigh_papers,
)
from exam_depository.domain.recording import BatchResult, FormReused, ObjectCreated, Orphan, Outcome
from exam_depository.domain.rules import clock_of, form_expiry, personal_window
from exam_depository.observability import logger

if TYPE_CHECKING:
    from exam_depository.domain.inputs import PaperRequest

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


def request_paper_upload(api_key_id: str, exam_id: str, request: PaperRequest) -> IssuedPaperForm:
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
        exam = db.exams.exam_of(conn, api_key_id, exam_id, lock=True)
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


def paper_link(upload_code: str) -> PaperDownload:
    """A short link to the recorded version of the exam's current paper, for a student of a timed
    exam once their clock runs (of an untimed exam, from its opening), until their own cut-off,
    which the link never outlives."""
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


# --- recording --------------------------------------------------------------------------------


def record_papers(events: list[ObjectCreated]) -> BatchResult:
    """Record a batch of question papers S3 accepted in one transaction, idempotently, whatever
    order and however often they arrive, as `recorder.record_objects` records answers: S3 read
    first (one GET each), then the exams and forms locked and the batch weighed (`weigh_papers`),
    then the versions that must not exist deleted by version and marked once S3 confirms
    (orphans, reuses, rejected and superseded papers; an exam's next paper asks again for those a
    failed delete left). An event whose object cannot be read fails alone."""
    outcomes: list[Outcome | None] = [None] * len(events)
    failed: set[int] = set()
    try:
        with db.statement() as conn:
            pinned = db.papers.keys_with_pinned_checksum(conn, sorted({event.key for event in events}))
    except ServiceUnavailable:
        logger.exception("PostgreSQL is unavailable; the papers are retried")
        return BatchResult(outcomes, set(range(len(events))))
    stored: dict[int, storage.StoredPaper] = {}
    for index, event in enumerate(events):  # an exam has one paper: batches of them are small
        try:
            found = storage.inspect_paper(
                event.key, event.version_id, MAX_PAPER_BYTES, checksum_pinned=event.key in pinned
            )
        except ServiceUnavailable:
            logger.exception("S3 could not be read; the paper is retried", extra={"key": event.key})
            failed.add(index)
            continue
        if found is None:
            outcomes[index] = "gone"  # already deleted (a rejected, replaced or reused paper, or its exam)
        else:
            stored[index] = found
    if not stored:
        return BatchResult(outcomes, failed)
    try:
        with db.transaction() as conn:
            versions, papers = _record(conn, events, stored, outcomes)
    except ServiceUnavailable:
        logger.exception("The papers could not be recorded; they are retried")
        return BatchResult([None if i in stored else o for i, o in enumerate(outcomes)], failed | set(stored))
    for index in stored:
        logger.info("Paper recorded", extra={"key": events[index].key, "outcome": outcomes[index]})
    deleted = 0
    if versions:
        try:
            deleted = storage.delete_versions(versions)
            with db.statement() as conn:
                db.papers.mark_objects_deleted(conn, papers)
        except ServiceUnavailable:
            logger.exception("Deleting papers failed; the messages are retried", extra={"versions": len(versions)})
            failed |= set(stored)
    return BatchResult(outcomes, failed, deleted)


def _record(
    conn: db.Connection,
    events: list[ObjectCreated],
    stored: dict[int, storage.StoredPaper],
    outcomes: list[Outcome | None],
) -> tuple[list[tuple[str, str]], list[UUID]]:
    """Weigh and write the batch; returns the versions to delete and the forms whose record they are."""
    forms = db.papers.lock_forms(conn, sorted({events[index].key for index in stored}))
    states = db.papers.paper_states(conn, sorted({form.exam_pk for form in forms.values()}))
    indices = sorted(stored)
    batch = weigh_papers(
        [
            PaperArrival(
                events[index].key,
                SeenPaper(
                    events[index].version_id,
                    stored[index].size_bytes,
                    stored[index].sha256,
                    stored[index].starts_as_pdf,
                    events[index].event_time,
                ),
                events[index].sequencer,
            )
            for index in indices
        ],
        {key: PaperForm(form.exam_pk, form.facts) for key, form in forms.items()},
        {pk: ExamPaper(state.opens_at, state.current_issue_seq) for pk, state in states.items()},
        max_bytes=MAX_PAPER_BYTES,
    )
    recorded: list[db.papers.RecordedPaper] = []
    rejected: list[db.papers.RejectedPaper] = []
    loose: list[tuple[str, str]] = []  # versions no form's record is about: orphans and reuses
    for weighed in batch.weighed:
        index = indices[weighed.arrival]
        event, found, form = events[index], stored[index], forms.get(events[index].key)
        match weighed.decision:
            case RecordPaper():
                assert form is not None
                assert found.sha256 is not None  # recordable papers are 1..max_bytes, so read
                recorded.append(
                    db.papers.RecordedPaper(
                        form.id,
                        "current" if weighed.current else "superseded",
                        event.version_id,
                        found.size_bytes,
                        found.sha256,
                        event.event_time,
                    )
                )
                outcomes[index] = "paper_recorded"
            case RejectPaper(reason=reason):
                assert form is not None
                rejected.append(db.papers.RejectedPaper(form.id, event.version_id, reason, event.event_time))
                outcomes[index] = "paper_rejected"
            case FormReused():
                loose.append((event.key, event.version_id))
                outcomes[index] = "form_reused"
            case Orphan():
                loose.append((event.key, event.version_id))
                outcomes[index] = "orphan"
            case _:
                outcomes[index] = "duplicate"
    if batch.current_moved:
        db.papers.supersede_current(conn, batch.current_moved)
    if recorded:
        db.papers.record_papers(conn, recorded)
    if rejected:
        db.papers.reject_papers(conn, rejected)
    unwanted = db.papers.unwanted_papers(conn, sorted(states))
    return loose + [(paper.object_key, paper.version_id) for paper in unwanted], [paper.paper_id for paper in unwanted]
