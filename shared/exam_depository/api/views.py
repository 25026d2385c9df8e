"""Rows to responses, in one place: each route answers what its use case read, made into the
models of `models/` here. A view may ask a domain rule what a row shows now (a submission's
status as of this instant, a student's window with its extension, the attempts left); it does no
I/O and decides nothing else. Wherever a student's window is shown it is their own
(`rules.personal_window`: the exam's, an extension's times where later, and their clock once
they started a timed exam), with what made it (the duration, their extra time, the extension).

The roster's page is the one answer written without models: the database writes each row's JSON
(`db.student_pages.student_page`, the rules of `_summary_fields` in SQL) and `student_page_json` joins
them; validating and serialising 500 rows took longer than the query. A test holds the page to
the model and to `student_detail`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pydantic_core

from exam_depository.config import RulesSettings, load
from exam_depository.domain import codes
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import (
    Clock,
    attempts_left,
    effective_window,
    exam_state,
    expiry_of,
    personal_window,
    start_refusal,
    status_at,
    time_allowed,
)

# Each view imports the models it makes where it makes them: a function loads at init only the
# models of its own routes (its app.py imports them for the route's signature), not every
# audience's (a model class costs about 0.2 ms to define).
if TYPE_CHECKING:  # what the views are given; imported at run time by the use cases that make it
    from exam_depository.adapters.db.exam_counts import CountedExamRow
    from exam_depository.adapters.db.exams import ExamRow
    from exam_depository.adapters.db.exports import ExportRow
    from exam_depository.adapters.db.forms import ProgressRow, UploadJson
    from exam_depository.adapters.db.student_details import StudentDetailRow
    from exam_depository.adapters.db.student_pages import StudentPageRow
    from exam_depository.adapters.db.students import StudentRow, StudentSummaryRow
    from exam_depository.adapters.db.submissions import SubmissionJson
    from exam_depository.adapters.db.verifications import VerifiedSubmission
    from exam_depository.api.models.exams import Exam, ExamPage
    from exam_depository.api.models.exports import Export, ExportStarted
    from exam_depository.api.models.mail import CodesQueued
    from exam_depository.api.models.reviews import DownloadLink, Jwks, ReceiptCheck, Verification
    from exam_depository.api.models.roster import Student
    from exam_depository.api.models.roster_imports import ImportResult
    from exam_depository.api.models.student_details import StudentDetail
    from exam_depository.api.models.student_summaries import (
        AccommodationImportResult,
        ExtensionImportResult,
        StudentSummary,
    )
    from exam_depository.api.models.submissions import Submission
    from exam_depository.api.models.uploads import Started, Timing, UploadForm, UploadProgress
    from exam_depository.domain.cursors import Page
    from exam_depository.domain.disclosure import Disclosure
    from exam_depository.domain.statuses import Kind, SubmissionStatus
    from exam_depository.usecases.mail import SentCodes
    from exam_depository.usecases.reviewer import Link, Verdict
    from exam_depository.usecases.roster import RosterImport
    from exam_depository.usecases.student import IssuedForm
    from exam_depository.usecases.student import Started as StartedClock


# --- exams ------------------------------------------------------------------------------------


def exam(row: CountedExamRow, now: datetime | None = None) -> Exam:
    """The exam as of `now` (its state; the moment of the answer when not given)."""
    from exam_depository.api.models.exams import EmailCounts, Exam, ExamCounts, ScanCounts
    from exam_depository.domain import access

    # Until a file is handed in, when one handed in by the cut-off would be deleted.
    first_expiry = row.first_expiry or expiry_of(row.cutoff_at, row.cutoff_at, load(RulesSettings).retention_days)
    return Exam(
        exam_id=row.exam_id,
        title=row.title,
        opens_at=row.opens_at,
        due_at=row.due_at,
        cutoff_at=row.cutoff_at,
        duration_minutes=row.duration_minutes,
        state=exam_state(row.window, now or datetime.now(UTC)),
        timezone=row.timezone,
        max_attempts=row.max_attempts,
        anonymous=row.anonymous,
        created_at=row.created_at,
        files_deleted_from=first_expiry,
        counts=ExamCounts(
            students=row.students,
            handed_in=row.handed_in,
            late=row.late,
            none_yet=row.students - row.handed_in,
            started=row.started,
        ),
        accepted_types=row.accepted_types,
        check_pdfs=row.check_pdfs,
        scan_counts=ScanCounts(
            scanning=row.scans_scanning,
            threat=row.scans_threat,
            unsupported=row.scans_unsupported,
            failed=row.scans_failed,
        ),
        email_receipts=row.email_receipts,
        language=row.language,
        email_counts=EmailCounts(**row.email_counts()),
        paper=current_paper(row.paper),
        paper_uploads=paper_states(row.paper_uploads),
        role=row.role,
        allowed_actions=access.allowed_actions(row.role),
    )


def exam_page(page: Page[CountedExamRow]) -> ExamPage:
    from exam_depository.api.models.exams import ExamPage

    now = datetime.now(UTC)
    return ExamPage(items=[exam(row, now) for row in page.items], next_cursor=page.next_cursor)


# --- members ----------------------------------------------------------------------------------

if TYPE_CHECKING:
    from uuid import UUID

    from exam_depository.adapters.db.members import MemberRow
    from exam_depository.api.models.members import InvitationCreated, Member, Members
    from exam_depository.usecases.members import Invited, Membership


def invitation_created(invited: Invited) -> InvitationCreated:
    from exam_depository.api.models.members import InvitationCreated

    return InvitationCreated(
        invitation_code=invited.code, role=invited.role, label=invited.label, expires_at=invited.expires_at
    )


def member(row: MemberRow, you: UUID) -> Member:
    from exam_depository.api.models.members import Member

    return Member(
        member_id=row.member_id, role=row.role, label=row.label, joined_at=row.joined_at, you=row.member_id == you
    )


def members(membership: Membership) -> Members:
    from exam_depository.api.models.members import Members, OpenInvitation

    return Members(
        items=[member(row, membership.exam.member_id) for row in membership.members],
        invitations=[
            OpenInvitation(role=row.role, label=row.label, created_at=row.created_at, expires_at=row.expires_at)
            for row in membership.invitations
        ],
    )


# --- question papers --------------------------------------------------------------------------

if TYPE_CHECKING:
    from exam_depository.adapters.db.exams import PaperJson, PaperUploadJson
    from exam_depository.api.models.exams import Paper, PaperState
    from exam_depository.api.models.papers import PaperForm, PaperLink
    from exam_depository.usecases.papers import IssuedPaperForm, PaperDownload


def current_paper(item: PaperJson | None) -> Paper | None:
    """An exam's current paper (its `paper`), as the exam's statement wrote it."""
    from exam_depository.api.models.exams import Paper

    return None if item is None else Paper.model_validate(item)


def paper_states(items: list[PaperUploadJson]) -> list[PaperState]:
    """What became of an exam's latest paper forms (its `paper_uploads`), newest first."""
    from exam_depository.api.models.exams import PaperState

    return [PaperState.model_validate(item) for item in items]


