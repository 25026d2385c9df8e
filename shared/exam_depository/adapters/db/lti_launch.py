"""The LTI login's and launch's statements: the platform a login names, the login's one use (its
nonce used once, and only by the launch that carries it), the link a launch names, what a launch
learns of the course (the gradebook column, the class list), a teacher's examiner identity and
membership, the learner's roster entry (made as a sync makes them: `lti`'s), the learner's one-time
ticket, a deep-linking request waiting for the teacher's choice.

The login's row is used by `use_login`, one UPDATE that matches one row or none: two launches with
the same state and nonce (a replay, a double submit) cannot both pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

import psycopg

from exam_depository.adapters.db import lti
from exam_depository.adapters.db.lti import DeepLinkRow, RegistrationRow
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.access import Role
from exam_depository.domain.lti import LaunchFacts, LinkFacts, names_for


@dataclass(frozen=True)
class LoginRow:
    """An OIDC login the tool started: the state's SHA-256, the nonce asked for, where the browser
    keeps the state."""

    state_sha256: str
    registration_id: int
    nonce: str
    deployment_hint: str | None
    target_link_uri: str
    storage: Literal["cookie", "platform"]
    storage_target: str | None
    storage_origin: str | None
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class TeacherIdentity:
    """A teacher's examiner identity: `caller_key` ('lti:' + public_id) is the key id every
    examiner statement finds them by."""

    lti_user_id: int
    examiner_id: int
    caller_key: str
    public_id: UUID


@dataclass(frozen=True)
class MemberChange:
    """What a launch did to a teacher's membership of the link's exam."""

    member_id: UUID  # the teacher's public id, as the members list and the audit log name them
    role: str  # their role now
    joined: bool  # they were no member before
    raised: bool  # they were, with a lesser role


@dataclass(frozen=True)
class LearnerOutcome:
    """The roster entry a learner's launch found or made."""

    student_id: int
    nickname: str
    pseudonym: str
    created: bool
    rejoined: bool  # they had left the course and came back


_REGISTRATION = """SELECT r.id, r.public_id, r.owner_id, r.issuer, r.client_id, r.auth_login_url, r.auth_token_url,
       r.auth_audience, r.key_set_url, r.how, r.platform_name, r.product_family_code, r.scopes, r.active,
       r.created_at,
       ARRAY(SELECT d.deployment_id FROM lti_deployment d WHERE d.registration_id = r.id ORDER BY d.deployment_id)
         AS deployment_ids
  FROM lti_registration r"""


def registration_for(conn: Connection, issuer: str, client_id: str | None) -> RegistrationRow | None:
    """The active registration of this platform and client id; without a client id, the issuer's only
    one (None when it has several: the login must then say which)."""
    rows = (
        conn.cursor(row_factory=rows_of(RegistrationRow))
        .execute(
            _REGISTRATION + " WHERE r.issuer = %s AND r.active AND (%s::text IS NULL OR r.client_id = %s) LIMIT 2",
            (issuer, client_id, client_id),
        )
        .fetchall()
    )
    return rows[0] if len(rows) == 1 else None


def registration_by_id(conn: Connection, registration_id: int) -> RegistrationRow | None:
    return (
        conn.cursor(row_factory=rows_of(RegistrationRow))
        .execute(_REGISTRATION + " WHERE r.id = %s", (registration_id,))
        .fetchone()
    )


def deployments_of(conn: Connection, registration_id: int) -> frozenset[str]:
    rows = conn.execute(
        "SELECT deployment_id FROM lti_deployment WHERE registration_id = %s", (registration_id,)
    ).fetchall()
    return frozenset(row["deployment_id"] for row in rows)


