"""What the recorder does when S3 says files arrived: decide what each becomes (`weigh_batch`),
record the batch with a signed receipt for each new submission, and delete the versions that
must not exist. The reconcile job records the uploads whose notification never came the same way
(it is handed `record_objects`).

A receipt is a compact JWS (ES256) signed by the KMS key; its claims say which deployment, exam,
student and file, the file's size and SHA-256, the S3 version, when S3 accepted it, whether it
was late and against which due time (the student's own: in a timed exam, from their start, which
it states too), its verification code, attempt n of N, and the SHA-256 of the student's previous
receipt: a chain, so that a dispute can show every version handed in, even after the files are
gone (docs/RECEIPTS.md).
"""

from __future__ import annotations

import functools
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import ValidationError

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.messages
import exam_depository.adapters.db.receipts
import exam_depository.adapters.db.uploads  # noqa: F401
from exam_depository.adapters import db, queues, signing, storage
from exam_depository.adapters.objects import StoredObject
from exam_depository.adapters.queues import RedeliverySettings
from exam_depository.adapters.signing import SigningSettings
from exam_depository.config import MAX_UPLOAD_BYTES, MailSettings, RulesSettings, ScanSettings, StorageSettings, load
from exam_depository.domain import codes
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.recording import (
    Arrival,
    BatchResult,
    Form,
    FormReused,
    ObjectCreated,
    Orphan,
    Outcome,
    Record,
    Reject,
    SeenObject,
    StudentFacts,
    versions_to_delete,
    weigh_batch,
)
from exam_depository.domain.redelivery import retry_delay_s
from exam_depository.domain.rules import expiry_of, is_late, shown_as
from exam_depository.domain.statuses import ScanState, SubmissionWarning
from exam_depository.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from exam_depository.domain.content_types import Content

# `domain.jws` loads the JOSE library and cryptography: it is imported where a receipt is
# signed, so the reconcile job, which imports this module and seldom signs, does not pay for it
# at its cold start.


def record_objects(events: list[ObjectCreated], *, ends_at: float | None = None) -> BatchResult:
    """Record a batch of uploaded objects in one transaction, idempotently, whatever order and
    however often they arrive.

    S3 is asked about every event's version first (size, SHA-256), with one request each: a HEAD
    where the form pinned a checksum, else a GET (one statement first says which, before S3
    is read); where the form restricts its types, the first bytes too (the same GET, or a ranged
    GET beside the HEAD), and all of them where it checks PDFs. An event whose object cannot be
    read fails alone. Then one
    transaction locks the batch's uploads and their students, in student order so that
    concurrent batches cannot deadlock, and `weigh_batch` decides what becomes of each event, in
    the order the forms were issued. After the commit the versions that must not exist
    (`must_not_exist`: orphans, reuses, rejected, superseded, but not a superseded file kept
    for a current one not found clean yet) are deleted, and marked deleted once
    S3 confirms. Every later batch of the same student asks for
    the unconfirmed ones again, so a failed delete fails its events, the retry deletes them, and
    what even that misses the reconcile job finds.

    `ends_at` (a `time.monotonic()` instant): when the Lambda running the batch is stopped. Its
    PDF checks may take until `AFTER_CHECKS_S` before it; one that cannot fails its event alone.
    """
    outcomes: list[Outcome | None] = [None] * len(events)
    failed: set[int] = set()
    checks_until = None if ends_at is None else ends_at - AFTER_CHECKS_S
    stored = _read_objects(events, outcomes, failed, checks_until)
    if not stored:
        return BatchResult(outcomes, failed)
    mail: list[UUID] = []  # the messages the batch queued (receipts, rejections)
    scores: list[UUID] = []  # the hand-in statuses it queued for courses' gradebooks
    try:
        with db.transaction() as conn:
            to_delete = _record(conn, events, stored, outcomes, mail, scores=scores)
    except ServiceUnavailable:
        # PostgreSQL, or KMS signing a receipt inside the transaction: the exception says which.
        logger.exception("The batch could not be recorded; it is retried")
        return BatchResult([None if i in stored else o for i, o in enumerate(outcomes)], failed | set(stored))
    for index in stored:
        logger.info("Object recorded", extra={"key": events[index].key, "outcome": outcomes[index]})
    _hand_over_mail(mail)
    _hand_over_scores(scores)
    deleted = 0
    if to_delete.versions:
        try:
            deleted = storage.delete_versions(to_delete.versions)
            with db.statement() as conn:
                db.uploads.mark_objects_deleted(conn, to_delete.uploads)
        except ServiceUnavailable:
            # The records are committed; the retried events ask for the same deletes again.
            logger.exception(
                "Deleting objects failed; the messages are retried", extra={"versions": len(to_delete.versions)}
            )
            failed |= set(stored)
    return BatchResult(outcomes, failed, deleted)


