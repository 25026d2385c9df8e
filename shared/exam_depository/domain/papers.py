"""An exam's question paper, as plain functions of plain values: its key, whether an examiner may
have a form for it (`paper_form_refusal`), what becomes of a paper S3 accepted (`paper_decision`
for one, `weigh_papers` for a batch), and whether a student may have a link to it
(`paper_refusal`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from exam_depository.domain.errors import (
    DomainError,
    ExamClosed,
    ExamNotOpen,
    NoPaper,
    NotStarted,
    PaperLocked,
    TooManyOpenForms,
)
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.recording import Duplicate, FormReused, Orphan, Placement, placement
from exam_depository.domain.rules import Window, form_expiry
from exam_depository.domain.statuses import PaperRejectionReason, PaperStatus

# Every PDF starts with its header, which readers look for within the first 1,024 bytes.
PDF_HEADER = b"%PDF-"
PDF_HEADER_WITHIN = 1024
PAPER_FILENAME = "question-paper.pdf"


def paper_key(prefix: str, exam_pk: int) -> str:
    """A new key for a paper form: under its exam's folder (deleted with the exam), with 256 random
    bits, so that the key is a second lock beside the private bucket: no one guesses it, and no
    answer but a presigned form or link contains it."""
    return f"{prefix}{exam_pk}/{secrets.token_urlsafe(32)}/{PAPER_FILENAME}"


def starts_as_pdf(first_bytes: bytes) -> bool:
    """Whether a file's first bytes hold a PDF's header where readers look for it."""
    return PDF_HEADER in first_bytes[:PDF_HEADER_WITHIN]


def paper_form_refusal(
    *, opens_at: datetime, now: datetime, ttl_s: int, open_forms: int, max_open_forms: int
) -> DomainError | None:
    """Why an examiner may not have a form for the paper now, or None. A form expires at the
    exam's opening at the latest, so that S3 itself refuses a paper after it (a student may have
    started with the paper by then): none is issued once it would not live a second."""
    if form_expiry(now, ttl_s, opens_at) <= now:
        return PaperLocked(
            f"The exam opened at {rfc3339(opens_at)}: its question paper can no longer be replaced.",
            extra={"opens_at": opens_at},
        )
    if open_forms >= max_open_forms:
        return TooManyOpenForms(
            f"{open_forms} forms for the question paper are open and unused; upload with one of them, or ask "
            f"again when they expire ({ttl_s // 60} minutes after they were issued)."
        )
    return None


def paper_refusal(
    window: Window, *, timed: bool, started_at: datetime | None, now: datetime, ttl_s: int, has_paper: bool
) -> DomainError | None:
    """Why a student may not have a link to the paper now, or None. `window` is the student's
    personal one. A timed exam's paper is theirs once their clock runs, an untimed exam's from its
    opening; until their cut-off, and a link never outlives it: one that would not live a second
    is refused as closed."""
    if timed and started_at is None:
        return NotStarted("Start the exam first: its question paper comes with your clock.")
    if now < window.opens_at:
        return ExamNotOpen(f"The exam opens at {rfc3339(window.opens_at)}.", extra={"opens_at": window.opens_at})
    if form_expiry(now, ttl_s, window.cutoff_at) < now + timedelta(seconds=1):
        return ExamClosed(f"The exam closed at {rfc3339(window.cutoff_at)}.", extra={"cutoff_at": window.cutoff_at})
    if not has_paper:
        return NoPaper("The exam has no question paper.")
    return None


# --- Recording a paper S3 accepted ------------------------------------------------------------


@dataclass(frozen=True)
class PaperFacts:
    """A paper form's row as the recorder sees it: `version_id` is the one S3 version the form
    produced a record about (recorded or rejected); None while nothing arrived."""

    status: PaperStatus
    version_id: str | None
    issue_seq: int
    expected_sha256: str | None = None


@dataclass(frozen=True)
class SeenPaper:
    """One version of a paper's object, as S3 answered for it."""

    version_id: str
    size_bytes: int
    sha256: str | None  # None: not read (empty or over the limit)
    starts_as_pdf: bool
    accepted_at: datetime  # when S3 accepted it (the event's time)


@dataclass(frozen=True)
class RecordPaper:
    placement: Placement


@dataclass(frozen=True)
class RejectPaper:
    reason: PaperRejectionReason


PaperDecision = RecordPaper | RejectPaper | Duplicate | FormReused | Orphan


