"""Exports: every current submission of an exam in one ZIP, with the exam's audit log
(`audit.csv`), the signed checkpoint of its last event (`audit-checkpoint.jwt`) and a manifest.
An examiner starts one (queued for the export function, `usecases.export_builder`, which builds
it) and asks for it; an export lives a day; its link is made fresh whenever it is asked for.
Starting one and each link issued are audit events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.exports  # noqa: F401
from exam_depository.adapters import db, queues, storage
from exam_depository.config import ExportSettings, load
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import AuditAction, Event, member_actor
from exam_depository.domain.errors import Gone, NotFound
from exam_depository.domain.instants import rfc3339

NO_EXPORT = "This exam has no export with this id."


def start_export(caller: Caller, exam_id: str) -> db.exports.ExportRow:
    """Queue an export of the exam; its start is an audit event (`export.created`)."""
    export_id = uuid.uuid4()
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXPORT_CREATE)
        key = f"{load(ExportSettings).prefix}{exam.exam_pk}/{export_id}/{exam.exam_id}.zip"
        row = db.exports.insert_export(conn, export_id, exam.exam_pk, key)
        db.audit.append(
            conn, exam.exam_pk, [Event(member_actor(exam, caller), AuditAction.EXPORT_CREATED, f"export:{export_id}")]
        )
    queues.send_export(export_id)  # after the commit: the builder must find the row
    return row


def export_status(caller: Caller, exam_id: str, export_id: UUID) -> tuple[db.exports.ExportRow, str | None]:
    """The export, and a fresh link to its ZIP once it is done: each link issued is an audit
    event (`export.link_issued`), in the transaction that read the export. Presigning is local
    signing."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.EXPORT_READ)
        row = db.exports.export_of(conn, exam.exam_pk, export_id)
        if row is None:
            raise NotFound(NO_EXPORT)
        if row.expires_at is None:
            return row, None
        left = (row.expires_at - now).total_seconds()
        if left <= 0:
            raise Gone("This export expired (an export is kept a day); start another one.")
        ttl_s = int(min(left, load(ExportSettings).link_ttl_s))
        link_expires_at = now.replace(microsecond=0) + timedelta(seconds=ttl_s)
        issued = Event(
            member_actor(exam, caller),
            AuditAction.EXPORT_LINK_ISSUED,
            f"export:{export_id}",
            after={"expires_at": rfc3339(link_expires_at)},
        )
        db.audit.append(conn, exam.exam_pk, [issued])
    return row, storage.presign_export(row.object_key, ttl_s)