def insert_login(conn: Connection, login: LoginRow) -> None:
    conn.execute(
        """INSERT INTO lti_login (state_sha256, registration_id, nonce, deployment_hint, target_link_uri, storage,
                                  storage_target, storage_origin, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            login.state_sha256,
            login.registration_id,
            login.nonce,
            login.deployment_hint,
            login.target_link_uri,
            login.storage,
            login.storage_target,
            login.storage_origin,
            login.expires_at,
        ),
    )


def login_of(conn: Connection, state_sha256: str) -> LoginRow | None:
    return (
        conn.cursor(row_factory=rows_of(LoginRow))
        .execute(
            """SELECT state_sha256, registration_id, nonce, deployment_hint, target_link_uri, storage, storage_target,
                      storage_origin, expires_at, used_at
                 FROM lti_login WHERE state_sha256 = %s""",
            (state_sha256,),
        )
        .fetchone()
    )


def use_login(conn: Connection, state_sha256: str, now: datetime) -> bool:
    """The login's one use (and its nonce's): true for the one launch that marks it used."""
    used = conn.execute(
        "UPDATE lti_login SET used_at = %s WHERE state_sha256 = %s AND used_at IS NULL AND expires_at > %s",
        (now, state_sha256, now),
    )
    return used.rowcount == 1


@dataclass(frozen=True)
class LinkedExam:
    """A link as a launch finds it: where it was placed (`LinkFacts`), and its exam."""

    facts: LinkFacts
    exam_pk: int
    exam_title: str


def link_of(conn: Connection, link_id: UUID) -> LinkedExam | None:
    row = conn.execute(
        """SELECT k.id, e.slug, k.registration_id, k.deployment_id, k.context_id, e.id AS exam_pk, e.title
             FROM lti_link k JOIN exam e ON e.id = k.exam_pk WHERE k.id = %s""",
        (link_id,),
    ).fetchone()
    if row is None:
        return None
    facts = LinkFacts(row["id"], row["slug"], row["registration_id"], row["deployment_id"], row["context_id"])
    return LinkedExam(facts, int(row["exam_pk"]), row["title"])


def learn_link(conn: Connection, link_id: UUID, facts: LaunchFacts) -> None:
    """What the launch tells of the course: the resource link's id (the first one kept), and where
    the gradebook column and the class list are (the latest kept)."""
    ags = facts.ags
    conn.execute(
        """UPDATE lti_link SET resource_link_id = COALESCE(resource_link_id, %s),
                               lineitems_url = COALESCE(%s, lineitems_url),
                               lineitem_url = COALESCE(%s, lineitem_url),
                               memberships_url = COALESCE(%s, memberships_url),
                               context_title = COALESCE(%s, context_title)
            WHERE id = %s""",
        (
            facts.resource_link_id,
            ags.lineitems if ags else None,
            ags.lineitem if ags else None,
            facts.memberships_url,
            facts.context_title,
            link_id,
        ),
    )


def teacher_identity(conn: Connection, facts: LaunchFacts, now: datetime) -> TeacherIdentity:
    """The teacher's LTI user (made or found, named as the platform names them) and its examiner
    identity: an examiner with the key id `lti:<public id>`, made once."""
    first, last = names_for(facts.given_name, facts.family_name, facts.name, facts.sub)
    user = conn.execute(
        """INSERT INTO lti_user (registration_id, sub, name, last_launch_at) VALUES (%s, %s, %s, %s)
           ON CONFLICT (registration_id, sub)
           DO UPDATE SET name = EXCLUDED.name, last_launch_at = EXCLUDED.last_launch_at
           RETURNING id, public_id, examiner_id""",
        (facts.registration_id, facts.sub, f"{first} {last}"[:200], now),
    ).fetchone()
    assert user is not None  # an upsert returns its row
    examiner_id = user["examiner_id"]
    caller_key = f"lti:{user['public_id']}"
    if examiner_id is None:
        # The upsert above holds the user's row until the commit: a concurrent first launch of the
        # same teacher waits there, then finds the examiner made here.
        made = conn.execute(
            """WITH examiner_row AS (INSERT INTO examiner DEFAULT VALUES RETURNING id),
                    key_row AS (INSERT INTO examiner_key (api_key_id, examiner_id)
                                SELECT %s, id FROM examiner_row RETURNING examiner_id)
               UPDATE lti_user SET examiner_id = (SELECT examiner_id FROM key_row) WHERE id = %s
               RETURNING examiner_id""",
            (caller_key, user["id"]),
        ).fetchone()
        assert made is not None
        examiner_id = made["examiner_id"]
    return TeacherIdentity(int(user["id"]), int(examiner_id), caller_key, user["public_id"])


_RANK: dict[str, int] = {Role.OWNER: 4, Role.CO_EXAMINER: 3, Role.GRADER: 2, Role.INVIGILATOR: 1}


class GrantRefused(StrEnum):
    """Why a launch grants no membership: the teacher is a member of another exam with this exam id
    (ids are unique per examiner), or an owner removed them and the LMS role has not risen since."""

    EXAM_ID_TAKEN = "exam-id-taken"
    REMOVED = "member-removed"


def grant_membership(  # noqa: PLR0917 (the launch's contract: its values, in order)
    conn: Connection, exam_pk: int, slug: str, examiner_id: int, role: Role, label: str | None, lti_user_id: int
) -> MemberChange | GrantRefused:
    """The teacher as a member of the exam with `role` at least, when the LMS says so anew. A launch
    raises a role, never lowers it (an owner stays owner; a teaching assistant an owner promoted
    keeps that), and adds or raises only when the LMS role is higher than any a launch has found
    for this teacher and exam (`lti_grant`, from every course the exam is in): a member an owner
    removed or lowered stays so until the LMS role rises past the highest seen (launching from a
    course where the role is lower, then from one where it is higher, is no rise)."""
    last = conn.execute(
        "SELECT lms_role FROM lti_grant WHERE lti_user_id = %s AND exam_id = %s FOR UPDATE", (lti_user_id, exam_pk)
    ).fetchone()
    lms_rose = last is None or _RANK[last["lms_role"]] < _RANK[role]
    highest = role if last is None or lms_rose else Role(last["lms_role"])
    before = conn.execute(
        "SELECT role FROM exam_member WHERE exam_id = %s AND examiner_id = %s FOR UPDATE", (exam_pk, examiner_id)
    ).fetchone()
    if before is None:
        if not lms_rose:
            return GrantRefused.REMOVED
        try:
            with conn.transaction():  # a savepoint: the launch's transaction goes on to its refusal
                conn.execute(
                    """INSERT INTO exam_member (exam_id, slug, examiner_id, role, label)
                       VALUES (%s, %s, %s, %s, %s)""",
                    (exam_pk, slug, examiner_id, role.value, label[:100] if label else None),
                )
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "exam_member_slug_per_examiner":
                raise
            return GrantRefused.EXAM_ID_TAKEN
        now_role, joined, raised = role.value, True, False
    else:
        raised = lms_rose and _RANK[before["role"]] < _RANK[role]
        if raised:
            conn.execute(
                "UPDATE exam_member SET role = %s WHERE exam_id = %s AND examiner_id = %s",
                (role.value, exam_pk, examiner_id),
            )
        now_role, joined = (role.value if raised else before["role"]), False
    _record_grant(conn, lti_user_id, exam_pk, highest)
    member = conn.execute("SELECT public_id FROM examiner WHERE id = %s", (examiner_id,)).fetchone()
    assert member is not None
    return MemberChange(member["public_id"], now_role, joined, raised)


def _record_grant(conn: Connection, lti_user_id: int, exam_pk: int, role: Role) -> None:
    """The highest LMS role a launch has found for this teacher and exam (never lowered: a lower
    role in another course, or the LMS lowering it, does not make the old role a rise again)."""
    conn.execute(
        """INSERT INTO lti_grant (lti_user_id, exam_id, lms_role) VALUES (%s, %s, %s)
           ON CONFLICT (lti_user_id, exam_id) DO UPDATE SET lms_role = EXCLUDED.lms_role, launched_at = now()""",
        (lti_user_id, exam_pk, role.value),
    )


def insert_ticket(conn: Connection, ticket_sha256: str, student_id: int, expires_at: datetime) -> None:
    conn.execute(
        "INSERT INTO lti_ticket (ticket_sha256, student_id, expires_at) VALUES (%s, %s, %s)",
        (ticket_sha256, student_id, expires_at),
    )


def redeem_ticket(conn: Connection, ticket_sha256: str, now: datetime) -> str | None:
    """The student's upload code for a ticket not used and not expired, used by this call."""
    row = conn.execute(
        """WITH used AS (UPDATE lti_ticket SET used_at = %s
                          WHERE ticket_sha256 = %s AND used_at IS NULL AND expires_at > %s RETURNING student_id)
           SELECT s.upload_code FROM used JOIN student s ON s.id = used.student_id""",
        (now, ticket_sha256, now),
    ).fetchone()
    return None if row is None else str(row["upload_code"])


