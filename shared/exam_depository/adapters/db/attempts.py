"""The attempts an exam's students used: what a change of the exam's limit or of an extension is
checked against. Apart from `exams` (which every exam and member route loads) so that only the
functions that change a limit define its row type."""

from __future__ import annotations

from dataclasses import dataclass

from exam_depository.adapters.db.transactions import Connection, rows_of


@dataclass(frozen=True)
class StudentAttempts:
    """A student's attempts used, and the extra attempts of their extension."""

    nickname: str
    attempts_used: int
    extra_attempts: int


def attempts_used(conn: Connection, exam_pk: int, nicknames: list[str] | None = None) -> list[StudentAttempts]:
    """What each student of the exam (or those of `nicknames`) who handed in anything used,
    with the extra attempts of their extension."""
    with conn.cursor(row_factory=rows_of(StudentAttempts)) as cur:
        return cur.execute(
            """SELECT s.nickname, count(*) AS attempts_used, s.extra_attempts
               FROM student s JOIN submission x ON x.student_id = s.id
               WHERE s.exam_id = %(exam)s AND (%(all)s OR lower(s.nickname) = ANY(%(nicknames)s))
               GROUP BY s.id ORDER BY s.id""",
            {"exam": exam_pk, "all": nicknames is None, "nicknames": [n.lower() for n in nicknames or []]},
        ).fetchall()
