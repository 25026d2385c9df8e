"""What the recorder decides about each object S3 accepted, as plain functions of plain values:
which upload is recorded (and whether it ends current), rejected, a duplicate, a reuse of a used
form or an orphan (`recording_decision` for one object, `weigh_batch` for a batch of them); and
which versions must not exist (`must_not_exist`: the reconcile job and the scan results'
function ask the same)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from exam_depository.domain.statuses import (
    Kind,
    RejectionReason,
    ScanState,
    SubmissionStatus,
    SubmissionWarning,
    UploadStatus,
)

if TYPE_CHECKING:
    from exam_depository.domain.content_types import Content

Placement = Literal["current", "superseded"]
# What became of one notified object: the record function counts each as a metric. A question
# paper (domain.paper_recording) is recorded or rejected, or is one of the last five as an answer is.
Outcome = Literal[
    "recorded",
    "superseded",
    "rejected",
    "form_reused",
    "duplicate",
    "orphan",
    "gone",
    "ignored",
    "paper_recorded",
    "paper_rejected",
]


def placement(new_issue_seq: int, current_issue_seq: int | None) -> Placement:
    """Where a newly recorded upload goes: the upload issued last is the current one."""
    if current_issue_seq is None or new_issue_seq > current_issue_seq:
        return "current"
    return "superseded"


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 ObjectCreated record: one version of one key (already URL-decoded)."""

    key: str
    version_id: str
    size_bytes: int
    sequencer: str
    event_time: datetime


@dataclass(frozen=True)
class BatchResult:
    """What became of each event of a batch (None: not handled), which failed, and how many
    object versions S3 confirmed deleted."""

    outcomes: list[Outcome | None]
    failed: set[int]
    deleted: int = 0


@dataclass(frozen=True)
class UploadFacts:
    """An upload form's row as the recorder sees it: `version_id` is the one S3 version this
    form produced a record about (recorded or rejected); None while nothing arrived."""

    status: UploadStatus
    version_id: str | None
    issue_seq: int
    expected_sha256: str | None = None  # the page's, pinned in the form
    form_expires_at: datetime | None = None  # when S3 stops accepting the form
    accepted_types: tuple[Kind, ...] = ()  # the exam's when the form was issued; empty: any
    check_pdfs: bool = False


@dataclass(frozen=True)
class StudentFacts:
    attempts_used: int
    max_attempts: int
    current_issue_seq: int | None
    # The student's cut-off in force now, or when later the moment their extension was removed:
    # what S3 accepted until then was inside a window in force at the time.
    cutoff_at: datetime | None = None


@dataclass(frozen=True)
class SeenObject:
    """One version of an object, as S3 answered for it."""

    version_id: str
    size_bytes: int
    sha256: str | None = None  # None: not hashed (empty or over the limit)
    accepted_at: datetime | None = None  # when S3 accepted it (the event's time)
    content: Content | None = None  # None: not identified (the form accepts any type)


@dataclass(frozen=True)
class Record:
    placement: Placement
    warnings: tuple[SubmissionWarning, ...] = ()


@dataclass(frozen=True)
class Reject:
    reason: RejectionReason


@dataclass(frozen=True)
class Duplicate:
    """The version this form already produced a record about: a notification delivered again."""


@dataclass(frozen=True)
class FormReused:
    """Another version on a key whose form was already used: the same form posted again."""


@dataclass(frozen=True)
class Orphan:
    """No upload form was issued for this key."""


Decision = Record | Reject | Duplicate | FormReused | Orphan


def recording_decision(
    upload: UploadFacts | None, seen: SeenObject, student: StudentFacts | None, *, max_bytes: int
) -> Decision:
    """What becomes of an object version S3 accepted. A form produces one record at most: the
    first version of its key that is recorded (or rejected) stays, and any later version is a
    reuse, to be deleted, so a recorded file never changes."""
    if upload is None or student is None:
        return Orphan()
    if upload.version_id == seen.version_id:
        return Duplicate()
    if upload.status != "pending":
        return FormReused()
    return _first_version(upload, seen, student, max_bytes)


