"""An exam without owner given to an examiner, and an examiner's new API key (the operator's
tasks). Apart from `exams` (which every exam and member route loads) so that only the operator's
function defines their row type."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg import errors as pg_errors

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.errors import Conflict


@dataclass(frozen=True)
class AssignedRow:
    """An exam given an owner, and the owner's public id."""

    exam_pk: int
    member_id: UUID  # the owner's


def assign_exam(conn: Connection, exam_id: str, examiner_id: int) -> list[AssignedRow]:
    """Give an exam that belongs to no one (the legacy one) to an examiner, who becomes its owner
    (the database's trigger makes them a member); returns the exams moved."""
    try:
        with conn.cursor(row_factory=rows_of(AssignedRow)) as cur:
            return cur.execute(
                """UPDATE exam e SET examiner_id = x.id FROM examiner x
                   WHERE x.id = %s AND e.slug = %s AND e.examiner_id IS NULL
                   RETURNING e.id AS exam_pk, x.public_id AS member_id""",
                (examiner_id, exam_id),
            ).fetchall()
    except pg_errors.UniqueViolation as exc:
        raise Conflict(f"That examiner already has an exam with the id {exam_id}.") from exc


def link_key(conn: Connection, new_key_id: str, examiner_id: int) -> None:
    try:
        conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (new_key_id, examiner_id))
    except pg_errors.UniqueViolation as exc:
        raise Conflict("That API key already belongs to an examiner.") from exc


def known_examiner(conn: Connection, api_key_id: str) -> int | None:
    found = conn.execute("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (api_key_id,)).fetchone()
    return None if found is None else int(found["examiner_id"])