# What a batch does after its reads, kept from its Lambda's time: one transaction (receipts signed
# by KMS in it) and the deletes, well under a second each when the database is awake; the rest
# of the Lambda's time (30 s) is the PDF checks' (`adapters.pdfs.check_pdf`'s deadline).
AFTER_CHECKS_S = 5


def retry_soon(failed: list[tuple[str, int]]) -> None:
    """Bring back soon the messages of a batch that could not be recorded, each given as (receipt
    handle, ApproximateReceiveCount): each becomes visible again after `retry_delay_s` (a few
    seconds at first, growing with each receipt), not after the queue's visibility timeout, so
    that a student whose file S3 accepted waits seconds for the code after a passing failure.

    Best effort: a message whose visibility could not be changed (SQS unreachable or refusing, no
    queue configured) comes back after the queue's timeout, as it would have anyway. That is
    logged, and fails nothing: the batch's answer must still reach Lambda."""
    try:
        settings = load(RedeliverySettings)
    except ValidationError:
        logger.exception("No queue to bring the failed messages back sooner (SUBMISSION_QUEUE_URL)")
        return
    try:
        # The queue's own timeout, which no delay exceeds: ops may shorten it (the emulator's
        # deployment does, for its tests), and a "sooner" must never come later than the queue.
        queue_timeout_s = queues.visibility_timeout_s(settings.queue_url, settings.region)
        delays = [
            (handle, retry_delay_s(count, random.random(), queue_timeout_s))  # noqa: S311  # jitter, no secret
            for handle, count in failed
        ]
        refused = queues.change_visibility(settings.queue_url, settings.region, delays)
    except ServiceUnavailable:
        logger.exception("The failed messages could not be brought back sooner; SQS retries them after its timeout")
        return
    if refused:
        logger.warning(
            "SQS refused to bring some failed messages back sooner; they are retried after its timeout",
            extra={"messages": len(refused), "codes": sorted(set(refused.values()))},
        )
    changed = sorted(seconds for handle, seconds in delays if handle not in refused)
    if changed:
        logger.info("Failed messages come back after a short delay", extra={"delays_s": changed})


@dataclass(frozen=True)
class _Read:
    """What S3 holds as an event's version, and what its bytes are where its form asked."""

    stored: StoredObject
    content: Content | None = None


_ANY_TYPE = db.uploads.ReadingPlan(checksum_pinned=False, accepted_types=(), check_pdfs=False)