def _first_version(upload: UploadFacts, seen: SeenObject, student: StudentFacts, max_bytes: int) -> Record | Reject:
    refusal = _object_refusal(upload, seen, max_bytes) or _content_refusal(upload, seen.content)
    if refusal is not None:
        return Reject(refusal)
    if _after_a_cutoff_moved_earlier(upload, seen, student):
        return Reject("after_cutoff")
    if student.attempts_used >= student.max_attempts:
        return Reject("limit_reached")
    pdf = seen.content.pdf if seen.content is not None else None
    warnings: tuple[SubmissionWarning, ...] = ("scanned_pdf",) if pdf is not None and pdf.has_text is False else ()
    return Record(placement(upload.issue_seq, student.current_issue_seq), warnings)


def _object_refusal(upload: UploadFacts, seen: SeenObject, max_bytes: int) -> RejectionReason | None:
    if seen.size_bytes == 0:
        return "empty"
    if seen.size_bytes > max_bytes:
        return "too_large"
    if upload.expected_sha256 is not None and seen.sha256 != upload.expected_sha256:
        # S3 refuses other bytes for a pinned checksum; a stand-in that does not check, or a
        # policy somehow bypassed, must not get them recorded.
        return "checksum_mismatch"
    return None


def _content_refusal(upload: UploadFacts, content: Content | None) -> RejectionReason | None:
    """A file whose bytes are not of a kind its form accepts; a PDF that must open and does not."""
    if upload.accepted_types and (content is None or content.found.kind not in upload.accepted_types):
        # Not identified where the form restricts its types: never accepted blind.
        return "wrong-type"
    pdf = content.pdf if content is not None else None
    if pdf is not None and pdf.needs_password:
        return "pdf-encrypted"
    if pdf is not None and not pdf.opens:
        return "pdf-unreadable"
    return None


def _after_a_cutoff_moved_earlier(upload: UploadFacts, seen: SeenObject, student: StudentFacts) -> bool:
    """S3 accepted the bytes after the student's cut-off in force, with a form that outlived it:
    the exam was closed, its window shortened or the extension removed after the form was
    issued. A form issued under the cut-off in force expires by it, so S3 itself refused what
    came later, and whatever it accepted is in the window (rule 6)."""
    if student.cutoff_at is None or seen.accepted_at is None or upload.form_expires_at is None:
        return False
    return seen.accepted_at > student.cutoff_at and upload.form_expires_at > student.cutoff_at


def must_not_exist(
    upload: UploadFacts | None,
    submission_status: SubmissionStatus | None,
    version_id: str,
    submission_scan: ScanState | None = None,
    *,
    kept_in_place: bool = False,
) -> bool:
    """Whether this version of an object must be deleted: no form was issued for it, it is a
    reuse of a used form, or its form's record says it is rejected, superseded or expired.
    A pending form's object may still be recorded, so it stays. A superseded file in which
    malware was found stays too, quarantined for the examiner's records until its retention ends
    (the expiry job deletes it then). So does a superseded file `kept_in_place` for its student's
    current one, not found clean yet (still being scanned, released, or malware found): every
    earlier file that is no threat back to the newest one found clean, so that a threat found in a
    later try (a false positive too) never loses an answer handed in before it, even one whose own
    scan had not ended when the student handed in again. The newest of them that can be
    downloaded is served in the current one's place. Once the current file is found clean, none is
    kept and they go (adapters/db/submissions.py's `kept_in_place` says which, in SQL)."""
    if upload is None:
        return True
    if upload.status == "pending":
        return False
    if version_id != upload.version_id:
        return True
    if upload.status == "rejected":
        return True
    if submission_status == "superseded" and (submission_scan == "threat" or kept_in_place):
        return False
    return submission_status in ("superseded", "expired")


class VersionOnRecord(Protocol):
    """A used form's version as the records say it is (`adapters.db.uploads.UsedVersion`)."""

    @property
    def facts(self) -> UploadFacts: ...
    @property
    def version_id(self) -> str: ...
    @property
    def submission_status(self) -> SubmissionStatus | None: ...
    @property
    def submission_scan(self) -> ScanState | None: ...
    @property
    def kept_in_place(self) -> bool: ...


