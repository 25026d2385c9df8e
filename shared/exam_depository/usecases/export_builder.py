"""An export built by the export function, from the job `usecases.exports.start_export` queued:
every current submission of an exam in one ZIP, with the exam's audit log (`audit.csv`), the
signed checkpoint of its last event (`audit-checkpoint.jwt`) and a manifest, by streaming: each
file is read by its recorded version and its SHA-256 checked on the way, the log read through a
server-side cursor, the ZIP written to S3 in parts, in bounded memory whatever the exam's size.
Apart from `usecases.exports` so that the examiner's export routes load none of it."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exports  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import ExportSettings, load
from exam_depository.domain import codes
from exam_depository.domain.audit import SignCheckpoint
from exam_depository.domain.audit_log import Head, csv_chunks
from exam_depository.domain.cells import neutralized
from exam_depository.domain.content_types import served_filename
from exam_depository.domain.errors import ServiceUnavailable, Threat
from exam_depository.domain.filenames import AUDIT_CHECKPOINT, AUDIT_LOG, MANIFEST, ArchiveNames
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import shown_as
from exam_depository.domain.scans import held_back
from exam_depository.observability import logger

PROGRESS_EVERY_S = 1.0


class ExportFailed(Exception):
    """Building an export cannot succeed: the message says why, for the examiner."""


class _ExportGone(Exception):
    """The export's row is gone while it was built: its exam was deleted. Nothing must be left."""


@dataclass(frozen=True)
class Built:
    outcome: Literal["done", "failed", "skipped"]
    bytes: int = 0


def build_export(export_id: UUID, *, last_try: bool, checkpoint: SignCheckpoint) -> Built:
    """Build one export; returns what became of it. A failure that cannot heal (a file that does
    not match its SHA-256, or is missing from S3, or kept changing) fails the export at once,
    saying why; S3, KMS or the database unavailable fails it only on the last try, and is raised
    for SQS to retry before. The audit log goes in up to its head as the files were listed, with
    a checkpoint of that head that `checkpoint` signs."""
    with db.transaction() as conn:
        row = db.exports.start_export(conn, export_id)
        if row is None:
            return Built("skipped")
        exam_id, anonymous = db.exports.exam_for_export(conn, row.exam_pk)
        files = db.exports.current_submissions(conn, row.exam_pk, datetime.now(UTC))  # listed once
        head = db.audit.head(conn, row.exam_pk)
        db.exports.export_progress(conn, export_id, files_total=len(files), files_done=0, written=0)
    upload: storage.MultipartUpload | None = None
    try:
        upload = storage.MultipartUpload(
            row.object_key, content_type="application/zip", content_disposition=f'attachment; filename="{exam_id}.zip"'
        )
        token = checkpoint(row.exam_pk, "exported", head)
        if token is None:  # its exam was deleted meanwhile
            raise _ExportGone
        exported = _write_zip(export_id, files, anonymous, upload, _AuditLog(row.exam_pk, head, token))
        _complete(export_id, upload, sum(1 for _, name in exported if name))
    except _ExportGone:
        if upload is not None:
            upload.abort()
        logger.info("Export abandoned: its exam was deleted", extra={"export_id": str(export_id)})
        return Built("skipped")
    except ExportFailed as exc:
        if upload is not None:
            upload.abort()
        _fail(export_id, str(exc))
        return Built("failed")
    except ServiceUnavailable as exc:
        if upload is not None:
            upload.abort()
        if last_try:
            unavailable = exc.service or "S3, KMS or the database"
            _fail(export_id, f"{unavailable} was unavailable on every try; start the export again.")
            return Built("failed")
        raise
    logger.info("Export done", extra={"export_id": str(export_id), "files": len(exported), "bytes": upload.bytes})
    return Built("done", upload.bytes)


def _complete(export_id: UUID, upload: storage.MultipartUpload, files: int) -> None:
    """Make the ZIP appear and mark the export done, holding the export's row meanwhile: an exam
    deleted now waits, then lists and deletes this ZIP too; one deleted before leaves no row, and
    the ZIP is never completed."""
    expires_at = datetime.now(UTC) + timedelta(hours=load(ExportSettings).retention_hours)
    with db.transaction() as conn:
        if not db.exports.lock_running_export(conn, export_id):
            raise _ExportGone
        upload.complete()
        db.exports.finish_export(conn, export_id, files=files, written=upload.bytes, expires_at=expires_at)


def _fail(export_id: UUID, error: str) -> None:
    logger.warning("Export failed", extra={"export_id": str(export_id), "error": error})
    with db.transaction() as conn:
        db.exports.fail_export(conn, export_id, error)