def _read_objects(
    events: list[ObjectCreated], outcomes: list[Outcome | None], failed: set[int], checks_until: float | None
) -> dict[int, _Read]:
    """S3's answer for each event's version, by event index, read concurrently (it is I/O);
    sets the outcome of the events that have no object to record, and fails them all when
    PostgreSQL cannot say which forms pinned a checksum. PDF checks end by `checks_until`."""
    prefix = load(StorageSettings).prefix
    wanted = []
    for index, event in enumerate(events):
        if event.key.startswith(prefix):
            wanted.append(index)
        else:
            logger.warning("Object outside the submissions prefix ignored", extra={"key": event.key})
            outcomes[index] = "ignored"
    stored: dict[int, _Read] = {}
    if not wanted:
        return stored
    targets = [events[index] for index in wanted]
    try:
        # One statement, done before S3 is read: no snapshot is held open meanwhile.
        with db.statement() as conn:
            plans = db.uploads.reading_plans(conn, sorted({event.key for event in targets}))
    except ServiceUnavailable:
        logger.exception("PostgreSQL is unavailable; the batch is retried")
        failed.update(wanted)
        return stored
    # A key no form is about (an orphan) is read with the GET too: its size is checked first.
    read_as = [plans.get(event.key, _ANY_TYPE) for event in targets]
    inspect = functools.partial(_inspect, checks_until=checks_until)
    if len(targets) == 1:
        answers = [inspect(targets[0], read_as[0])]
    else:
        answers = list(_readers().map(inspect, targets, read_as))
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


def _inspect(
    event: ObjectCreated, plan: db.uploads.ReadingPlan, *, checks_until: float | None
) -> _Read | ServiceUnavailable | None:
    read: Literal["size", "start", "whole"] = "whole" if plan.check_pdfs else "start" if plan.accepted_types else "size"
    try:
        stored = storage.inspect(
            event.key, event.version_id, MAX_UPLOAD_BYTES, checksum_pinned=plan.checksum_pinned, read=read
        )
        if stored is None or stored.first_bytes is None:
            return None if stored is None else _Read(stored)
        return _Read(stored, _content(event, plan, stored, checks_until))
    except ServiceUnavailable as exc:  # this event fails; the others of its batch go on
        return exc


def _content(
    event: ObjectCreated, plan: db.uploads.ReadingPlan, stored: StoredObject, checks_until: float | None
) -> Content:
    """What a file is, from its first bytes; a ZIP they left undecided from its end (a Word
    document is no `zip`, and a student is told what they sent), and where the exam takes a
    ZIP-based kind, from the one entry that decides when it lies between the two (LibreOffice's
    order); and whether a PDF opens, where the form checks them."""
    # Here: only a form that restricts its types loads the kinds' table and puremagic.
    from exam_depository.domain.content_types import ZIP_TAIL_BYTES, Content, identify, identify_zip_tail

    assert stored.first_bytes is not None
    found = identify(stored.first_bytes)
    if not found.conclusive:
        whole = stored.content
        tail = (
            whole[-ZIP_TAIL_BYTES:]
            if whole is not None
            else storage.read_tail(event.key, event.version_id, ZIP_TAIL_BYTES)
        )
        if tail is not None:
            found = identify_zip_tail(tail, first=stored.first_bytes, size=stored.size_bytes)
        if tail is not None and found.wants is not None and _ZIP_BASED & set(plan.accepted_types):
            start, length = found.wants
            entry = (
                whole[start : start + length]
                if whole is not None
                else storage.read_range(event.key, event.version_id, start, length)
            )
            if entry is not None:
                found = identify_zip_tail(tail, first=stored.first_bytes, size=stored.size_bytes, entry=(start, entry))
    if plan.check_pdfs and found.code == "pdf" and stored.content is not None:
        from exam_depository.adapters.pdfs import check_pdf

        return Content(found, check_pdf(stored.content, deadline=checks_until))
    return Content(found)


# The kinds whose exams take or refuse a ZIP by which ZIP it is (a Word document is no `zip`):
# only they read a third range of one. In any other exam every ZIP is refused all the same (its
# words say "a ZIP archive" where the entry, read, would have said "a Word document").
_ZIP_BASED = frozenset({"word", "odt", "zip"})


@dataclass
class _Deletions:
    versions: list[tuple[str, str]]  # (key, version) that must not exist
    uploads: list[UUID]  # the forms among them whose record must be marked once S3 confirms


