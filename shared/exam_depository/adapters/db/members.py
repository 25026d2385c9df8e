"""An exam's members and invitations: their statements, and the rows they fill.

A member is an examiner (never a key id: `exams.examiner_for_key` maps keys to examiners) with a
role; `examiner.public_id` is the id others see (`member_id`). The statements that change the
membership run after the exam's row is locked (`exams.exam_of(lock=True)`), so that the rules of
`domain.access` read a membership no one else is changing; the database's trigger
`exam_keeps_an_owner` is the backstop of the one that matters most. Redeeming an invitation
takes only the lock on the exam that the new member's foreign key takes anyway (KEY SHARE): it
turns one open invitation into one member, which changes none of the counts those rules read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg.sql
from psycopg import errors as pg_errors

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.access import Redemption, Role, invitation_refusal
from exam_depository.domain.errors import Conflict


@dataclass(frozen=True)
class MemberRow:
    """A member of an exam: their examiner, public id, role and label."""

    examiner_id: int
    member_id: UUID
    role: Role
    label: str | None
    joined_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True)
class InvitationRow:
    """An invitation not yet redeemed (its code is stored only as its SHA-256)."""

    invitation_pk: int
    role: Role
    label: str | None
    created_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True)
class RedeemedRow:
    """The membership a redeemed invitation made."""

    exam_pk: int
    exam_id: str
    invitation_pk: int
    role: Role
    label: str | None
    joined_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


_MEMBER_COLUMNS = "m.examiner_id, x.public_id AS member_id, m.role, m.label, m.joined_at"
_INVITATION_COLUMNS = "i.id AS invitation_pk, i.role, i.label, i.created_at, i.expires_at"


def insert_invitation(
    conn: Connection, exam_pk: int, code_sha256: str, *, role: Role, label: str | None, invited_by: int, ttl_hours: int
) -> InvitationRow:
    """An invitation that expires `ttl_hours` from now by the database's clock (the clock that
    `redeem` compares it with)."""
    with conn.cursor(row_factory=rows_of(InvitationRow)) as cur:
        row = cur.execute(
            f"""INSERT INTO invitation AS i (exam_id, code_sha256, role, label, invited_by, expires_at)
                VALUES (%(exam)s, %(code)s, %(role)s, %(label)s, %(by)s, now() + make_interval(hours => %(ttl)s))
                RETURNING {_INVITATION_COLUMNS}""",
            {
                "exam": exam_pk,
                "code": code_sha256,
                "role": role.value,
                "label": label,
                "by": invited_by,
                "ttl": ttl_hours,
            },
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING returns its row
    return row


# Which of exam_member's unique indexes a redemption ran into, and what that means to the caller.
_COLLISIONS = {
    "exam_member_pkey": Redemption.ALREADY_MEMBER,
    "exam_member_slug_per_examiner": Redemption.EXAM_ID_HELD,
}


def redeem(conn: Connection, code_sha256: str, examiner_id: int) -> RedeemedRow | None:
    """Use an open invitation and make its redeemer a member, in one statement: None when no open
    invitation has this code (`invitation_state` says why). A redeemer who is a member already, or
    holds another exam with this exam's id, is refused (Conflict) and the whole statement rolls
    back: the invitation stays open for the one it was meant for.

    The exam's row is locked (KEY SHARE, as the new member's foreign key would) before the
    invitation's: in the order of every change of the exam (`exams.exam_of(lock=True)` first), so
    that a deletion of the exam in progress is waited for (its invitations then are gone: None)
    rather than deadlocked with. Two redeeming one code at once: the second waits for the first's
    row lock, then finds it used."""
    with conn.cursor(row_factory=rows_of(RedeemedRow)) as cur:
        try:
            return cur.execute(
                """WITH target AS (
                       SELECT e.id, e.slug FROM invitation i JOIN exam e ON e.id = i.exam_id
                       WHERE i.code_sha256 = %(code)s FOR KEY SHARE OF e),
                   used AS (
                       UPDATE invitation i SET redeemed_at = now(), redeemed_by = %(examiner)s
                       FROM target t
                       WHERE i.code_sha256 = %(code)s AND i.exam_id = t.id AND i.redeemed_at IS NULL
                         AND i.expires_at > now()
                       RETURNING i.id, i.exam_id, t.slug, i.role, i.label)
                   INSERT INTO exam_member AS m (exam_id, slug, examiner_id, role, label)
                   SELECT u.exam_id, u.slug, %(examiner)s, u.role, u.label FROM used u
                   RETURNING m.exam_id AS exam_pk, m.slug AS exam_id, (SELECT id FROM used) AS invitation_pk,
                             m.role, m.label, m.joined_at""",
                {"code": code_sha256, "examiner": examiner_id},
            ).fetchone()
        except pg_errors.UniqueViolation as exc:
            collision = _COLLISIONS.get(exc.diag.constraint_name or "")
            if collision is None:
                raise
            raise invitation_refusal(collision) from exc


def invitation_state(conn: Connection, code_sha256: str) -> Redemption:
    """Why `redeem` found no open invitation with this code, asked in the same transaction just
    after it: none has it, it was used, or (neither) it expired."""
    row = conn.execute(
        "SELECT redeemed_at IS NOT NULL AS used FROM invitation WHERE code_sha256 = %s", (code_sha256,)
    ).fetchone()
    if row is None:
        return Redemption.UNKNOWN
    return Redemption.USED if row["used"] else Redemption.EXPIRED


def members(conn: Connection, exam_pk: int) -> list[MemberRow]:
    """The exam's members, in the order they joined."""
    with conn.cursor(row_factory=rows_of(MemberRow)) as cur:
        return cur.execute(
            f"""SELECT {_MEMBER_COLUMNS} FROM exam_member m JOIN examiner x ON x.id = m.examiner_id
                WHERE m.exam_id = %s ORDER BY m.joined_at, m.examiner_id""",
            (exam_pk,),
        ).fetchall()