def insert_deep_link(conn: Connection, request: DeepLinkRow) -> None:
    conn.execute(
        """INSERT INTO lti_deep_link (id, registration_id, deployment_id, lti_user_id, context_id, context_title,
                                      return_url, data, accept_line_item, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            request.id,
            request.registration_id,
            request.deployment_id,
            request.lti_user_id,
            request.context_id,
            request.context_title,
            request.return_url,
            request.data,
            request.accept_line_item,
            request.expires_at,
        ),
    )


def learner_for_launch(
    conn: Connection,
    exam_pk: int,
    link_id: UUID,
    facts: LaunchFacts,
    *,
    email: str | None,
    email_address: str | None,
    now: datetime,
) -> LearnerOutcome:
    """The learner's roster entry in the link's exam, found or made, under the exam's row lock:
    found, it takes the platform's names and address, rejoins if it had left and belongs to this
    link from now on (a student who changed section: their hand-ins are scored to this course's
    column); made, it gets names by `names_for`, a free nickname, an upload code and a pseudonym.
    `email` is the address as the platform sent it and `email_address` as mail goes to it, or None
    (refused or none)."""
    lti_user_id = lti.lti_user(conn, facts.registration_id, facts.sub, now)
    lti.lock_exam(conn, exam_pk)
    first, last = names_for(facts.given_name, facts.family_name, facts.name, facts.sub)
    found = conn.execute(
        """SELECT l.student_id, s.nickname, s.pseudonym, l.left_at IS NOT NULL AS left, l.link_id <> %s AS elsewhere
             FROM lti_learner l JOIN student s ON s.id = l.student_id
            WHERE l.exam_pk = %s AND l.lti_user_id = %s""",
        (link_id, exam_pk, lti_user_id),
    ).fetchone()
    if found is not None:
        lti.follow_platform(conn, found["student_id"], first, last, email=email, email_address=email_address)
        if found["left"] or found["elsewhere"]:
            conn.execute(
                "UPDATE lti_learner SET left_at = NULL, link_id = %s WHERE student_id = %s",
                (link_id, found["student_id"]),
            )
        return LearnerOutcome(found["student_id"], found["nickname"], found["pseudonym"], False, found["left"])
    student_id, nickname, pseudonym = lti.new_student(
        conn,
        exam_pk,
        first=first,
        last=last,
        email=email,
        email_address=email_address,
        sub=facts.sub,
        taken=lti.taken_nicknames(conn, exam_pk),
    )
    conn.execute(
        """INSERT INTO lti_learner (student_id, exam_pk, lti_user_id, link_id, joined_via)
           VALUES (%s, %s, %s, %s, 'launch')""",
        (student_id, exam_pk, lti_user_id, link_id),
    )
    return LearnerOutcome(student_id, nickname, pseudonym, True, False)
