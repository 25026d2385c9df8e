"""What examiners do with exams, each scoped to the API key that calls: another examiner's exam
does not exist for them (404, never 403). And the two ops commands on owners."""

from __future__ import annotations

from exam_depository import cursors, db, storage
from exam_depository.config import ExportSettings, StorageSettings, load
from exam_depository.errors import Conflict, InvalidInput, NotFound
from exam_depository.filenames import upload_folder
from exam_depository.models import Exam, ExamChange, ExamCounts, ExamIn, ExamPage

MAX_PAGE = 100
NO_EXAM = "You have no exam with this id."


def create_exam(api_key_id: str, new: ExamIn) -> Exam:
    with db.transaction() as conn:
        examiner_id = db.examiner_for_key(conn, api_key_id)
        db.insert_exam(conn, examiner_id, new.model_dump())
        row = db.counted_exam_of(conn, api_key_id, new.exam_id)
    assert row is not None  # just inserted, in this transaction
    return exam_view(row)


def list_exams(api_key_id: str, limit: int, cursor: str | None) -> ExamPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    after_id = cursors.decode(cursor) if cursor else 0
    with db.transaction() as conn:
        rows = db.exam_page(conn, api_key_id, after_id, limit + 1)
    next_cursor = cursors.encode(rows[limit - 1].id) if len(rows) > limit else None
    return ExamPage(items=[exam_view(row) for row in rows[:limit]], next_cursor=next_cursor)


def get_exam(api_key_id: str, slug: str) -> Exam:
    with db.transaction() as conn:
        return exam_view(counted_exam_row(conn, api_key_id, slug))


def update_exam(api_key_id: str, slug: str, change: ExamChange) -> Exam:
    """Change what is given; a new window takes effect for forms issued from now on."""
    changes = change.model_dump(exclude_unset=True)
    with db.transaction() as conn:
        row = exam_row(conn, api_key_id, slug, lock=True)
        window = {"opens_at": row.opens_at, "due_at": row.due_at, "cutoff_at": row.cutoff_at} | {
            name: value for name, value in changes.items() if name.endswith("_at")
        }
        if not window["opens_at"] <= window["due_at"] <= window["cutoff_at"]:
            raise InvalidInput("The window must be in order: opens_at <= due_at <= cutoff_at.", extra=window)
        if "max_attempts" in changes:
            over = db.students_over_attempts(conn, row.id, changes["max_attempts"])
            if over:
                raise Conflict(
                    f"{over} student(s) already used more than {changes['max_attempts']} attempts; "
                    "the limit cannot go below what a student used.",
                    extra={"students": over},
                )
        if changes:
            db.update_exam(conn, row.id, changes)
        updated = counted_exam_row(conn, api_key_id, slug)
    return exam_view(updated)


def delete_exam(api_key_id: str, slug: str) -> None:
    """Remove the exam's files, its exports' ZIPs and its rows together: if S3 fails, the rows
    stay and a retry finishes the job. Its students' row locks keep the recorder out meanwhile,
    its exports' row locks a builder that is completing a ZIP (which then finds its export gone
    and aborts). Every version goes, so a link to an export handed out earlier fails (404)."""
    prefix = load(StorageSettings).prefix
    with db.transaction() as conn:
        row = exam_row(conn, api_key_id, slug, lock=True)
        keys = db.lock_exam_students(conn, row.id)
        db.lock_exam_exports(conn, row.id)
        exam_prefix = f"{prefix}{row.id}/"
        exports_prefix = f"{load(ExportSettings).prefix}{row.id}/"
        # Keys made before exams (the legacy exam's) are not under the exam's prefix: their own folders.
        folders = sorted({upload_folder(key) for key in keys if not key.startswith(exam_prefix)})
        storage.delete_everything_under([exam_prefix, exports_prefix, *folders])
        db.delete_exam(conn, row.id)


def exam_row(conn: db.Connection, api_key_id: str, slug: str, *, lock: bool = False) -> db.ExamRow:
    row = db.exam_of(conn, api_key_id, slug, lock=lock)
    if row is None:
        raise NotFound(NO_EXAM)
    return row


def counted_exam_row(conn: db.Connection, api_key_id: str, slug: str) -> db.CountedExamRow:
    row = db.counted_exam_of(conn, api_key_id, slug)
    if row is None:
        raise NotFound(NO_EXAM)
    return row


def exam_view(row: db.CountedExamRow) -> Exam:
    return Exam(
        exam_id=row.slug,
        title=row.title,
        opens_at=row.opens_at,
        due_at=row.due_at,
        cutoff_at=row.cutoff_at,
        timezone=row.timezone,
        max_attempts=row.max_attempts,
        anonymous=row.anonymous,
        created_at=row.created_at,
        counts=ExamCounts(
            students=row.students, handed_in=row.handed_in, late=row.late, none_yet=row.students - row.handed_in
        ),
    )


# --- ops: owners ------------------------------------------------------------------------------


def assign_exam(slug: str, api_key_id: str) -> int:
    """Give an exam that belongs to no one (the legacy exam of an upgrade) to the examiner of an
    API key (a key never used yet becomes a new examiner); returns how many exams moved."""
    with db.transaction() as conn:
        moved = db.assign_exam(conn, slug, db.examiner_for_key(conn, api_key_id))
    if not moved:
        raise NotFound(f"No unowned exam has the id {slug}.")
    return moved


def link_key(new_api_key_id: str, existing_api_key_id: str) -> None:
    """A rotated key: the new key's examiner is the old key's, so their exams stay theirs."""
    with db.transaction() as conn:
        examiner_id = db.known_examiner(conn, existing_api_key_id)
        if examiner_id is None:
            raise NotFound("The existing key belongs to no examiner yet: it never created an exam.")
        db.link_key(conn, new_api_key_id, examiner_id)
