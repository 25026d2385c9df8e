"""An exam with what its roster shows at a glance (its students, who handed in, its scans): what
the exam routes answer. Apart from `exams` so that the roster's functions, which act on an exam
and never answer one, do not define its row type or build its statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from exam_depository.adapters.db.exams import EXAM_COLUMNS, MINE, ExamRow, allowed
from exam_depository.adapters.db.submissions import LATEST
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.access import Action
from exam_depository.domain.statuses import EmailState

# The students' mail states an exam counts, in the order its answer lists them.
EMAIL_STATES: tuple[EmailState, ...] = get_args(EmailState)

# The counts in one pass over the exam's students (each one index lookup of its latest), and
# when the first of its current files is deleted; of its current files, those whose malware scan
# has not ended well (a file not scanned, `scan` null, is in none).
_COUNTS = f"""LEFT JOIN LATERAL (
    SELECT count(*) AS students, count(latest.id) AS handed_in, count(latest.id) FILTER (WHERE latest.late) AS late,
           min(latest.expires_at) FILTER (WHERE latest.status = 'current') AS first_expiry,
           count(s.started_at) AS started,
           count(*) FILTER (WHERE latest.status = 'current' AND latest.scan = 'scanning') AS scans_scanning,
           count(*) FILTER (WHERE latest.status = 'current' AND latest.scan = 'threat') AS scans_threat,
           count(*) FILTER (WHERE latest.status = 'current' AND latest.scan = 'unsupported') AS scans_unsupported,
           count(*) FILTER (WHERE latest.status = 'current' AND latest.scan = 'failed') AS scans_failed,
           {", ".join(f"count(*) FILTER (WHERE s.email_state = '{state}') AS email_{state}" for state in EMAIL_STATES)}
    FROM student s {LATEST} WHERE s.exam_id = e.id) counts ON true"""


@dataclass(frozen=True)
class CountedExamRow(ExamRow):
    """An exam with what its roster shows at a glance (what the exam routes answer)."""

    students: int
    handed_in: int
    late: int
    first_expiry: datetime | None  # the earliest `expires_at` of its current files
    started: int  # students who started their clock (a timed exam)
    scans_scanning: int  # current files still being scanned for malware
    scans_threat: int
    scans_unsupported: int
    scans_failed: int
    email_queued: int  # students by the state of their latest email (`EMAIL_STATES`)
    email_sent: int
    email_delivered: int
    email_bounced: int
    email_complained: int
    email_failed: int

    def email_counts(self) -> dict[str, int]:
        return {state: getattr(self, f"email_{state}") for state in EMAIL_STATES}


def exam_page(conn: Connection, api_key_id: str, after_id: int, limit: int) -> list[CountedExamRow]:
    """One statement per page, counts included."""
    with conn.cursor(row_factory=rows_of(CountedExamRow)) as cur:
        return cur.execute(
            f"""SELECT {EXAM_COLUMNS}, counts.* FROM exam e {MINE} {_COUNTS}
                WHERE m.exam_id > %(after)s ORDER BY m.exam_id LIMIT %(limit)s""",
            {"key": api_key_id, "after": after_id, "limit": limit},
        ).fetchall()


def counted_exam_of(conn: Connection, api_key_id: str, exam_id: str, *, action: Action) -> CountedExamRow:
    """One of the caller's exams with its counts; NotFound and RoleForbids as `exam_of`."""
    with conn.cursor(row_factory=rows_of(CountedExamRow)) as cur:
        row = cur.execute(
            f"SELECT {EXAM_COLUMNS}, counts.* FROM exam e {MINE} {_COUNTS} WHERE m.slug = %(slug)s",
            {"key": api_key_id, "slug": exam_id},
        ).fetchone()
    return allowed(row, action)