def versions_to_delete[Version: VersionOnRecord](versions: Iterable[Version]) -> list[Version]:
    """Those of a student's versions not yet confirmed deleted that `must_not_exist`: what the
    recorder deletes after each batch, and the scan results' function after each result, which
    may end a file's being kept in place of a later one."""
    return [
        version
        for version in versions
        if must_not_exist(
            version.facts,
            version.submission_status,
            version.version_id,
            version.submission_scan,
            kept_in_place=version.kept_in_place,
        )
    ]


# --- A batch: which upload becomes current, and in what order they are weighed ----------------


@dataclass(frozen=True)
class Arrival:
    """One object version of a batch, as the recorder weighs it: its key, what S3 holds as it,
    and S3's sequencer for it (hex: the versions of one key in the order S3 accepted them)."""

    key: str
    seen: SeenObject
    sequencer: str


@dataclass(frozen=True)
class Form:
    """The upload form of a key, as the batch sees it: whose it is, and its row's facts."""

    student_id: int
    facts: UploadFacts


@dataclass(frozen=True)
class Weighed:
    """What the batch decided for one of its arrivals."""

    arrival: int  # its index in the batch
    decision: Decision
    attempt: int | None = None  # recorded: its attempt number (a receipt says attempt n of N)
    current: bool = False  # recorded, and its student's current submission once the batch is done

    @property
    def outcome(self) -> Outcome:
        match self.decision:
            case Record(placement=where):
                return "recorded" if where == "current" else "superseded"
            case Reject():
                return "rejected"
            case FormReused():
                return "form_reused"
            case Duplicate():
                return "duplicate"
            case Orphan():
                return "orphan"


@dataclass(frozen=True)
class BatchDecision:
    weighed: list[Weighed]  # every arrival, in the order they were weighed
    current_moved: list[int]  # students whose current submission is now one of this batch


def weigh_batch(
    arrivals: Sequence[Arrival], forms: Mapping[str, Form], students: Mapping[int, StudentFacts], *, max_bytes: int
) -> BatchDecision:
    """What becomes of each object of a batch, weighed one after another as `recording_decision`
    says, each seeing what the ones before it did: the forms in the order they were issued, the
    versions of one key in the order S3 accepted them, so that the first version posted is the one
    a form's record is about. A recorded upload counts an attempt for the next; of a student's
    recorded uploads, the one whose form was issued last ends current (one current per student).
    `forms` holds the form of each key that has one, `students` the state of each of their
    students before the batch."""
    facts = {key: form.facts for key, form in forms.items()}
    after = dict(students)
    order = sorted(
        range(len(arrivals)), key=lambda index: _weighing_order(forms.get(arrivals[index].key), arrivals[index])
    )
    decided: list[tuple[int, Decision, int | None]] = []
    for index in order:
        arrival = arrivals[index]
        form = forms.get(arrival.key)
        student = after.get(form.student_id) if form is not None else None
        decision = recording_decision(facts.get(arrival.key), arrival.seen, student, max_bytes=max_bytes)
        attempt = None
        match decision:
            case Record(placement=where):
                assert form is not None
                assert student is not None
                attempt = student.attempts_used + 1
                facts[arrival.key] = UploadFacts("recorded", arrival.seen.version_id, form.facts.issue_seq)
                current = form.facts.issue_seq if where == "current" else student.current_issue_seq
                after[form.student_id] = replace(student, attempts_used=attempt, current_issue_seq=current)
            case Reject():
                assert form is not None
                facts[arrival.key] = UploadFacts("rejected", arrival.seen.version_id, form.facts.issue_seq)
        decided.append((index, decision, attempt))
    weighed = []
    for index, decision, attempt in decided:
        form = forms.get(arrivals[index].key)
        current = (
            attempt is not None
            and form is not None
            and form.facts.issue_seq == after[form.student_id].current_issue_seq
        )
        weighed.append(Weighed(index, decision, attempt, current))
    moved = [sid for sid, state in after.items() if state.current_issue_seq != students[sid].current_issue_seq]
    return BatchDecision(weighed, moved)


def _weighing_order(form: Form | None, arrival: Arrival) -> tuple[int, int]:
    """Uploads in the order their forms were issued; the versions of one key in the order S3
    accepted them, so the first version posted is the one a form's record is about."""
    return (form.facts.issue_seq if form is not None else 0, int(arrival.sequencer, 16))
