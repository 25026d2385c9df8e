"""An examiner's exports."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import (about a fifth of the time).

from datetime import datetime
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel
from exam_depository.domain.statuses import ExportStatus


class ExportStarted(ApiModel):
    export_id: UUID
    status: ExportStatus


class Export(ApiModel):
    export_id: UUID
    status: ExportStatus
    files_done: int
    files_total: int | None
    bytes: int
    created_at: datetime
    url: str | None = Field(
        default=None, description="When done: a link to the ZIP, minutes long; ask again for a new one."
    )
    expires_at: datetime | None = Field(default=None, description="When done: when the ZIP is deleted.")
    error: str | None = Field(default=None, description="When failed: why. Start another export to retry.")
