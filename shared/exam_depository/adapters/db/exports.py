"""Exports: their rows, and what an export lists and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from exam_depository.adapters.db import windows
from exam_depository.adapters.db.submissions import stands_in
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.statuses import ExportStatus, ScanState


@dataclass(frozen=True)
class ExportRow:
    id: UUID
    exam_pk: int
    status: ExportStatus  # a CHECK constraint holds it to these
    files_total: int | None
    files_done: int
    bytes: int
    object_key: str
    error: str | None
    created_at: datetime
    expires_at: datetime | None


_EXPORT_COLUMNS = """x.id, x.exam_id AS exam_pk, x.status, x.files_total, x.files_done, x.bytes, x.object_key, x.error,
    x.created_at, x.expires_at"""


def insert_export(conn: Connection, export_id: UUID, exam_pk: int, object_key: str) -> ExportRow:
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        row = cur.execute(
            f"""INSERT INTO export AS x (id, exam_id, object_key) VALUES (%s, %s, %s)
                RETURNING {_EXPORT_COLUMNS}""",
            (export_id, exam_pk, object_key),
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING returns its row
    return row


def export_of(conn: Connection, exam_pk: int, export_id: UUID) -> ExportRow | None:
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        return cur.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM export x WHERE x.exam_id = %s AND x.id = %s", (exam_pk, export_id)
        ).fetchone()


def start_export(conn: Connection, export_id: UUID) -> ExportRow | None:
    """Mark an export running (again, if an earlier try died); None if it is no longer to be
    built (done, failed, or its exam deleted)."""
    with conn.cursor(row_factory=rows_of(ExportRow)) as cur:
        return cur.execute(
            f"""UPDATE export x SET status = 'running', files_done = 0, bytes = 0
                WHERE x.id = %s AND x.status IN ('queued', 'running')
                RETURNING {_EXPORT_COLUMNS}""",
            (export_id,),
        ).fetchone()


@dataclass(frozen=True)
class ExportedSubmission:
    student_id: int
    nickname: str
    pseudonym: str
    first_name: str
    last_name: str
    filename: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    late: bool
    verification_code: str
    object_key: str
    version_id: str
    # The student's window as of the export, and how it was made (a timed exam's clock).
    started_at: datetime | None
    due_at: datetime
    cutoff_at: datetime
    extra_time_percent: int
    extra_time_minutes: int
    # The malware scan: a file the gate holds back is listed, not read (`domain.scans.held_back`).
    scan: ScanState | None
    scan_detail: str | None
    scan_released_at: datetime | None
    found_type: str | None  # what its bytes were found to be: the ZIP names it so (None: any type)
    # Held back, with the verification code of the student's earlier file exported in its place.
    kept_instead: str | None = None


def exam_for_export(conn: Connection, exam_pk: int) -> tuple[str, bool]:
    """The exam's public id and whether it is anonymous."""
    row = conn.execute("SELECT slug, anonymous FROM exam WHERE id = %s", (exam_pk,)).fetchone()
    assert row is not None  # the export's row cascades with its exam
    return str(row["slug"]), bool(row["anonymous"])


# Current submissions: within their retention, their file still stored.
_SUBMISSIONS = f"""SELECT s.id AS student_id, s.nickname, s.pseudonym, s.first_name, s.last_name, x.filename,
                       x.size_bytes, x.sha256, x.submitted_at, x.late, x.verification_code, u.object_key, u.version_id,
                       s.started_at, {windows.personal_due()} AS due_at, {windows.personal_cutoff()} AS cutoff_at,
                       s.extra_time_percent, s.extra_time_minutes, x.scan, x.scan_detail, x.scan_released_at,
                       x.found_type
                FROM submission x JOIN upload u ON u.id = x.upload_id JOIN student s ON s.id = x.student_id
                JOIN exam e ON e.id = s.exam_id
                WHERE x.expires_at > %(now)s AND u.object_deleted_at IS NULL"""
_EXPORTED = f"{_SUBMISSIONS} AND x.status = 'current'"


def current_submissions(conn: Connection, exam_pk: int, now: datetime) -> list[ExportedSubmission]:
    """Every current submission of the exam: what an export holds, listed once. By the name the
    export shows: in an anonymous exam the pseudonym (an order by nickname would tell who is who)."""
    with conn.cursor(row_factory=rows_of(ExportedSubmission)) as cur:
        return cur.execute(
            f"""{_EXPORTED} AND s.exam_id = %(exam)s
                ORDER BY lower(CASE WHEN e.anonymous THEN s.pseudonym
                                    ELSE s.nickname END)""",
            {"exam": exam_pk, "now": now},
        ).fetchall()


def current_submission_of(conn: Connection, student_id: int, now: datetime) -> ExportedSubmission | None:
    """One student's current submission, read again when the one an export listed was replaced."""
    with conn.cursor(row_factory=rows_of(ExportedSubmission)) as cur:
        return cur.execute(f"{_EXPORTED} AND s.id = %(student)s", {"student": student_id, "now": now}).fetchone()


def stand_in_of(conn: Connection, student_id: int, now: datetime) -> ExportedSubmission | None:
    """The student's earlier file that stands in for their current one, which cannot be
    downloaded (`submissions.stands_in`): exported in its place."""
    with conn.cursor(row_factory=rows_of(ExportedSubmission)) as cur:
        return cur.execute(
            f"{_SUBMISSIONS} AND s.id = %(student)s AND {stands_in('x')}", {"student": student_id, "now": now}
        ).fetchone()


def export_progress(conn: Connection, export_id: UUID, *, files_total: int, files_done: int, written: int) -> bool:
    """Write the progress; False when the export is no longer running (its exam was deleted)."""
    return (
        conn.execute(
            "UPDATE export SET files_total = %s, files_done = %s, bytes = %s WHERE id = %s AND status = 'running'",
            (files_total, files_done, written, export_id),
        ).rowcount
        == 1
    )


def lock_running_export(conn: Connection, export_id: UUID) -> bool:
    """Lock a running export until the transaction ends; False when it is gone (its exam deleted)."""
    found = conn.execute("SELECT id FROM export WHERE id = %s AND status = 'running' FOR UPDATE", (export_id,))
    return found.fetchone() is not None


def finish_export(conn: Connection, export_id: UUID, *, files: int, written: int, expires_at: datetime) -> None:
    """Mark it done with the files it holds (fewer than listed if a student was deleted meanwhile)."""
    conn.execute(
        """UPDATE export SET status = 'done', bytes = %s, files_total = %s, files_done = %s, finished_at = now(),
                             expires_at = %s
           WHERE id = %s AND status = 'running'""",
        (written, files, files, expires_at, export_id),
    )


def fail_export(conn: Connection, export_id: UUID, error: str) -> None:
    conn.execute(
        "UPDATE export SET status = 'failed', error = %s, finished_at = now() WHERE id = %s AND status = 'running'",
        (error, export_id),
    )