def paper_form(form: IssuedPaperForm) -> PaperForm:
    from exam_depository.api.models.papers import PaperForm

    return PaperForm(
        paper_id=form.paper_id, url=form.url, fields=form.fields, expires_at=form.expires_at, max_bytes=form.max_bytes
    )


def paper_link(download: PaperDownload) -> PaperLink:
    from exam_depository.api.models.papers import PaperLink

    return PaperLink(
        url=download.url,
        expires_at=download.expires_at,
        filename=download.filename,
        size_bytes=download.size_bytes,
        sha256=download.sha256,
    )


# --- the roster -------------------------------------------------------------------------------


def shown_to(exam_row: ExamRow) -> Disclosure:
    """What the caller's role is shown of the exam's students (`disclosure.disclosure`)."""
    from exam_depository.domain.disclosure import disclosure

    return disclosure(exam_row.role, anonymous=exam_row.anonymous)


def student(row: StudentRow) -> Student:
    """A student as the routes of owners and co-examiners answer: everything shown."""
    from exam_depository.api.models.roster import Student
    from exam_depository.domain.disclosure import Disclosure

    everything = Disclosure(names=True, pseudonym=True, upload_codes=True, verification=True)
    return Student(**_student_fields(row, everything))


def import_result(result: RosterImport) -> ImportResult:
    from exam_depository.api.models.roster_imports import ImportResult

    return ImportResult.model_validate(
        {
            "created": [student(row) for row in result.created],
            "existing": [student(row) for row in result.existing],
            "warnings": result.warnings,
        }
    )


