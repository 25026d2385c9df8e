"""An exam's audit log, as its route answers it (docs/AUDIT.md)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime
from typing import Any

from pydantic import Field

from exam_depository.api.models.common import ApiModel


class AuditEvent(ApiModel):
    seq: int = Field(description="The event's place in the exam's chain, from 1.")
    at: datetime = Field(description="When, by the database's clock (UTC, microseconds).")
    actor: str = Field(description="Who: a member's member_id, student:<pseudonym>, reviewer, ops, or system:<job>.")
    role: str | None = Field(description="The member's role then; null for anyone else.")
    action: str
    target: str = Field(description="What: exam, student:<pseudonym>, students, export:<id>, member:<id>…")
    before: dict[str, Any] | None = Field(description="What changed, as it was (only the fields that changed).")
    after: dict[str, Any] | None = Field(description="What changed, as it became.")
    request_id: str | None = Field(description="API Gateway's id of the request, or a job's Lambda request id.")
    prev_hash: str = Field(description="The previous event's hash (64 zeros for the first).")
    hash: str = Field(description="SHA-256 of prev_hash, seq, at and the event (docs/AUDIT.md).")


class AuditPage(ApiModel):
    items: list[AuditEvent]
    next_cursor: str | None = Field(description="The next (older) page's cursor; null on the last.")
