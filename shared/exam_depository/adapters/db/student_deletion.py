"""A student's deletion: the student locked with every object key they ever had, then their row
deleted. Apart from `students` so that only the function that deletes a student defines its row
type (its app.py imports this module at init)."""

from __future__ import annotations

from dataclasses import dataclass

from exam_depository.adapters.db.transactions import Connection, rows_of


@dataclass(frozen=True)
class StudentKeys:
    """A student about to be deleted: their files recorded, and every object key they ever had."""

    id: int
    pseudonym: str
    submissions: int  # the files recorded for the student, every attempt
    keys: list[str]


def lock_student_for_deletion(conn: Connection, exam_pk: int, nickname: str) -> StudentKeys | None:
    """Lock the student (the recorder waits) and list every object key it ever had: every
    version of each goes, those already gone cost a listing, and one whose delete failed earlier
    goes now."""
    with conn.cursor(row_factory=rows_of(StudentKeys)) as cur:
        return cur.execute(
            """SELECT s.id, s.pseudonym, (SELECT count(*) FROM submission x WHERE x.student_id = s.id) AS submissions,
                      COALESCE(array_agg(u.object_key) FILTER (WHERE u.id IS NOT NULL), '{}') AS keys
               FROM student s
               LEFT JOIN upload u ON u.student_id = s.id
               WHERE s.id = (SELECT id FROM student WHERE exam_id = %s AND lower(nickname) = lower(%s) FOR UPDATE)
               GROUP BY s.id""",
            (exam_pk, nickname),
        ).fetchone()


def delete_student(conn: Connection, student_id: int) -> None:
    conn.execute("DELETE FROM student WHERE id = %s", (student_id,))
