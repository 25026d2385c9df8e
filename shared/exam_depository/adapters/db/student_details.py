"""A student with every file they handed in and their latest messages: what the function that
shows a student answers. Apart from `students` so that the roster's other functions do not define
its row type (its app.py imports this module at init); the messages' SQL is here rather than in
`messages`, so that showing a student does not load the mail ledger and its rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from exam_depository.adapters.db.students import SUMMARY_COLUMNS, StudentSummaryRow
from exam_depository.adapters.db.submissions import LATEST, SUBMISSION_JSON, SubmissionJson
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.statuses import MessageKind, MessageState


class MessageJson(TypedDict):
    """One message, as a student's view lists it (`history_json`; the instants as JSON text)."""

    kind: MessageKind
    state: MessageState
    queued_at: str
    sent_at: str | None
    event_at: str | None
    detail: str | None


# How many of a student's messages their view lists.
HISTORY_LENGTH = 20


def history_json(student_id: str) -> str:
    """The SQL of a student's newest messages (the student's id `student_id`, an expression), as a
    JSON array of `MessageJson`, newest first: for the statement that reads the student's view."""
    fields = ", ".join(f"'{name}', m.{name}" for name in MessageJson.__annotations__)
    return f"""COALESCE((SELECT jsonb_agg(jsonb_build_object({fields}) ORDER BY m.queued_at DESC, m.id)
              FROM (SELECT * FROM message WHERE student_id = {student_id}
                    ORDER BY queued_at DESC, id LIMIT {HISTORY_LENGTH}) m), '[]'::jsonb)"""


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