@dataclass(frozen=True)
class _AuditLog:
    """The part of an exam's audit log an export holds: up to `head`, which `token` signs."""

    exam_pk: int
    head: Head
    token: str


def _write_zip(
    export_id: UUID,
    files: list[db.exports.ExportedSubmission],
    anonymous: bool,
    upload: storage.MultipartUpload,
    log: _AuditLog,
) -> list[tuple[db.exports.ExportedSubmission, str]]:
    """Each listed file, opened just before it is written (`_opened`: the file a student replaced
    meanwhile is found out there), then the audit log and its checkpoint, then the manifest of
    what the ZIP holds, last. Returns the files listed with their names in the ZIP (empty for a
    file the malware gate held back)."""
    names = ArchiveNames()
    archive = ZipStream(compress_type=ZIP_STORED)  # answers are mostly PDFs: compressing costs CPU for little
    exported: list[tuple[db.exports.ExportedSubmission, str]] = []
    reported = time.monotonic()

    def send(chunks: Iterator[bytes]) -> None:
        nonlocal reported
        for chunk in chunks:
            upload.write(chunk)
            if time.monotonic() - reported > PROGRESS_EVERY_S:
                with db.transaction() as conn:
                    running = db.exports.export_progress(
                        conn, export_id, files_total=len(files), files_done=len(exported), written=upload.bytes
                    )
                if not running:  # its exam was deleted: stop reading its files now
                    raise _ExportGone
                reported = time.monotonic()

    for listed in files:
        opened = _opened(listed, anonymous)
        if opened is None:
            continue
        item, chunks = opened
        if chunks is None:  # held back by the malware gate: listed in the manifest, saying why
            kept = _kept_instead(item)
            if kept is None:
                exported.append((item, ""))
                continue
            earlier, earlier_chunks = kept
            if earlier_chunks is None:  # refused as a threat too: both listed, neither exported
                exported.extend([(item, ""), (earlier, "")])
                continue
            # An earlier file of the student's is kept in its place (a threat found in a later
            # try): exported instead, both listed, the held-back one naming it.
            exported.append((replace(item, kept_instead=codes.display(earlier.verification_code)), ""))
            item, chunks = earlier, earlier_chunks
        name = names.entry(_who(item, anonymous), served_filename(item.filename, item.found_type))
        archive.add(_checked(item, name, chunks, anonymous), name, size=item.size_bytes)
        send(archive.file())
        exported.append((item, name))
    # The log is read in one transaction (its server-side cursor lives in it); its bytes go to
    # S3 as they come, without the progress writes, which would wait for that transaction's end.
    with db.transaction() as conn:
        archive.add(csv_chunks(db.audit.stream(conn, log.exam_pk, log.head.seq)), AUDIT_LOG, compress_type=ZIP_DEFLATED)
        for chunk in archive.file():
            upload.write(chunk)
    archive.add(log.token.encode(), AUDIT_CHECKPOINT)
    send(archive.file())
    archive.add(manifest([item for item, _ in exported], [name for _, name in exported], anonymous=anonymous), MANIFEST)
    send(archive.finalize())
    return exported


# A student who hands in again while an export is built supersedes the file the export listed,
# and the recorder deletes that version (at once if the new file was found clean, else once it
# is: until then the listed one is kept, and read here): reading it then fails. The builder deliberately takes the
# student's newer current file instead, read again from the records, rather than leave the student
# out: an export promises every current submission of the exam, and this is the file the student
# handed in last; the manifest, written last, describes the file the ZIP holds. A student with no
# current file any more (deleted, or its retention ended meanwhile) is left out, as a listing made
# now would. A file replaced at every read (MAX_READS) fails the export, saying so.
MAX_READS = 3


def _who(item: db.exports.ExportedSubmission, anonymous: bool) -> str:
    """The student's name in the export: its folder, the manifest, a failure's reason."""
    return shown_as(item.nickname, item.pseudonym, anonymous=anonymous)