def open_invitations(conn: Connection, exam_pk: int) -> list[InvitationRow]:
    """The exam's invitations neither used nor expired, oldest first."""
    with conn.cursor(row_factory=rows_of(InvitationRow)) as cur:
        return cur.execute(
            f"""SELECT {_INVITATION_COLUMNS} FROM invitation i
                WHERE i.exam_id = %s AND i.redeemed_at IS NULL AND i.expires_at > now() ORDER BY i.id""",
            (exam_pk,),
        ).fetchall()


def change_member(conn: Connection, exam_pk: int, examiner_id: int, changes: dict[str, Any]) -> MemberRow:
    """Set a member's role or label (the fields of `changes`); returns the member as changed."""
    values = {name: value.value if isinstance(value, Role) else value for name, value in changes.items()}
    assignments = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(name), psycopg.sql.Placeholder(name))
        for name in values
    )
    with conn.cursor(row_factory=rows_of(MemberRow)) as cur:
        try:
            row = cur.execute(
                psycopg.sql.SQL(
                    """UPDATE exam_member m SET {} FROM examiner x
                       WHERE m.exam_id = %(exam)s AND m.examiner_id = %(examiner)s AND x.id = m.examiner_id
                       RETURNING """
                    + _MEMBER_COLUMNS
                ).format(assignments),
                {**values, "exam": exam_pk, "examiner": examiner_id},
            ).fetchone()
        except pg_errors.CheckViolation as exc:
            _refuse_without_owner(exc)
            raise
    assert row is not None  # the caller found the member under the exam's lock
    return row


def remove_member(conn: Connection, exam_pk: int, examiner_id: int) -> None:
    try:
        conn.execute("DELETE FROM exam_member WHERE exam_id = %s AND examiner_id = %s", (exam_pk, examiner_id))
    except pg_errors.CheckViolation as exc:
        _refuse_without_owner(exc)
        raise


def _refuse_without_owner(exc: pg_errors.CheckViolation) -> None:
    """The trigger's refusal as the application's (which comes first, under the exam's lock)."""
    if exc.diag.constraint_name == "exam_keeps_an_owner":
        raise Conflict("An exam always has an owner: make another member an owner first.") from exc
