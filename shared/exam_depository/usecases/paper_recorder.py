"""What the recorder makes of a question paper S3 accepted (`record_papers`, handed the
notifications under the papers prefix). Apart from `usecases.papers` so that the examiner's and
the students' routes do not load the recorder's rules; the record function loads it only when a
paper arrives. Each paper recorded is an event of its exam's audit log, the recorder's."""

from __future__ import annotations

from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.papers  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.adapters.objects import StoredPaper
from exam_depository.config import MAX_PAPER_BYTES
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.paper_recording import (
    ExamPaper,
    PaperArrival,
    PaperForm,
    RecordPaper,
    RejectPaper,
    SeenPaper,
    weigh_papers,
)
from exam_depository.domain.recording import BatchResult, FormReused, ObjectCreated, Orphan, Outcome
from exam_depository.observability import logger

RECORDER = Actor("system:recorder", None, None)


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
    stored: dict[int, StoredPaper] = {}
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
    stored: dict[int, StoredPaper],
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
    uploaded: dict[int, list[Event]] = {}  # by exam: the papers recorded, for the audit log
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
                uploaded.setdefault(form.exam_pk, []).append(
                    Event(
                        RECORDER,
                        AuditAction.PAPER_UPLOADED,
                        f"paper:{form.id}",
                        after={"filename": form.filename, "size": found.size_bytes, "sha256": found.sha256},
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
    for exam_pk, events_of_exam in sorted(uploaded.items()):  # last, in exam order (as the exams were locked)
        db.audit.append(conn, exam_pk, events_of_exam)
    return loose + [(paper.object_key, paper.version_id) for paper in unwanted], [paper.paper_id for paper in unwanted]