def student_summary(exam_row: ExamRow, row: StudentSummaryRow) -> StudentSummary:
    from exam_depository.api.models.student_summaries import StudentSummary

    return StudentSummary.model_validate(_summary_fields(exam_row, row, datetime.now(UTC), shown_to(exam_row)))


def extension_import_result(exam_row: ExamRow, rows: list[StudentSummaryRow]) -> ExtensionImportResult:
    from exam_depository.api.models.student_summaries import ExtensionImportResult, StudentSummary

    now, shown = datetime.now(UTC), shown_to(exam_row)
    return ExtensionImportResult(
        extended=[StudentSummary.model_validate(_summary_fields(exam_row, row, now, shown)) for row in rows]
    )


def accommodation_import_result(exam_row: ExamRow, rows: list[StudentSummaryRow]) -> AccommodationImportResult:
    from exam_depository.api.models.student_summaries import AccommodationImportResult, StudentSummary

    now, shown = datetime.now(UTC), shown_to(exam_row)
    return AccommodationImportResult(
        accommodated=[StudentSummary.model_validate(_summary_fields(exam_row, row, now, shown)) for row in rows]
    )


def student_detail(exam_row: ExamRow, row: StudentDetailRow) -> StudentDetail:
    from exam_depository.api.models.student_details import StudentDetail

    now, shown = datetime.now(UTC), shown_to(exam_row)
    submissions = [submission_fields(item, now, verification=shown.verification) for item in row.submissions]
    return StudentDetail.model_validate(
        {
            **_summary_fields(exam_row, row, now, shown),
            "submissions": submissions,
            # A message's detail may quote its address (SES's words): shown with the names only.
            "messages": row.messages if shown.names else None,
        }
    )


def student_page_json(page: Page[StudentPageRow]) -> str:
    """A page of the roster as the JSON of a `StudentPage`: its rows' JSON, as the database wrote
    them, joined."""
    items = ",".join([row.item for row in page.items])
    return f'{{"items":[{items}],"next_cursor":{pydantic_core.to_json(page.next_cursor).decode()}}}'


def roster_download(exam_row: ExamRow, rows: list[StudentRow]) -> tuple[str, str]:
    """The whole roster with upload codes, as CSV for a mail merge: (file name, text), each
    student with their own window and what made it."""
    from exam_depository.domain.roster import roster_csv  # the csv module: only this view needs it

    lines = []
    for row in rows:
        window = personal_window(
            exam_row.window, row.extension_due_at, row.extension_cutoff_at, row.clock(exam_row.duration_minutes)
        )
        lines.append(
            {
                **student(row).model_dump(mode="json"),
                "started_at": rfc3339(row.started_at) if row.started_at is not None else None,
                "due_at": rfc3339(window.due_at),
                "cutoff_at": rfc3339(window.cutoff_at),
                "extra_time_percent": str(row.extra_time_percent),
                "extra_time_minutes": str(row.extra_time_minutes),
                "from_lms": "true" if row.from_lms else "false",
                "left_course_at": rfc3339(row.left_course_at) if row.left_course_at is not None else None,
            }
        )
    return f"{exam_row.exam_id}-roster.csv", roster_csv(lines)


def _student_fields(row: StudentRow, shown: Disclosure) -> dict[str, Any]:
    """A `Student`'s fields; what `shown` hides, null."""
    names = shown.names
    return {
        "nickname": row.nickname if names else None,
        "pseudonym": row.pseudonym if shown.pseudonym else None,
        "first_name": row.first_name if names else None,
        "last_name": row.last_name if names else None,
        "email": row.email if names else None,
        "upload_code": codes.display(row.upload_code) if shown.upload_codes else None,
        "created_at": row.created_at,
        "email_state": row.email_state if names else None,
        "email_state_at": row.email_state_at if names else None,
        "email_shared": row.email_shared if names else None,
        "from_lms": row.from_lms,
        "left_course_at": row.left_course_at,
    }


def _seconds_allowed(clock: Clock | None) -> int | None:
    """The time a student is allowed from their start (None: the exam is not timed)."""
    return None if clock is None else int(time_allowed(clock).total_seconds())


