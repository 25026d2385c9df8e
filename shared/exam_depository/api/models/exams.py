"""An examiner's exams, with their question paper and what became of its forms."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel, ShownTimeZone
from exam_depository.domain.access import Action, Role
from exam_depository.domain.statuses import ExamState, Kind, MailLanguage, PaperRejectionReason, PaperStatus


class Paper(ApiModel):
    """The exam's current question paper: the one students get."""

    paper_id: UUID
    filename: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime = Field(description="When the storage accepted it.")


class PaperState(ApiModel):
    """What became of one of the exam's paper forms: pending until its file arrives and is checked."""

    paper_id: UUID
    status: PaperStatus
    rejection_reason: PaperRejectionReason | None = None


class ExamCounts(ApiModel):
    students: int
    handed_in: int
    late: int = Field(description="Students whose latest file was handed in after their due time.")
    none_yet: int
    started: int = Field(description="Students who started their clock (a timed exam; 0 otherwise).")


class EmailCounts(ApiModel):
    """The exam's students by the state of their latest email (a student never emailed is in none)."""

    queued: int = Field(description="Waiting to be sent, or being sent.")
    sent: int = Field(description="SES accepted it.")
    delivered: int = Field(description="The recipient's mail server took it.")
    bounced: int = Field(description="It bounced (a permanent bounce: nothing more is sent to the address).")
    complained: int = Field(description="The recipient marked it as spam: nothing more is sent to the address.")
    failed: int = Field(description="It could not be sent (SES refused it, or it was given up).")


class ScanCounts(ApiModel):
    """Of the exam's current files, those whose malware scan has not ended clean (a file handed in
    before scanning was deployed, or with scanning off, is in none)."""

    scanning: int = Field(description="Still being scanned: not downloadable yet.")
    threat: int = Field(description="Malware found: quarantined, never downloadable.")
    unsupported: int = Field(description="Could not be scanned (e.g. password-protected): the owner may release.")
    failed: int = Field(description="The scan failed: the owner may release, or have it scanned again.")


class Exam(ApiModel):
    exam_id: str
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    duration_minutes: int | None = Field(
        description="The time each student has from their start (with their extra time), within the window; "
        "null: not timed, everyone has the whole window."
    )
    state: ExamState = Field(
        description="Where the exam stands in its own window when answered: upcoming (before opens_at), open "
        "(until due_at), late_period (until cutoff_at: uploads are late) or closed (from cutoff_at on, or "
        "after a close). Students' extensions do not change it."
    )
    timezone: ShownTimeZone
    max_attempts: int
    anonymous: bool
    created_at: datetime
    files_deleted_from: datetime = Field(
        description="When the first of its files is deleted: the earliest 'kept until' of its current files, "
        "or, until one is handed in, the cut-off plus the retention. Export before then."
    )
    counts: ExamCounts
    accepted_types: list[Kind] = Field(
        description="The kinds of file a student may hand in (pdf, word, odt, image, text, zip), checked by the "
        "file's content; empty: any."
    )
    check_pdfs: bool = Field(description="A PDF must open (not damaged, no password); one without text is flagged.")
    scan_counts: ScanCounts
    email_receipts: bool = Field(description="Each student with an address is emailed a receipt after an upload.")
    language: MailLanguage = Field(description="The language of the emails to its students.")
    email_counts: EmailCounts
    paper: Paper | None = Field(description="The question paper students get (once started, in a timed exam).")
    paper_uploads: list[PaperState] = Field(
        description="What became of the paper's latest forms (up to 5), newest first: a form's file is pending until "
        "the recorder checks it, then current, superseded by a later one, or rejected with the reason."
    )
    role: Role = Field(description="Your role in this exam (an exam's members each have one).")
    allowed_actions: list[Action] = Field(
        description="What your role may do with this exam; any other action is refused with 403 role-forbids."
    )


class ExamPage(ApiModel):
    items: list[Exam]
    next_cursor: str | None
