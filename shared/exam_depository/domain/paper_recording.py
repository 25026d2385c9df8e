"""What becomes of a question paper S3 accepted, as plain functions of plain values:
`paper_decision` for one, `weigh_papers` for a batch. Apart from `domain.papers` so that the
examiner's and the students' routes do not load the recorder's rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from exam_depository.domain.recording import Duplicate, FormReused, Orphan, Placement, placement
from exam_depository.domain.statuses import PaperRejectionReason, PaperStatus

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