def _summary_fields(exam_row: ExamRow, row: StudentSummaryRow, now: datetime, shown: Disclosure) -> dict[str, Any]:
    """A `StudentSummary`'s fields, in its order and types but unvalidated; what `shown` hides, null."""
    clock = row.clock(exam_row.duration_minutes)
    window = personal_window(exam_row.window, row.extension_due_at, row.extension_cutoff_at, clock)
    max_attempts = exam_row.max_attempts + row.extra_attempts
    extension = None
    if row.extension_due_at is not None and row.extension_cutoff_at is not None:
        extension = {
            "due_at": row.extension_due_at,
            "cutoff_at": row.extension_cutoff_at,
            "extra_attempts": row.extra_attempts,
        }
    return {
        **_student_fields(row, shown),
        "attempts_used": row.attempts_used,
        "attempts_left": attempts_left(row.attempts_used, max_attempts),
        "max_attempts": max_attempts,
        "due_at": window.due_at,
        "cutoff_at": window.cutoff_at,
        "extension": extension,
        "started_at": row.started_at,
        "extra_time_percent": row.extra_time_percent,
        "extra_time_minutes": row.extra_time_minutes,
        "time_allowed_seconds": _seconds_allowed(clock),
        "current": submission_fields(row.current, now, verification=shown.verification)
        if row.current is not None
        else None,
    }


# --- mail -------------------------------------------------------------------------------------


def codes_queued(sent: SentCodes) -> CodesQueued:
    from exam_depository.api.models.mail import CodesQueued, Skipped

    return CodesQueued(
        queued=sent.queued,
        skipped=Skipped(
            no_email=sent.skipped["no_email"],
            suppressed=sent.skipped["suppressed"],
            already_invited=sent.skipped["already_invited"],
            too_soon=sent.skipped["too_soon"],
            daily_limit=sent.skipped["daily_limit"],
            from_lms=sent.skipped["from_lms"],
        ),
    )


# --- submissions ------------------------------------------------------------------------------


def submission_fields(item: SubmissionJson, now: datetime, *, verification: bool) -> dict[str, object]:
    """A `Submission`'s fields, in its order and types but unvalidated: grouped code, status as of
    `now` (the retention holds from its instant, whatever the jobs did). Without `verification`,
    no verification code and no receipt (each lets its holder download the file)."""
    expires_at = datetime.fromisoformat(item["expires_at"])
    return {
        "upload_id": item["upload_id"],
        "verification_code": codes.display(item["verification_code"]) if verification else None,
        "filename": item["filename"],
        "content_type": item["content_type"],
        "size_bytes": item["size_bytes"],
        "sha256": item["sha256"],
        "submitted_at": datetime.fromisoformat(item["submitted_at"]),
        "expires_at": expires_at,
        "status": status_at(item["status"], expires_at, now),
        "late": item["late"],
        "due_at": datetime.fromisoformat(item["due_at"]) if item["due_at"] is not None else None,
        "receipt": item["receipt"] if verification else None,
        **scan_fields(item, status_at(item["status"], expires_at, now)),
    }


def scan_fields(item: SubmissionJson, status: SubmissionStatus) -> dict[str, object]:
    """A submission's malware scan, and whether it may be downloaded now (`scans.download_refusal`)."""
    from exam_depository.domain.scans import download_refusal, served

    released_at = item["scan_released_at"]
    released = datetime.fromisoformat(released_at) if released_at is not None else None
    return {
        "scan": item["scan"],
        "scan_detail": item["scan_detail"],
        "scan_released_at": released,
        "downloadable": served(status, item["stands_in"])
        and download_refusal(item["scan"], released, item["scan_detail"]) is None,
        "found_type": item["found_type"],
        "warnings": item["warnings"],
        "stands_in": item["stands_in"],
        "earlier_file_kept": item["earlier_file_kept"],
    }


def released(item: SubmissionJson) -> Submission:
    """A submission its exam's owner released: the owner sees everything of it."""
    from exam_depository.api.models.submissions import Submission

    return Submission.model_validate(submission_fields(item, datetime.now(UTC), verification=True))


