"""The product's rules as plain functions: no I/O, no AWS, no database."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote
from uuid import UUID

from exam_depository.models import SubmissionStatus

Placement = Literal["current", "superseded"]


def attempts_left(attempts_used: int, max_attempts: int) -> int:
    return max(0, max_attempts - attempts_used)


def status_at(stored: SubmissionStatus, expires_at: datetime, now: datetime) -> SubmissionStatus:
    """What a submission is now: the 72 h limit holds from its instant, whatever the jobs did."""
    if stored == "current" and now >= expires_at:
        return "expired"
    return stored


def expiry_of(recorded_at: datetime, retention_hours: int) -> datetime:
    return recorded_at + timedelta(hours=retention_hours)


def placement(new_issue_seq: int, current_issue_seq: int | None) -> Placement:
    """Where a newly recorded upload goes: the upload issued last is the current one."""
    if current_issue_seq is None or new_issue_seq > current_issue_seq:
        return "current"
    return "superseded"


def is_newer_event(sequencer: str, recorded_sequencer: str | None) -> bool:
    """S3 orders events on one key by the hexadecimal value of `sequencer`."""
    return recorded_sequencer is None or int(sequencer, 16) > int(recorded_sequencer, 16)


_UNSAFE_IN_KEY = re.compile(r"[\x00-\x1f\x7f/\\]")


def client_filename(raw: str) -> str:
    """The name a browser sent, without any path a client prepended (C:\\fakepath\\a.pdf)."""
    base = re.split(r"[/\\]", raw)[-1].strip()
    return unicodedata.normalize("NFC", base) or "answer"


def object_key(prefix: str, upload_id: UUID, filename: str) -> str:
    """The server chooses every key: the upload id makes it unique, the name helps ops."""
    return f"{prefix}{upload_id}/{_UNSAFE_IN_KEY.sub('_', filename)}"


def attachment_disposition(filename: str) -> str:
    """Content-Disposition that makes browsers save the file under its original name."""
    ascii_fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode() or "answer"
    ascii_fallback = re.sub(r'["\\;\x00-\x1f\x7f]', "_", ascii_fallback)
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
