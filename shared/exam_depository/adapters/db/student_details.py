"""A student with every file they handed in: what the function that shows a student answers.
Apart from `students` so that the roster's other functions do not define its row type (its app.py
imports this module at init)."""

from __future__ import annotations

from dataclasses import dataclass

from exam_depository.adapters.db.messages import MessageJson, history_json
from exam_depository.adapters.db.students import SUMMARY_COLUMNS, StudentSummaryRow
from exam_depository.adapters.db.submissions import LATEST, SUBMISSION_JSON, SubmissionJson
from exam_depository.adapters.db.transactions import Connection, rows_of


@dataclass(frozen=True)
class StudentDetailRow(StudentSummaryRow):
    """A student with every submission they handed in, in the order of their forms."""

    submissions: list[SubmissionJson]
    messages: list[MessageJson]  # the newest first


def student_detail(
    conn: Connection, exam_pk: int, nickname: str, *, by_pseudonym: bool = False
) -> StudentDetailRow | None:
    """The student of the exam with this nickname, or with this pseudonym (exactly as stored)."""
    found_by = "s.pseudonym = %s" if by_pseudonym else "lower(s.nickname) = lower(%s)"
    with conn.cursor(row_factory=rows_of(StudentDetailRow)) as cur:
        return cur.execute(
            f"""SELECT {SUMMARY_COLUMNS},
                  COALESCE((SELECT jsonb_agg({SUBMISSION_JSON.format(t="a")} ORDER BY a.issue_seq)
                            FROM submission a WHERE a.student_id = s.id), '[]'::jsonb) AS submissions,
                  {history_json("s.id")} AS messages
                FROM student s {LATEST} WHERE s.exam_id = %s AND {found_by}""",
            (exam_pk, nickname),
        ).fetchone()
