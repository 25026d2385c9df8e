"""An exam's question paper, as plain functions of plain values: its key, whether an examiner may
have a form for it (`paper_form_refusal`), and whether a student may have a link to it
(`paper_refusal`). What becomes of a paper S3 accepted is `paper_recording`'s: only the recorder
loads it."""

from __future__ import annotations

import secrets
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
from exam_depository.domain.rules import Window, form_expiry

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