def _opened(
    listed: db.exports.ExportedSubmission, anonymous: bool
) -> tuple[db.exports.ExportedSubmission, Iterator[bytes] | None] | None:
    """The submission to export for the listed one, and its bytes (the GET made): the listed
    version, or the student's newer current one when the listed version is gone; None when the
    student has none any more. A file the malware gate holds back is not read (no bytes); nor is
    one the bucket refuses as a threat (no bytes, and its scan a threat)."""
    item = listed
    for _ in range(MAX_READS):
        if held_back(item.scan, item.scan_released_at, item.scan_detail) is not None:
            return item, None
        try:
            chunks = storage.stream_version(item.object_key, item.version_id)
        except Threat:
            # Tagged as malware after it was listed, its result not recorded yet (the event is on
            # its way, or a rescan found what the first scan did not): held back as a recorded threat.
            return replace(item, scan="threat", scan_detail=None, scan_released_at=None), None
        if chunks is not None:
            return item, chunks
        with db.transaction() as conn:
            newer = db.exports.current_submission_of(conn, item.student_id, datetime.now(UTC))
        if newer is None:
            logger.info("A student has no current file any more; left out of the export")
            return None
        if (newer.object_key, newer.version_id) == (item.object_key, item.version_id):
            # Still current on record, gone from S3: deleted by hand (the reconcile job marks it lost).
            raise ExportFailed(
                f"The recorded file of {_who(item, anonymous)} ({item.filename}) is missing from S3; "
                "nothing was exported."
            )
        item = newer
    raise ExportFailed(
        f"The file of {_who(listed, anonymous)} changed {MAX_READS} times while the export was built; "
        "nothing was exported. "
        "Start the export again."
    )


def _kept_instead(
    held: db.exports.ExportedSubmission,
) -> tuple[db.exports.ExportedSubmission, Iterator[bytes] | None] | None:
    """The student's earlier file that stands in for the held-back current one, and its bytes;
    None when there is none, or its version is gone (the current one became downloadable and the
    earlier one was deleted meanwhile: this export holds neither, and says why of the current one).
    No bytes when the bucket refuses it as a threat (a rescan tagged it, its result not recorded
    yet): it is listed as a threat, as `_opened` lists a current file so refused."""
    with db.transaction() as conn:
        kept = db.exports.stand_in_of(conn, held.student_id, datetime.now(UTC))
    if kept is None:
        return None
    try:
        chunks = storage.stream_version(kept.object_key, kept.version_id)
    except Threat:
        return replace(kept, scan="threat", scan_detail=None, scan_released_at=None), None
    return None if chunks is None else (kept, chunks)


def _checked(
    item: db.exports.ExportedSubmission, name: str, chunks: Iterator[bytes], anonymous: bool
) -> Iterator[bytes]:
    """The recorded version's bytes; its SHA-256 must be the recorded one, or the export fails
    naming the file (a ZIP with a changed file in it must not be handed out)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != item.sha256:
        raise ExportFailed(
            f"{name} (of {_who(item, anonymous)}) does not match its recorded SHA-256; nothing was exported."
        )


def manifest(files: list[db.exports.ExportedSubmission], names: list[str], *, anonymous: bool) -> bytes:
    """One line per file: who, what, where in the ZIP, its SHA-256, when, late, the student's
    window and how it was made (a timed exam's start and extra time; an untimed exam leaves the
    start empty), its code (for an anonymous exam, who is the pseudonym, with no names), its
    malware scan and, for a file the ZIP does not hold (an empty path), why; UTF-8 with a BOM,
    safe in a spreadsheet like the roster."""
    columns = ["pseudonym"] if anonymous else ["nickname", "first_name", "last_name"]
    columns += ["filename", "path_in_zip"]
    columns += ["size_bytes", "sha256", "submitted_at", "late"]
    columns += ["started_at", "due_at", "cutoff_at", "extra_time_percent", "extra_time_minutes"]
    columns += ["verification_code", "scan", "held_back"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item, name in zip(files, names, strict=True):
        values = {
            "nickname": item.nickname,
            "pseudonym": item.pseudonym,
            "first_name": item.first_name,
            "last_name": item.last_name,
            "filename": item.filename,
            "path_in_zip": name,
            "size_bytes": str(item.size_bytes),
            "sha256": item.sha256,
            "submitted_at": rfc3339(item.submitted_at),
            "late": "yes" if item.late else "no",
            "started_at": "" if item.started_at is None else rfc3339(item.started_at),
            "due_at": rfc3339(item.due_at),
            "cutoff_at": rfc3339(item.cutoff_at),
            "extra_time_percent": str(item.extra_time_percent),
            "extra_time_minutes": str(item.extra_time_minutes),
            "verification_code": codes.display(item.verification_code),
            "scan": item.scan or "",
            "held_back": held_back(item.scan, item.scan_released_at, item.scan_detail, kept_instead=item.kept_instead)
            or "",
        }
        writer.writerow([neutralized(values[column]) for column in columns])
    return ("\ufeff" + out.getvalue()).encode()
