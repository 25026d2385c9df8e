"""An exam's question paper: one row per presigned form (`question_paper`), the paper students get
being its one `current` row. Statements and rows, and the paper as the exam's own statements
inline it (`EXAM_PAPER_JSON`)."""

from __future__ import annotations

from typing import Literal, TypedDict

PaperStatus = Literal["pending", "current", "superseded", "rejected"]
PaperRejectionReason = Literal["empty", "too_large", "not_pdf", "checksum_mismatch", "after_opening"]


class PaperJson(TypedDict):
    """The exam's current paper, as `EXAM_PAPER_JSON` sends it (the id and instant as JSON text)."""

    paper_id: str
    filename: str
    size_bytes: int
    sha256: str
    uploaded_at: str


class PaperUploadJson(TypedDict):
    """One of the exam's paper forms, as `EXAM_PAPER_JSON` lists them: what became of it."""

    paper_id: str
    status: PaperStatus
    rejection_reason: PaperRejectionReason | None


# How many of an exam's latest paper forms its answer lists (the console follows the newest).
LISTED_PAPER_FORMS = 5

# Two columns of an exam's row, for the statements that select the exam as `e`: `paper`, its
# current paper (a PaperJson, or NULL), and `paper_uploads`, its latest forms newest first (a list
# of PaperUploadJson). An exam has a few forms at most (each replacement before it opens is one).
EXAM_PAPER_JSON = f"""(SELECT jsonb_build_object('paper_id', p.id, 'filename', p.filename, 'size_bytes', p.size_bytes,
                                 'sha256', p.sha256, 'uploaded_at', p.uploaded_at)
     FROM question_paper p WHERE p.exam_id = e.id AND p.status = 'current') AS paper,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('paper_id', f.id, 'status', f.status,
                                                  'rejection_reason', f.rejection_reason) ORDER BY f.issue_seq DESC)
              FROM (SELECT q.id, q.status, q.rejection_reason, q.issue_seq FROM question_paper q
                    WHERE q.exam_id = e.id ORDER BY q.issue_seq DESC LIMIT {LISTED_PAPER_FORMS}) f),
             '[]'::jsonb) AS paper_uploads"""
