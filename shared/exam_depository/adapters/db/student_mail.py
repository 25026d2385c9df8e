"""The statements of a student's mail that the roster's other functions need not define: the
students a send-codes is about, and a change of a student's address (`usecases.mail`'s, in the
function that sends codes)."""

from __future__ import annotations

from dataclasses import dataclass

from exam_depository.adapters.db.students import STUDENT_COLUMNS, StudentRow, address_of
from exam_depository.adapters.db.transactions import Connection, rows_of


@dataclass(frozen=True)
class MailTarget:
    id: int
    nickname: str
    pseudonym: str


def mail_targets(conn: Connection, exam_pk: int, nicknames: list[str] | None) -> list[MailTarget]:
    """The exam's students (those with these nicknames, if given) whom a send-codes is about."""
    with conn.cursor(row_factory=rows_of(MailTarget)) as cur:
        return cur.execute(
            """SELECT id, nickname, pseudonym FROM student
                WHERE exam_id = %(exam_pk)s AND (%(every)s OR lower(nickname) = ANY(%(nicknames)s)) ORDER BY id""",
            {"exam_pk": exam_pk, "every": nicknames is None, "nicknames": [n.lower() for n in nicknames or []]},
        ).fetchall()


@dataclass(frozen=True)
class EmailChanged:
    student: StudentRow
    before: str | None  # the address as mail went to it before (normalized)
    changed: bool  # False: the same address (normalized) was given again, and nothing changed


def change_email(conn: Connection, exam_pk: int, nickname: str, email: str | None) -> EmailChanged | None:
    """Give the student of the exam (by nickname) this address (None: none), as written and as
    mail goes to it, under the student's row lock. The same address given again (once normalized)
    changes nothing. Another one: what their messages said of the old one no longer shows (their
    state is reset); their messages and the invitations counted stay, so the limits per student
    hold across changes. None when the exam has no such student."""
    address = address_of(email)
    found = conn.execute(
        f"""SELECT {STUDENT_COLUMNS}, s.email_address AS before FROM student s
             WHERE s.id = (SELECT id FROM student WHERE exam_id = %s AND lower(nickname) = lower(%s) FOR UPDATE)""",
        (exam_pk, nickname),
    ).fetchone()
    if found is None:
        return None
    before = found.pop("before")
    if before == address and (email is None) == (found["email"] is None):
        return EmailChanged(StudentRow(**found), before, changed=False)
    with conn.cursor(row_factory=rows_of(StudentRow)) as cur:
        changed = cur.execute(
            f"""UPDATE student AS s
                   SET email = %s, email_address = %s, email_state = NULL, email_state_at = NULL, last_message_id = NULL
                 WHERE s.id = %s
             RETURNING {STUDENT_COLUMNS}""",
            (email, address, found["id"]),
        ).fetchone()
    assert changed is not None  # locked above
    return EmailChanged(changed, before, changed=True)