def upload_form(form: IssuedForm) -> UploadForm:
    from exam_depository.api.models.uploads import UploadForm

    return UploadForm(
        upload_id=form.upload_id,
        url=form.url,
        fields=form.fields,
        expires_at=form.expires_at,
        max_bytes=form.max_bytes,
        attempts_used=form.attempts_used,
        attempts_left=form.attempts_left,
        due_at=form.due_at,
        cutoff_at=form.cutoff_at,
        late=form.late,
    )


def started(clock: StartedClock) -> Started:
    from exam_depository.api.models.uploads import Started

    return Started(
        started_at=clock.started_at,
        due_at=clock.due_at,
        cutoff_at=clock.cutoff_at,
        time_allowed_seconds=int(clock.time_allowed.total_seconds()),
        server_time=datetime.now(UTC),
    )


def upload_progress(row: ProgressRow) -> UploadProgress:
    """The exam as one student sees it (its window with their extension, and their clock once
    started), on the server's clock."""
    from exam_depository.api.models.common import StudentName
    from exam_depository.api.models.submissions import Submission
    from exam_depository.api.models.uploads import ExamWindow, UploadProgress, UploadState

    clock = row.clock
    window = personal_window(row.window, row.extension_due_at, row.extension_cutoff_at, clock)
    now = datetime.now(UTC)
    return UploadProgress(
        exam=ExamWindow(
            title=row.title,
            opens_at=window.opens_at,
            due_at=window.due_at,
            cutoff_at=window.cutoff_at,
            timezone=row.timezone,
            duration_minutes=row.duration_minutes,
            has_paper=row.has_paper,
            accepted_types=row.accepted_types,
            accept=_accept(row.accepted_types),
        ),
        server_time=now,
        student=StudentName(first_name=row.first_name, last_name=row.last_name),
        attempts_used=row.attempts_used,
        attempts_left=attempts_left(row.attempts_used, row.max_attempts + row.extra_attempts),
        current=Submission.model_validate(submission_fields(row.current, now, verification=True))
        if row.current is not None
        else None,
        uploads=[
            UploadState(
                upload_id=item["upload_id"],
                status=item["status"],
                rejection_reason=item["rejection_reason"],
                found_type=item.get("found_type"),
                message=_told(item),
            )
            for item in row.uploads
        ],
        timing=_timing(row, clock, now),
    )


def _accept(accepted_types: list[Kind]) -> str | None:
    if not accepted_types:
        return None
    # Here: only an exam that restricts its types loads the kinds' table.
    from exam_depository.domain.content_types import accept_attribute

    return accept_attribute(accepted_types)


def _told(upload: UploadJson) -> str | None:
    """What a student is told of an upload that was not handed in."""
    reason = upload["rejection_reason"]
    if reason is None:
        return None
    from exam_depository.domain.content_types import FOUND_NAMES, REJECTION_MESSAGES, found, wrong_type_message

    code = upload.get("found_type")
    if reason == "wrong-type" and code is not None and code in FOUND_NAMES and upload.get("accepted_types"):
        return wrong_type_message(found(code), upload["accepted_types"])
    return REJECTION_MESSAGES[reason]


def _timing(row: ProgressRow, clock: Clock | None, now: datetime) -> Timing | None:
    """A timed exam's clock for the student; and until they start, the window they would have by
    starting now (none when they cannot start)."""
    from exam_depository.api.models.uploads import PersonalWindow, Timing

    if clock is None:
        return None
    if_started_now = None
    effective = effective_window(row.window, row.extension_due_at, row.extension_cutoff_at)
    if clock.started_at is None and start_refusal(effective, now) is None:
        window = personal_window(
            row.window, row.extension_due_at, row.extension_cutoff_at, replace(clock, started_at=now)
        )
        if_started_now = PersonalWindow(due_at=window.due_at, cutoff_at=window.cutoff_at)
    return Timing(
        started_at=clock.started_at,
        extra_time_percent=clock.extra_time_percent,
        extra_time_minutes=clock.extra_time_minutes,
        time_allowed_seconds=int(time_allowed(clock).total_seconds()),
        if_started_now=if_started_now,
    )