def paper_decision(
    form: PaperFacts | None, seen: SeenPaper, *, opens_at: datetime, current_issue_seq: int | None, max_bytes: int
) -> PaperDecision:
    """What becomes of a paper S3 accepted. A form produces one record at most, as a student's
    does: a later version of its key is a reuse, deleted. A paper is recorded when it is a PDF of
    1..max_bytes bytes (its pinned checksum's) that S3 accepted before the exam's opening as it is
    now: the opening may have moved earlier since the form was issued, and a student who started
    may hold the paper as it was. Of the recorded papers, the one whose form was issued last is
    current."""
    if form is None:
        return Orphan()
    if form.version_id == seen.version_id:
        return Duplicate()
    if form.status != "pending":
        return FormReused()
    return _first_version(form, seen, opens_at, current_issue_seq, max_bytes)


def _first_version(
    form: PaperFacts, seen: SeenPaper, opens_at: datetime, current_issue_seq: int | None, max_bytes: int
) -> RecordPaper | RejectPaper:
    if seen.size_bytes == 0:
        return RejectPaper("empty")
    if seen.size_bytes > max_bytes:
        return RejectPaper("too_large")
    if form.expected_sha256 is not None and seen.sha256 != form.expected_sha256:
        return RejectPaper("checksum_mismatch")
    if not seen.starts_as_pdf:
        return RejectPaper("not_pdf")
    if seen.accepted_at >= opens_at:
        return RejectPaper("after_opening")
    return RecordPaper(placement(form.issue_seq, current_issue_seq))


@dataclass(frozen=True)
class PaperArrival:
    """One paper of a batch: its key, what S3 holds as it, S3's sequencer for it (hex)."""

    key: str
    seen: SeenPaper
    sequencer: str


@dataclass(frozen=True)
class PaperForm:
    """The form of a key, as the batch sees it: its exam, and its row's facts."""

    exam_pk: int
    facts: PaperFacts


@dataclass(frozen=True)
class ExamPaper:
    """An exam as the batch sees it: its opening, and the form of its current paper."""

    opens_at: datetime
    current_issue_seq: int | None


@dataclass(frozen=True)
class WeighedPaper:
    arrival: int  # its index in the batch
    decision: PaperDecision
    current: bool = False  # recorded, and its exam's current paper once the batch is done


@dataclass(frozen=True)
class PaperBatch:
    weighed: list[WeighedPaper]  # every arrival, in the order they were weighed
    current_moved: list[int]  # exams whose current paper is now one of this batch


def weigh_papers(
    arrivals: Sequence[PaperArrival], forms: Mapping[str, PaperForm], exams: Mapping[int, ExamPaper], *, max_bytes: int
) -> PaperBatch:
    """What becomes of each paper of a batch, weighed one after another as `paper_decision` says,
    each seeing what the ones before it did: the forms in the order they were issued, the
    versions of one key in the order S3 accepted them. `forms` holds the form of each key that
    has one, `exams` each of their exams before the batch."""
    facts = {key: form.facts for key, form in forms.items()}
    current = {exam_pk: exam.current_issue_seq for exam_pk, exam in exams.items()}

    def order(index: int) -> tuple[int, int]:
        form = forms.get(arrivals[index].key)
        return (form.facts.issue_seq if form is not None else 0, int(arrivals[index].sequencer, 16))

    decided: list[tuple[int, PaperDecision]] = []
    for index in sorted(range(len(arrivals)), key=order):
        arrival = arrivals[index]
        form = forms.get(arrival.key)
        decision: PaperDecision = (
            Orphan()
            if form is None
            else paper_decision(
                facts[arrival.key],
                arrival.seen,
                opens_at=exams[form.exam_pk].opens_at,
                current_issue_seq=current[form.exam_pk],
                max_bytes=max_bytes,
            )
        )
        match decision:
            case RecordPaper(placement=where):
                assert form is not None
                facts[arrival.key] = PaperFacts(where, arrival.seen.version_id, form.facts.issue_seq)
                if where == "current":
                    current[form.exam_pk] = form.facts.issue_seq
            case RejectPaper():
                assert form is not None
                facts[arrival.key] = PaperFacts("rejected", arrival.seen.version_id, form.facts.issue_seq)
        decided.append((index, decision))
    weighed = []
    for index, decision in decided:
        form = forms.get(arrivals[index].key)
        is_current = (
            isinstance(decision, RecordPaper) and form is not None and form.facts.issue_seq == current[form.exam_pk]
        )
        weighed.append(WeighedPaper(index, decision, is_current))
    moved = sorted(exam_pk for exam_pk, seq in current.items() if seq != exams[exam_pk].current_issue_seq)
    return PaperBatch(weighed, moved)
