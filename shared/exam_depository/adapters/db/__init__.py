"""PostgreSQL. `transactions` holds the one connection of this execution environment and its units
of work; each other module holds the statements of one aggregate, each beside the row type it fills
and the docstring that explains its locking: `exams` (examiners and exams), `exam_counts` (an exam
with its counts, as the exam routes answer it), `attempts` (the attempts its students used),
`exam_deletion` (what an exam's deletion locks, counts and deletes), `ownership` (an ownerless exam
given an owner, a rotated key), `members` (an exam's members and invitations), `students` (rosters),
`student_pages` (a roster's page), `student_details` (a student with their files), `student_mail` (a
send-codes' students, an address changed), `student_deletion` (a student's), `extensions` (a
student's extension and extra time), `forms` (a student's upload forms), `uploads` (the submissions
recorded from them), `verifications` (what a verification code stands for), `receipts`, `exports`,
`papers` (an exam's question paper), `audit` (each exam's hash chain of events), `scans` (the
malware scans' results and the state they give a submission), `messages` (the mail ledger: each
message to a student and what SES said of it), `suppressions` (the addresses not to mail again),
`sending` (the sender's claim, pace and sweep on that ledger), `lti` (LTI 1.3's rows: roster entries
from a course, the scores the recorder queues for the gradebook), `lti_sync` (the exam's links to
courses and their syncs), `lti_scores` (the worker's claim and settling of those scores),
`lti_launch` (the login's and launch's statements), `lti_admin` (registrations, offers, deep links);
`submissions` holds a submission as the others' statements inline it, and `windows` a student's
personal window as they compute it (the rule of `domain.rules`, in SQL). `schema` applies the
migrations (imported only by what migrates: yoyo is heavy).

Driver errors leave this package only as domain errors (`Conflict`), `ServiceUnavailable`, or
`students.PseudonymTaken` (a random draw that its caller makes again).

An exam has two names in Python, one per meaning: `exam_id` is its public id, the one the API
calls exam_id (the column `exam.slug`); `exam_pk` is its integer key (the column `exam.id`, and
`exam_id` in `student` and `export`: SQL names stay, a statement aliases them for its row type).

A use case reads: `with db.transaction() as conn: row = db.exams.exam_of(conn, ...)` (a hot path
whose unit of work is one statement: `with db.statement() as conn:`, without BEGIN and COMMIT),
and imports at its top the aggregates it names (`import exam_depository.adapters.db.exams`), so
that they load at init: this package loads an aggregate's module only when it is imported or
first named (a row type is a frozen dataclass, about 0.4 ms to define; a student's function
needs `forms` alone).
"""

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from exam_depository.adapters.db.transactions import (
    Connection,
    Row,
    connection,
    database_url,
    reset,
    rows_of,
    statement,
    transaction,
)

if TYPE_CHECKING:
    from exam_depository.adapters.db import (
        attempts,
        audit,
        exam_counts,
        exam_deletion,
        exams,
        exports,
        extensions,
        forms,
        lti,
        lti_admin,
        lti_launch,
        lti_scores,
        lti_sync,
        members,
        messages,
        ownership,
        papers,
        receipts,
        scans,
        sending,
        student_deletion,
        student_details,
        student_mail,
        student_pages,
        students,
        suppressions,
        uploads,
        verifications,
    )

_AGGREGATES = frozenset(
    {
        "attempts",
        "audit",
        "exam_counts",
        "exam_deletion",
        "exams",
        "exports",
        "extensions",
        "forms",
        "lti",
        "lti_admin",
        "lti_launch",
        "lti_scores",
        "lti_sync",
        "members",
        "ownership",
        "papers",
        "receipts",
        "scans",
        "student_deletion",
        "student_details",
        "student_mail",
        "student_pages",
        "messages",
        "sending",
        "students",
        "suppressions",
        "uploads",
        "verifications",
    }
)


def __getattr__(name: str) -> ModuleType:
    # Called only until the module is loaded: importing it makes it an attribute of this package.
    if name in _AGGREGATES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Connection",
    "Row",
    "attempts",
    "audit",
    "connection",
    "database_url",
    "exam_counts",
    "exam_deletion",
    "exams",
    "exports",
    "extensions",
    "forms",
    "lti",
    "lti_admin",
    "lti_launch",
    "lti_scores",
    "lti_sync",
    "members",
    "messages",
    "ownership",
    "papers",
    "receipts",
    "reset",
    "rows_of",
    "scans",
    "sending",
    "statement",
    "student_deletion",
    "student_details",
    "student_mail",
    "student_pages",
    "students",
    "suppressions",
    "transaction",
    "uploads",
    "verifications",
]