def verification(row: VerifiedSubmission) -> Verification:
    from exam_depository.api.models.common import StudentName
    from exam_depository.api.models.reviews import ExamTitle, Verification
    from exam_depository.domain.scans import download_refusal, served

    status = status_at(row.status, row.expires_at, datetime.now(UTC))
    return Verification(
        verification_code=codes.display(row.verification_code),
        exam=ExamTitle(title=row.exam_title),
        filename=row.filename,
        size_bytes=row.size_bytes,
        content_type=row.content_type,
        sha256=row.sha256,
        submitted_at=row.submitted_at,
        status=status,
        late=row.late,
        started_at=row.started_at,
        due_at=row.due_at,
        # An anonymous exam is marked without names: the code reveals the file, not its author.
        student=None if row.anonymous else StudentName(first_name=row.first_name, last_name=row.last_name),
        scan=row.scan,
        scan_detail=row.scan_detail,
        scan_released_at=row.scan_released_at,
        downloadable=served(status, row.stands_in)
        and row.object_deleted_at is None
        and download_refusal(row.scan, row.scan_released_at, row.scan_detail) is None,
        warnings=list(row.warnings),
    )


def download_link(link: Link) -> DownloadLink:
    from exam_depository.api.models.reviews import DownloadLink

    return DownloadLink(url=link.url, expires_at=link.expires_at)


# --- receipts ---------------------------------------------------------------------------------


def receipt_check(verdict: Verdict) -> ReceiptCheck:
    from exam_depository.api.models.reviews import ReceiptCheck

    return ReceiptCheck(
        genuine=verdict.genuine, reason=verdict.reason, claims=verdict.claims, status=verdict.status, scan=verdict.scan
    )


def jwks(keys: list[dict[str, str]]) -> Jwks:
    from exam_depository.api.models.reviews import Jwks

    return Jwks(keys=keys)


# --- exports ----------------------------------------------------------------------------------


def export_started(row: ExportRow) -> ExportStarted:
    from exam_depository.api.models.exports import ExportStarted

    return ExportStarted(export_id=row.id, status=row.status)


def export(row: ExportRow, url: str | None) -> Export:
    from exam_depository.api.models.exports import Export

    return Export(
        export_id=row.id,
        status=row.status,
        files_done=row.files_done,
        files_total=row.files_total,
        bytes=row.bytes,
        created_at=row.created_at,
        url=url,
        expires_at=row.expires_at,
        error=row.error,
    )


# --- audit ------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from exam_depository.api.models.audit import AuditPage
    from exam_depository.domain.audit_log import AuditItem

# Lambda answers at most 6 MiB; the proxy answer's status and headers take a little of it.
LAMBDA_ANSWER_BYTES = 6 * 1024 * 1024
_ENVELOPE_BYTES = 16 * 1024


def audit_page(page: Page[AuditItem]) -> AuditPage:
    from exam_depository.api.models.audit import AuditEvent, AuditPage

    return AuditPage(
        items=[
            AuditEvent(
                seq=item.seq,
                at=item.at,
                actor=item.actor,
                role=item.role,
                action=item.action,
                target=item.target,
                before=None if item.before is None else dict(item.before),
                after=None if item.after is None else dict(item.after),
                request_id=item.request_id,
                prev_hash=item.prev_hash,
                hash=item.hash,
            )
            for item in page.items
        ],
        next_cursor=page.next_cursor,
    )


def audit_download(exam_id: str, content: bytes, accept_encoding: str | None) -> tuple[str, dict[str, str]]:
    """The whole log's CSV as the answer's text and headers; the route compresses it (gzip) when
    the client takes it. `PayloadTooLarge` when even that is more than Lambda can answer: every
    export's ZIP holds any log."""
    import json

    from exam_depository.domain.audit_log import TOO_LARGE_TO_ANSWER
    from exam_depository.domain.errors import PayloadTooLarge

    text = content.decode()
    room = LAMBDA_ANSWER_BYTES - _ENVELOPE_BYTES
    # As sent: the answer's JSON escapes every quote and line end; gzipped, it is base64.
    if len(json.dumps(text)) > room and not (
        "gzip" in (accept_encoding or "").lower() and 4 * ((len(_gzipped(content)) + 2) // 3) <= room
    ):
        raise PayloadTooLarge(TOO_LARGE_TO_ANSWER)
    return text, {"Content-Disposition": f'attachment; filename="{exam_id}-audit.csv"'}


def _gzipped(content: bytes) -> bytes:
    """As Powertools compresses an answer (level 9): only to measure one that is too large plain."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(content) + compressor.flush()
