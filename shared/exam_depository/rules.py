"""The product's rules as plain functions of plain values: no I/O, no AWS, no database.

The use cases read the rows, ask these functions what to do, and write what they say; the
recorder and the reconcile job ask the same ones. docs/DESIGN.md lists each rule with what
enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from exam_depository.errors import AttemptsUsed, DomainError, ExamClosed, ExamNotOpen, TooManyOpenForms
from exam_depository.models import SubmissionStatus, UploadStatus, rfc3339

Placement = Literal["current", "superseded"]
RejectionReason = Literal["too_large", "empty", "checksum_mismatch", "limit_reached"]


def attempts_left(attempts_used: int, max_attempts: int) -> int:
    return max(0, max_attempts - attempts_used)


def status_at(stored: SubmissionStatus, expires_at: datetime, now: datetime) -> SubmissionStatus:
    """What a submission is now: the retention holds from its instant, whatever the jobs did."""
    if stored == "current" and now >= expires_at:
        return "expired"
    return stored


def expiry_of(submitted_at: datetime, retention_days: int) -> datetime:
    """Counted from when S3 accepted the bytes, as S3's lifecycle rule counts."""
    return submitted_at + timedelta(days=retention_days)


def placement(new_issue_seq: int, current_issue_seq: int | None) -> Placement:
    """Where a newly recorded upload goes: the upload issued last is the current one."""
    if current_issue_seq is None or new_issue_seq > current_issue_seq:
        return "current"
    return "superseded"


# --- The window ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime


def effective_window(exam: Window, extension_due: datetime | None, extension_cutoff: datetime | None) -> Window:
    """A student's window: the exam's, with an extension's times where they are later. An
    extension never moves a time earlier, even after the exam's own window was changed."""
    if extension_due is None and extension_cutoff is None:
        return exam  # most students of a page of 500
    return Window(
        opens_at=exam.opens_at,
        due_at=max(exam.due_at, extension_due) if extension_due else exam.due_at,
        cutoff_at=max(exam.cutoff_at, extension_cutoff) if extension_cutoff else exam.cutoff_at,
    )


def is_late(submitted_at: datetime, due_at: datetime) -> bool:
    """Late: S3 accepted the bytes after the due time. Late uploads count like any other."""
    return submitted_at > due_at


def form_expiry(now: datetime, ttl_s: int, cutoff_at: datetime) -> datetime:
    """When an upload form stops working: its lifetime, but never after the cut-off, so that S3
    itself refuses a POST after it. Whole seconds, as S3 policies state them."""
    return min(now + timedelta(seconds=ttl_s), cutoff_at).replace(microsecond=0)


def extension_cutoff(exam: Window, due_at: datetime, cutoff_at: datetime | None) -> datetime:
    """An extension's cut-off when none is given: its due time plus the exam's own grace."""
    return cutoff_at if cutoff_at is not None else due_at + (exam.cutoff_at - exam.due_at)


def extension_refusal(exam: Window, due_at: datetime, cutoff_at: datetime) -> str | None:
    """Why an extension cannot be given, or None: it only moves times later."""
    if due_at < exam.due_at:
        return f"due_at must not be before the exam's ({rfc3339(exam.due_at)}): an extension only moves it later"
    if cutoff_at < exam.cutoff_at:
        return f"cutoff_at must not be before the exam's ({rfc3339(exam.cutoff_at)})"
    if cutoff_at < due_at:
        return "cutoff_at must not be before due_at"
    return None


# --- Issuing an upload form -------------------------------------------------------------------


def form_refusal(
    *,
    window: Window,
    now: datetime,
    attempts_used: int,
    max_attempts: int,
    open_forms: int,
    max_open_forms: int,
    form_ttl_s: int,
) -> DomainError | None:
    """Why no upload form may be issued now, or None when one may: nothing outside the window
    (a form must live at least a second before the cut-off), nothing past the attempts."""
    if now < window.opens_at:
        return ExamNotOpen(f"The exam opens at {rfc3339(window.opens_at)}.", extra={"opens_at": window.opens_at})
    if form_expiry(now, form_ttl_s, window.cutoff_at) <= now:
        return ExamClosed(f"The exam closed at {rfc3339(window.cutoff_at)}.", extra={"cutoff_at": window.cutoff_at})
    if attempts_used >= max_attempts:
        return AttemptsUsed(f"All {max_attempts} attempts are used; ask your examiner.")
    if open_forms >= max_open_forms:
        return TooManyOpenForms(
            f"{open_forms} upload forms are open and unused; upload with one of them, or ask again when "
            f"they expire ({form_ttl_s // 60} minutes after they were issued)."
        )
    return None


# --- Recording an uploaded object ---------------------------------------------------------


@dataclass(frozen=True)
class UploadFacts:
    """An upload form's row as the recorder sees it: `version_id` is the one S3 version this
    form produced a record about (recorded or rejected); None while nothing arrived."""

    status: UploadStatus
    version_id: str | None
    issue_seq: int
    expected_sha256: str | None = None  # the page's, pinned in the form


@dataclass(frozen=True)
class StudentFacts:
    attempts_used: int
    max_attempts: int
    current_issue_seq: int | None


@dataclass(frozen=True)
class SeenObject:
    """One version of an object, as S3 answered for it."""

    version_id: str
    size_bytes: int
    sha256: str | None = None  # None: not hashed (empty or over the limit)


@dataclass(frozen=True)
class Record:
    placement: Placement


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
    if seen.size_bytes == 0:
        return Reject("empty")
    if seen.size_bytes > max_bytes:
        return Reject("too_large")
    if upload.expected_sha256 is not None and seen.sha256 != upload.expected_sha256:
        # S3 refuses other bytes for a pinned checksum; a stand-in that does not check, or a
        # policy somehow bypassed, must not get them recorded.
        return Reject("checksum_mismatch")
    if student.attempts_used >= student.max_attempts:
        return Reject("limit_reached")
    return Record(placement(upload.issue_seq, student.current_issue_seq))


def must_not_exist(upload: UploadFacts | None, submission_status: SubmissionStatus | None, version_id: str) -> bool:
    """Whether this version of an object must be deleted: no form was issued for it, it is a
    reuse of a used form, or its form's record says it is rejected, superseded or expired.
    A pending form's object may still be recorded, so it stays."""
    if upload is None:
        return True
    if upload.status == "pending":
        return False
    if version_id != upload.version_id:
        return True
    if upload.status == "rejected":
        return True
    return submission_status in ("superseded", "expired")
