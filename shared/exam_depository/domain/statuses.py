"""The states a submission, an upload form, an export and a question paper's form go through, and
why a form's object is rejected. The migrations' CHECK constraints hold the same lists; rows, rules and the HTTP
contract all speak these. An exam's state is never stored: `rules.exam_state` says it as of now."""

from __future__ import annotations

from typing import Literal

SubmissionStatus = Literal["current", "superseded", "expired"]
UploadStatus = Literal["pending", "recorded", "rejected"]
ExportStatus = Literal["queued", "running", "done", "failed"]
RejectionReason = Literal["too_large", "empty", "checksum_mismatch", "after_cutoff", "limit_reached"]
ExamState = Literal["upcoming", "open", "late_period", "closed"]
PaperStatus = Literal["pending", "current", "superseded", "rejected"]
PaperRejectionReason = Literal["empty", "too_large", "not_pdf", "checksum_mismatch", "after_opening"]
ScanState = Literal["scanning", "clean", "threat", "unsupported", "failed"]
