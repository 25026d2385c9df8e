"""The malware scan's results: every result of every object version (`object_scan`, kept whether
or not the version is recorded yet: a result may arrive before the recording), and the scan state
they give a submission (`submission.scan`), which gates every download.

`state_of` is the rule of `domain.scans.STATE_OF` in SQL, for the recorder's INSERT, which takes
up a result that came first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from exam_depository.adapters.db.submissions import SUBMISSION_JSON, SubmissionJson
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.scans import RANK, STATE_OF, ScanResult
from exam_depository.domain.statuses import ScanState


def state_of(result_sql: str) -> str:
    """A CASE expression giving the scan state of the result `result_sql` (an SQL expression)."""
    whens = " ".join(f"WHEN '{status}' THEN '{state}'" for status, state in STATE_OF.items())
    return f"(CASE {result_sql} {whens} END)"


def detail_of(t: str) -> str:
    """What a submission's `scan_detail` says of the stored result `{t}`: the threats' names, or
    why it was not scanned; NULL when the result names neither."""
    return f"NULLIF(left(array_to_string({t}.threats || {t}.status_reasons, ', '), 300), '')"


def rank(result_sql: str) -> str:
    """The result's place in `domain.scans.RANK` (1-based), in SQL."""
    return f"array_position(ARRAY[{', '.join(repr(status) for status in RANK)}]::text[], {result_sql})"


@dataclass(frozen=True)
class ScanTarget:
    """The upload an object key belongs to, locked: its recorded version (None while pending),
    its student (whose kept files a result may free), and what an audit event names (the exam,
    the student's pseudonym)."""

    upload_id: UUID
    object_key: str
    recorded_version: str | None
    student_id: int
    exam_pk: int
    pseudonym: str


def lock_uploads_by_key(conn: Connection, object_keys: list[str]) -> dict[str, ScanTarget]:
    """The uploads behind a batch's results, locked in the recorder's order (student, then form):
    two batches never wait for each other in a circle. A recording that committed while this
    waited is seen (the lock reads the row as committed), and `apply`'s own statement, run after,
    sees its submission."""
    with conn.cursor(row_factory=rows_of(ScanTarget)) as cur:
        rows = cur.execute(
            """SELECT u.id AS upload_id, u.object_key, u.version_id AS recorded_version, s.id AS student_id,
                      s.exam_id AS exam_pk, s.pseudonym
               FROM upload u JOIN student s ON s.id = u.student_id
               WHERE u.object_key = ANY(%s)
               ORDER BY s.id, u.issue_seq
               FOR UPDATE OF u""",
            (object_keys,),
        ).fetchall()
    return {row.object_key: row for row in rows}


@dataclass(frozen=True)
class Applied:
    """A submission whose scan state a result changed."""

    submission_id: int
    scan: ScanState
    scan_detail: str | None
    verification_code: str


_APPLY = f"""WITH applied AS (
    INSERT INTO object_scan AS o (upload_id, version_id, result, scanned_at, event_id, status_reasons, threats, scanner)
    VALUES (%(upload)s, %(version)s, %(status)s, %(at)s, %(event)s, %(reasons)s, %(threats)s, %(scanner)s)
    ON CONFLICT (upload_id, version_id) DO UPDATE SET result = EXCLUDED.result, scanned_at = EXCLUDED.scanned_at,
        event_id = EXCLUDED.event_id, status_reasons = EXCLUDED.status_reasons, threats = EXCLUDED.threats,
        scanner = EXCLUDED.scanner, recorded_at = now()
    WHERE (EXCLUDED.result = 'THREATS_FOUND', EXCLUDED.scanned_at, {rank("EXCLUDED.result")}, EXCLUDED.event_id)
        > (o.result = 'THREATS_FOUND', o.scanned_at, {rank("o.result")}, o.event_id)
    RETURNING result, threats, status_reasons)
UPDATE submission x SET scan = {state_of("a.result")},
    scan_detail = {detail_of("a")}
FROM applied a WHERE x.upload_id = %(upload)s AND %(version)s = %(recorded_version)s
  AND x.scan IS DISTINCT FROM {state_of("a.result")}
RETURNING x.id AS submission_id, x.scan, x.scan_detail, x.verification_code"""


def apply(conn: Connection, target: ScanTarget, result: ScanResult) -> Applied | None:
    """Keep `result` if it supersedes the version's stored one (`domain.scans.precedence`, in
    SQL), and give the recorded submission its state. None: an older or the same result, a
    version not recorded (yet: the recorder takes the result up), or no change of state."""
    with conn.cursor(row_factory=rows_of(Applied)) as cur:
        return cur.execute(
            _APPLY,
            {
                "upload": target.upload_id,
                "version": result.version_id,
                "status": result.status,
                "at": result.scanned_at,
                "event": result.event_id,
                "reasons": list(result.reasons),
                "threats": list(result.threats),
                "scanner": result.scanner,
                "recorded_version": target.recorded_version,
            },
        ).fetchone()


@dataclass(frozen=True)
class ReleaseTarget:
    submission_id: int
    scan: ScanState | None
    scan_detail: str | None
    scan_released_at: datetime | None
    pseudonym: str
    recorded_at: datetime  # how long its scan has been going on, while `scanning`


def lock_submission(conn: Connection, exam_pk: int, upload_id: UUID) -> ReleaseTarget | None:
    """The exam's submission of this upload, locked: two releases of it queue here."""
    with conn.cursor(row_factory=rows_of(ReleaseTarget)) as cur:
        return cur.execute(
            """SELECT x.id AS submission_id, x.scan, x.scan_detail, x.scan_released_at, s.pseudonym, x.recorded_at
               FROM submission x JOIN student s ON s.id = x.student_id
               WHERE s.exam_id = %s AND x.upload_id = %s
               FOR UPDATE OF x""",
            (exam_pk, upload_id),
        ).fetchone()


def release(conn: Connection, submission_id: int, member_id: UUID) -> None:
    """Mark the submission released by the member (an examiner's public id, as `ExamRow` has it)."""
    conn.execute(
        """UPDATE submission SET scan_released_at = now(),
               scan_released_by = (SELECT id FROM examiner WHERE public_id = %s)
           WHERE id = %s""",
        (member_id, submission_id),
    )


def submission_json(conn: Connection, submission_id: int) -> SubmissionJson:
    row = conn.execute(
        f"SELECT {SUBMISSION_JSON.format(t='x')} AS item FROM submission x WHERE x.id = %s", (submission_id,)
    ).fetchone()
    assert row is not None  # locked by the caller
    item: SubmissionJson = row["item"]
    return item


@dataclass(frozen=True)
class OverdueScan:
    upload_id: UUID
    object_key: str
    version_id: str


def overdue(conn: Connection, *, recorded_before: datetime, limit: int) -> list[OverdueScan]:
    """Submissions still `scanning` though recorded before `recorded_before`, oldest first: their
    result was lost or is late (the reconcile job reads the object's tag)."""
    with conn.cursor(row_factory=rows_of(OverdueScan)) as cur:
        return cur.execute(
            """SELECT u.id AS upload_id, u.object_key, u.version_id
               FROM submission x JOIN upload u ON u.id = x.upload_id
               WHERE x.scan = 'scanning' AND x.recorded_at < %s
               ORDER BY x.recorded_at LIMIT %s""",
            (recorded_before, limit),
        ).fetchall()