def _record(
    conn: db.Connection,
    events: list[ObjectCreated],
    stored: dict[int, _Read],
    outcomes: list[Outcome | None],
    mail: list[UUID],
    *,
    scores: list[UUID],
) -> _Deletions:
    rules = load(RulesSettings)
    uploads = db.uploads.lock_uploads(conn, sorted({events[index].key for index in stored}))
    states = db.uploads.recording_states(conn, sorted({upload.student_id for upload in uploads.values()}))
    indices = sorted(stored)
    batch = weigh_batch(
        [
            Arrival(
                events[index].key,
                SeenObject(
                    events[index].version_id,
                    stored[index].stored.size_bytes,
                    stored[index].stored.sha256,
                    events[index].event_time,
                    stored[index].content,
                ),
                events[index].sequencer,
            )
            for index in indices
        ],
        {key: Form(upload.student_id, upload.facts) for key, upload in uploads.items()},
        {
            sid: StudentFacts(state.attempts_used, state.max_attempts, state.current_issue_seq, state.accepted_until)
            for sid, state in states.items()
        },
        max_bytes=MAX_UPLOAD_BYTES,
    )
    new: list[db.uploads.NewSubmission] = []
    attempts: dict[UUID, int] = {}  # each new submission's attempt number, for its receipt
    rejections: list[db.uploads.Rejection] = []
    loose: list[tuple[str, str]] = []  # versions no form's record is about: orphans and reuses
    scan: ScanState | None = "scanning" if load(ScanSettings).enabled else None
    for weighed in batch.weighed:
        index = indices[weighed.arrival]
        event, found, upload = events[index], stored[index].stored, uploads.get(events[index].key)
        content = stored[index].content
        found_type = content.found.code if content is not None else None
        outcomes[index] = weighed.outcome
        match weighed.decision:
            case Record(warnings=warnings):
                assert upload is not None
                assert weighed.attempt is not None
                assert found.sha256 is not None  # recordable objects are 1..max_bytes, so hashed
                new.append(
                    _new_submission(
                        upload,
                        event,
                        found=found,
                        sha256=found.sha256,
                        student=states[upload.student_id],
                        rules=rules,
                        current=weighed.current,
                        found_type=found_type,
                        warnings=list(warnings),
                        scan=scan,
                    )
                )
                attempts[upload.id] = weighed.attempt
            case Reject(reason=reason):
                assert upload is not None
                rejections.append(db.uploads.Rejection(upload.id, event.version_id, reason, found_type))
            case FormReused() | Orphan():
                loose.append((event.key, event.version_id))

    if new:
        new = _with_receipts(conn, new, attempts, states)
    _write(conn, new, rejections, batch.current_moved)
    mail.extend(_queue_mail(conn, new, rejections, uploads, states))
    scores.extend(_queue_scores(conn, new, attempts, states))
    must_go = versions_to_delete(db.uploads.unconfirmed_versions(conn, sorted(states)))
    return _Deletions(
        versions=loose + [(version.object_key, version.version_id) for version in must_go],
        uploads=[version.upload_id for version in must_go],
    )


def _new_submission(
    upload: db.uploads.LockedUpload,
    event: ObjectCreated,
    *,
    found: StoredObject,
    sha256: str,
    student: db.uploads.RecordingState,
    rules: RulesSettings,
    current: bool,
    found_type: str | None,
    warnings: list[SubmissionWarning],
    scan: ScanState | None,
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
        # Retention counts from the effective cut-off, late from the personal due time.
        expires_at=expiry_of(event.event_time, student.retention_cutoff_at, rules.retention_days),
        late=is_late(event.event_time, student.due_at),
        due_at=student.due_at,
        status="current" if current else "superseded",
        found_type=found_type,
        warnings=warnings,
        scan=scan,
    )


