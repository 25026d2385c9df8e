"""Reading an exam's audit log (owners and co-examiners): a page of it, newest first, filtered
by student or action, or the whole chain as CSV, oldest first, as the verifier reads it
(docs/AUDIT.md). Nothing here signs: checkpoints are `usecases.checkpoints`'."""

from __future__ import annotations

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams  # noqa: F401
from exam_depository.adapters import db
from exam_depository.domain import cursors
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.audit import AuditAction
from exam_depository.domain.audit_log import TOO_LARGE_TO_ANSWER, AuditItem, csv_chunks
from exam_depository.domain.characters import unstorable
from exam_depository.domain.errors import InvalidQuery, PayloadTooLarge

MAX_PAGE = 500
# Past this a log's CSV cannot fit one answer (Lambda's 6 MiB) even gzipped (its hashes do not
# compress: about 3 to 1 at best, then base64): refused before it is all read.
MAX_CSV_BYTES = 24 * 1024 * 1024


def audit_page(
    caller: Caller, exam_id: str, limit: int, cursor: str | None, *, nickname: str | None, action: AuditAction | None
) -> cursors.Page[AuditItem]:
    """A page of the log, newest first: the events about a student (`nickname`, or a pseudonym),
    of an action, where given. A cursor serves only the filters it came with. Two statements."""
    if nickname is not None and unstorable(nickname):  # no student is named so; PostgreSQL takes no NUL
        raise InvalidQuery("nickname must not contain control characters.")
    scope = cursors.scope_of({"nickname": nickname, "action": None if action is None else str(action)})
    before_seq = cursors.after(cursor, limit, MAX_PAGE, scope) or None
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.AUDIT_READ)
        rows = db.audit.page(
            conn, exam.exam_pk, before_seq=before_seq, limit=limit + 1, subject=nickname, action=action
        )
    return cursors.page_of(rows, limit, lambda row: row.seq, scope)


def audit_download(caller: Caller, exam_id: str, *, filtered: bool) -> tuple[str, bytes]:
    """The whole chain as CSV, oldest first (`domain.audit_log.csv_chunks`): (the exam's id, the
    bytes). Filters are refused, so that a download is never taken for the whole log when it is
    not (the verifier needs every event)."""
    if filtered:
        raise InvalidQuery("The CSV download is the whole log: ask for it without nickname or action.")
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.AUDIT_READ)
        head = db.audit.head(conn, exam.exam_pk)
        chunks: list[bytes] = []
        read = 0
        for chunk in csv_chunks(db.audit.stream(conn, exam.exam_pk, head.seq)):
            read += len(chunk)
            if read > MAX_CSV_BYTES:
                raise PayloadTooLarge(TOO_LARGE_TO_ANSWER)
            chunks.append(chunk)
    return exam.exam_id, b"".join(chunks)
