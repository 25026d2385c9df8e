"""What ops do (make assign-exam, make link-key, make migrate-remote), never a route: who owns
which exam, and the schema."""

from __future__ import annotations

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.exams  # noqa: F401
from exam_depository.adapters import db
from exam_depository.domain.errors import NotFound


def assign_exam(exam_id: str, api_key_id: str) -> int:
    """Give an exam that belongs to no one (the legacy exam of an upgrade) to the examiner of an
    API key (a key never used yet becomes a new examiner); returns how many exams moved."""
    with db.transaction() as conn:
        moved = db.exams.assign_exam(conn, exam_id, db.exams.examiner_for_key(conn, api_key_id))
    if not moved:
        raise NotFound(f"No unowned exam has the id {exam_id}.")
    return moved


def link_key(new_api_key_id: str, existing_api_key_id: str) -> None:
    """A rotated key: the new key's examiner is the old key's, so their exams stay theirs."""
    with db.transaction() as conn:
        examiner_id = db.exams.known_examiner(conn, existing_api_key_id)
        if examiner_id is None:
            raise NotFound("The existing key belongs to no examiner yet: it never created an exam.")
        db.exams.link_key(conn, new_api_key_id, examiner_id)


def migrate() -> list[str]:
    """Apply every pending migration (after a deploy); returns the ids applied."""
    from exam_depository.adapters.db import schema  # yoyo: loaded by the migration function only

    return schema.migrate(db.database_url())