def _write(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    rejections: list[db.uploads.Rejection],
    current_moved: list[int],
) -> None:
    """The batch's decisions in a fixed number of statements: the students whose current
    submission is now one of the batch lose their previous one first (one current per student,
    a unique index)."""
    if current_moved:
        db.uploads.supersede_current(conn, current_moved)
    if new:
        db.uploads.insert_submissions(conn, new)
    if rejections:
        db.uploads.reject_uploads(conn, rejections)


# --- mail: receipts and rejections told to the students ---------------------------------------


def _queue_mail(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    rejections: list[db.uploads.Rejection],
    uploads: dict[str, db.uploads.LockedUpload],
    states: dict[int, db.uploads.RecordingState],
) -> list[UUID]:
    """Queue a message for each new submission and rejection whose student may be mailed, in the
    batch's transaction: a receipt message exists iff its submission does. A batch whose students
    have no address adds no statement."""
    student_of = {upload.id: upload.student_id for upload in uploads.values()}
    notices = [
        db.messages.UploadNotice(submission.upload_id, submission.student_id, "receipt")
        for submission in new
        if states[submission.student_id].mail_to
    ] + [
        db.messages.UploadNotice(rejection.upload_id, student_of[rejection.upload_id], "rejection")
        for rejection in rejections
        if states[student_of[rejection.upload_id]].mail_to
    ]
    if not notices or not load(MailSettings).enabled:
        return []
    return db.messages.queue_for_uploads(conn, notices)


def _hand_over_mail(message_ids: list[UUID]) -> None:
    """After the commit, one bounded SendMessageBatch per 10 messages (a recorder's batch of 10
    events: one), and a delayed sweep request unless this environment's last is still to come
    (one bounded SendMessage): recording never waits on mail beyond them, and never fails for
    them. What SQS did not take, or whose taking was not noted, that sweep hands over."""
    if not message_ids:
        return
    taken = queues.send_mail(message_ids)
    # A SendMessage at most every 15 minutes per environment: the sweep that sees what SQS lost.
    queues.request_sweep()
    if len(taken) < len(message_ids):
        logger.warning("SQS did not take the batch's messages; the sweep hands them over")
        metrics.add_metric(name="MailHandOffFailed", unit=MetricUnit.Count, value=len(message_ids) - len(taken))
    if not taken:
        return
    try:
        with db.statement() as conn:
            db.messages.enqueued(conn, taken)
    except ServiceUnavailable:
        logger.exception("The messages handed over were not noted; the sweep hands them over again")


# --- hand-in statuses for the gradebooks of the courses students came from -----------------------


def _queue_scores(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    attempts: dict[UUID, int],
    states: dict[int, db.uploads.RecordingState],
) -> list[UUID]:
    """Queue a hand-in status for each new submission whose student came from a course with a
    gradebook column, in the batch's transaction: a score exists iff its submission does. A batch
    without such students adds no statement and loads none of LTI's code."""
    scored = [submission for submission in new if states[submission.student_id].lti_scored]
    if not scored:
        return []
    from exam_depository.adapters.db import lti

    return lti.queue_scores(
        conn,
        [
            lti.ScoreNotice(
                upload_id=submission.upload_id,
                student_id=submission.student_id,
                submitted_at=submission.submitted_at,
                late=submission.late,
                filename=submission.filename,
                size_bytes=submission.size_bytes,
                attempt=attempts[submission.upload_id],
                max_attempts=states[submission.student_id].max_attempts,
            )
            for submission in scored
        ],
    )


def _hand_over_scores(score_ids: list[UUID]) -> None:
    """After the commit (and the mail's), one bounded SendMessageBatch per 10 scores to the LTI
    worker; never raised. What SQS did not take the worker's sweep hands over."""
    if not score_ids:
        return
    queues.send_lti_jobs([queues.lti_score_job(score_id) for score_id in score_ids])
    try:
        with db.statement() as conn:
            from exam_depository.adapters.db import lti

            lti.enqueued(conn, score_ids)
    except ServiceUnavailable:
        logger.exception("The scores handed over were not noted; the sweep hands them over again")


