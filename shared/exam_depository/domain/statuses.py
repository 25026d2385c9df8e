"""The states a submission, an upload form, an export and a question paper's form go through,
why a form's object is rejected, a recorded file's malware scan, and the languages mail is
written in. The migrations' CHECK constraints hold the same lists; rows, rules and the HTTP
contract all speak these. An exam's state is never stored: `rules.exam_state` says it as of now."""

from __future__ import annotations

from typing import Literal

SubmissionStatus = Literal["current", "superseded", "expired"]
UploadStatus = Literal["pending", "recorded", "rejected"]
ExportStatus = Literal["queued", "running", "done", "failed"]
# The reasons about a file's content are spelled as the published contract spells them (kebab-case);
# the older ones keep their snake_case.
RejectionReason = Literal[
    "too_large",
    "empty",
    "checksum_mismatch",
    "after_cutoff",
    "limit_reached",
    "wrong-type",
    "pdf-unreadable",
    "pdf-encrypted",
]
# A recorded file's malware scan (None where a file was never scanned: recorded before scanning
# was deployed, or scanning is off).
ScanState = Literal["scanning", "clean", "threat", "unsupported", "failed"]
# The kinds of file an exam may accept (domain.content_types says what each is).
Kind = Literal["pdf", "word", "odt", "image", "text", "zip"]
# What a reviewer is warned of about a recorded file, without refusing it.
SubmissionWarning = Literal["scanned_pdf"]
ExamState = Literal["upcoming", "open", "late_period", "closed"]
PaperStatus = Literal["pending", "current", "superseded", "rejected"]
PaperRejectionReason = Literal["empty", "too_large", "not_pdf", "checksum_mismatch", "after_opening"]
# The languages of the emails to an exam's students: those the messages' catalogues hold (the
# migration's CHECK holds the same list).
MailLanguage = Literal["en", "de", "fr"]
# A message to a student (`domain.mail`): what it is about, the states it goes through, and the
# student's state that the roster shows: the published six (null, queued, sent, delivered, bounced,
# complained) and `failed` (SES refused the message, or it was given up), which clients must accept.
MessageKind = Literal["invitation", "receipt", "rejection"]
MessageState = Literal["queued", "sending", "sent", "delivered", "bounced", "complained", "failed", "skipped"]
EmailState = Literal["queued", "sent", "delivered", "bounced", "complained", "failed"]
