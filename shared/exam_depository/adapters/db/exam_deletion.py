"""An exam's deletion: its students and exports locked, what it holds counted, its rows deleted.
Apart from `exams` (which every exam and member route loads) so that only the functions that
delete an exam define its row type."""

from __future__ import annotations

from dataclasses import dataclass

from exam_depository.adapters.db.transactions import Connection, rows_of


def lock_exam_students(conn: Connection, exam_pk: int) -> list[str]:
    """Lock the exam's students (the recorder waits) and list every object key they ever had."""
    rows = conn.execute(
        """WITH locked AS (SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR UPDATE)
           SELECT u.object_key FROM upload u JOIN locked l ON l.id = u.student_id""",
        (exam_pk,),
    ).fetchall()
    return [row["object_key"] for row in rows]


def lock_exam_exports(conn: Connection, exam_pk: int) -> None:
    """Lock the exam's exports: a builder completing one holds its row (`lock_running_export`),
    so that a ZIP is either complete before the exam's files are listed, or never completed."""
    conn.execute("SELECT id FROM export WHERE exam_id = %s ORDER BY id FOR UPDATE", (exam_pk,))


@dataclass(frozen=True)
class DeletionCounts:
    """What an exam's deletion takes with it, for the record that outlives it."""

    students: int
    files: int  # recorded submissions, every attempt
    exports: int
    papers: int  # question papers recorded (current or replaced)


def deletion_counts(conn: Connection, exam_pk: int) -> DeletionCounts:
    """Count what the exam holds; run after its students and exports are locked, before its rows go."""
    with conn.cursor(row_factory=rows_of(DeletionCounts)) as cur:
        row = cur.execute(
            """SELECT (SELECT count(*) FROM student WHERE exam_id = %(exam)s) AS students,
                      (SELECT count(*) FROM submission x JOIN student s ON s.id = x.student_id
                       WHERE s.exam_id = %(exam)s) AS files,
                      (SELECT count(*) FROM export WHERE exam_id = %(exam)s) AS exports,
                      (SELECT count(*) FROM question_paper
                       WHERE exam_id = %(exam)s AND status IN ('current', 'superseded')) AS papers""",
            {"exam": exam_pk},
        ).fetchone()
    assert row is not None  # scalar subqueries return one row
    return row


def delete_exam(conn: Connection, exam_pk: int) -> None:
    conn.execute("DELETE FROM exam WHERE id = %s", (exam_pk,))