# --- receipts, signed before the commit -----------------------------------------------------


def _with_receipts(
    conn: db.Connection,
    new: list[db.uploads.NewSubmission],
    attempts: dict[UUID, int],
    states: dict[int, db.uploads.RecordingState],
) -> list[db.uploads.NewSubmission]:
    """The batch's new submissions with their receipts, each student's chained in recording order
    from that student's latest receipt. Signed before the commit: a KMS failure fails the batch
    (it is retried), so no submission is ever recorded without its receipt."""
    kid = db.receipts.ensure_published(conn, signing.signing_key())
    chains: dict[int, list[db.uploads.NewSubmission]] = {}
    for submission in new:
        chains.setdefault(submission.student_id, []).append(submission)
    statements = [
        [
            _claims(
                exam=states[sid].exam_id,
                nickname=shown_as(states[sid].nickname, states[sid].pseudonym, anonymous=states[sid].anonymous),
                started_at=states[sid].started_at,
                submission=submission,
                attempt=attempts[submission.upload_id],
                attempts=states[sid].max_attempts,
                previous=states[sid].last_receipt_sha256,
            )
            for submission in chain
        ]
        for sid, chain in chains.items()
    ]
    signed = _issue(kid, statements)
    tokens = {
        submission.upload_id: token
        for chain, chain_tokens in zip(chains.values(), signed, strict=True)
        for submission, token in zip(chain, chain_tokens, strict=True)
    }
    return [replace(submission, receipt=tokens[submission.upload_id]) for submission in new]


def _claims(
    *,
    exam: str,
    nickname: str,
    started_at: datetime | None,
    submission: db.uploads.NewSubmission,
    attempt: int,
    attempts: int,
    previous: str | None,
) -> dict[str, Any]:
    """What a receipt states, without its chain link (added as it is signed)."""
    return {
        "iss": load(SigningSettings).deployment,
        "iat": int(time.time()),
        "exam": exam,
        "nickname": nickname,
        "filename": submission.filename,
        "size": submission.size_bytes,
        "sha256": submission.sha256,
        "sha256_checked_by_s3": submission.sha256_checked_by_s3,
        "s3_version": submission.version_id,
        "submitted_at": rfc3339(submission.submitted_at),
        "late": submission.late,
        # A timed exam's start (null: not timed), and the due time `late` was measured against.
        "started_at": None if started_at is None else rfc3339(started_at),
        "due_at": rfc3339(submission.due_at),
        "verification_code": codes.display(submission.verification_code),
        "attempt": attempt,
        "attempts": attempts,
        "previous_receipt_sha256": previous,
    }


def _issue(kid: str, chains: list[list[dict[str, Any]]]) -> list[list[str]]:
    """Sign each student's receipts in order: a receipt's `previous_receipt_sha256` is set from
    the one before it in its chain (the first keeps the one it was given). Chains are signed at
    once, each a call to KMS per receipt. `kid` is the one `ensure_published` returned."""
    from exam_depository.domain import jws

    key = signing.signing_key()
    if key.kid != kid:
        raise ValueError(f"asked to sign with {kid}, but KMS's key is {key.kid}")

    def sign_chain(chain: list[dict[str, Any]]) -> list[str]:
        tokens: list[str] = []
        for statement in chain:
            linked = {**statement, "previous_receipt_sha256": jws.token_sha256(tokens[-1])} if tokens else statement
            tokens.append(jws.sign(key, linked, signing.sign))
        return tokens

    if len(chains) <= 1:
        return [sign_chain(chain) for chain in chains]
    return list(_signers().map(sign_chain, chains))


@functools.cache
def _signers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix="kms-sign")


def reset() -> None:
    """Forget the published key and its kid (tests)."""
    db.receipts.forget_published()
    signing.signing_key.cache_clear()
