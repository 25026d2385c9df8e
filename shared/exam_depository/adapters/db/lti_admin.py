"""The LTI tool's administration: platforms registered by an examiner (by hand or through a one-time
dynamic-registration offer), the deep-linking requests a teacher answers by choosing an exam, and the
links (an exam placed in a course) that answer makes.

A registration belongs to the examiner who made it (its owner), who becomes an owner of an exam
an owner of it places in a course through it (`ensure_owner`; the use case decides when). Offers
are kept only as the SHA-256 of their token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from psycopg import errors as pg_errors

from exam_depository.adapters.db.exams import examiner_for_key
from exam_depository.adapters.db.lti import DeepLinkRow, RegistrationRow
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.errors import NotFound, RegistrationExists
from exam_depository.domain.lti_inputs import RegistrationIn

_REGISTRATION_COLUMNS = """r.id, r.public_id, r.owner_id, r.issuer, r.client_id,
    r.auth_login_url, r.auth_token_url, r.auth_audience, r.key_set_url, r.how, r.platform_name,
    r.product_family_code, r.scopes, r.active, r.created_at,
    ARRAY(SELECT d.deployment_id FROM lti_deployment d WHERE d.registration_id = r.id
          ORDER BY d.created_at, d.deployment_id) AS deployment_ids"""


def insert_registration(
    conn: Connection,
    owner: str | int,
    r: RegistrationIn,
    *,
    how: Literal["manual", "dynamic"],
    platform_name: str | None = None,
    product_family_code: str | None = None,
    scopes: Sequence[str] = (),
) -> RegistrationRow:
    """The registration made by `owner` (an API key's id, or an examiner's id: a dynamic
    registration's offer names its owner so), or an existing one of the same platform (issuer and
    client id) by the same owner with the same URLs, `r.deployment_ids` added to it. Another
    owner's, or the same owner's with other URLs: RegistrationExists."""
    owner_id = owner if isinstance(owner, int) else examiner_for_key(conn, owner)
    values = {
        "owner": owner_id,
        "issuer": str(r.issuer),
        "client_id": r.client_id,
        "login": str(r.auth_login_url),
        "token": str(r.auth_token_url),
        "audience": r.auth_audience,
        "keys": str(r.key_set_url),
        "how": how,
        "platform_name": platform_name,
        "family": product_family_code,
        "scopes": list(scopes),
    }
    with conn.transaction():
        made = conn.execute(
            """INSERT INTO lti_registration (owner_id, issuer, client_id, auth_login_url, auth_token_url,
                   auth_audience, key_set_url, how, platform_name, product_family_code, scopes)
               VALUES (%(owner)s, %(issuer)s, %(client_id)s, %(login)s, %(token)s, %(audience)s, %(keys)s,
                   %(how)s, %(platform_name)s, %(family)s, %(scopes)s)
               ON CONFLICT ON CONSTRAINT lti_registration_platform DO NOTHING RETURNING id""",
            values,
        ).fetchone()
        if made is None:
            made = conn.execute(
                """SELECT id FROM lti_registration
                   WHERE issuer = %(issuer)s AND client_id = %(client_id)s AND owner_id = %(owner)s
                     AND auth_login_url = %(login)s AND auth_token_url = %(token)s AND key_set_url = %(keys)s
                     AND auth_audience IS NOT DISTINCT FROM %(audience)s
                   FOR UPDATE""",
                values,
            ).fetchone()
            if made is None:
                raise RegistrationExists("This platform (issuer and client id) is registered already.")
        registration_pk = int(made["id"])
        try:
            conn.execute(
                """INSERT INTO lti_deployment (registration_id, deployment_id)
                   SELECT %s, d FROM unnest(%s::text[]) AS d ON CONFLICT DO NOTHING""",
                (registration_pk, list(r.deployment_ids)),
            )
        except pg_errors.CheckViolation as exc:
            raise RegistrationExists(f"A deployment id is not valid: {exc.diag.message_primary}") from exc
    return _registration(conn, registration_pk)


def registration_exists(conn: Connection, issuer: str, client_id: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM lti_registration WHERE issuer = %s AND client_id = %s", (issuer, client_id)
    ).fetchone()
    return found is not None


def _registration(conn: Connection, registration_pk: int) -> RegistrationRow:
    with conn.cursor(row_factory=rows_of(RegistrationRow)) as cur:
        row = cur.execute(
            f"SELECT {_REGISTRATION_COLUMNS} FROM lti_registration r WHERE r.id = %s", (registration_pk,)
        ).fetchone()
    assert row is not None
    return row


def registrations_of(conn: Connection, owner_key: str) -> list[RegistrationRow]:
    """The registrations the caller owns, oldest first."""
    with conn.cursor(row_factory=rows_of(RegistrationRow)) as cur:
        return cur.execute(
            f"""SELECT {_REGISTRATION_COLUMNS} FROM lti_registration r
                JOIN examiner_key k ON k.examiner_id = r.owner_id
                WHERE k.api_key_id = %s ORDER BY r.created_at, r.id""",
            (owner_key,),
        ).fetchall()


def insert_offer(conn: Connection, owner_key: str, token_sha256: str, expires_at: datetime) -> None:
    owner_id = examiner_for_key(conn, owner_key)
    conn.execute(
        "INSERT INTO lti_offer (token_sha256, owner_id, expires_at) VALUES (%s, %s, %s)",
        (token_sha256, owner_id, expires_at),
    )


def take_offer(conn: Connection, token_sha256: str, now: datetime) -> int | None:
    """The owner (examiner id) of an unused, unexpired offer, locked until the transaction ends
    (`close_offer` then uses it); None when there is none."""
    found = conn.execute(
        """SELECT owner_id FROM lti_offer WHERE token_sha256 = %s AND used_at IS NULL AND expires_at > %s
           FOR UPDATE""",
        (token_sha256, now),
    ).fetchone()
    return None if found is None else int(found["owner_id"])


def close_offer(conn: Connection, token_sha256: str, registration_id: int) -> None:
    conn.execute(
        "UPDATE lti_offer SET used_at = now(), registration_id = %s WHERE token_sha256 = %s",
        (registration_id, token_sha256),
    )


def take_deep_link(conn: Connection, request_id: UUID, lti_user_key: str, now: datetime) -> DeepLinkRow | None:
    """The deep-linking request, if it is the caller's (`lti:<lti_user.public_id>`), unused and
    unexpired: marked used in the caller's transaction (a second answer finds none)."""
    with conn.cursor(row_factory=rows_of(DeepLinkRow)) as cur:
        return cur.execute(
            """UPDATE lti_deep_link d SET used_at = %(now)s
               FROM lti_user u
               WHERE d.id = %(id)s AND u.id = d.lti_user_id AND 'lti:' || u.public_id = %(key)s
                 AND d.used_at IS NULL AND d.expires_at > %(now)s
               RETURNING d.id, d.registration_id, d.deployment_id, d.lti_user_id, d.context_id,
                 d.context_title, d.return_url, d.data, d.accept_line_item, d.expires_at""",
            {"id": request_id, "key": lti_user_key, "now": now},
        ).fetchone()


def insert_link(conn: Connection, link_id: UUID, exam_pk: int, request: DeepLinkRow, created_by: int) -> None:
    conn.execute(
        """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, context_title, created_by)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (
            link_id,
            exam_pk,
            request.registration_id,
            request.deployment_id,
            request.context_id,
            request.context_title,
            created_by,
        ),
    )


# What `ensure_owner` did: the registration's owner made an owner member, a lower role raised to
# owner, an owner already; or not made a member because they hold another exam with this exam id.
OwnerAdded = Literal["added", "raised", "unchanged", "not-added:exam-id-held"]


def ensure_owner(conn: Connection, exam_pk: int, slug: str, examiner_id: int) -> OwnerAdded:
    """Make the registration's owner an owner of the exam (raising a lower role). One who holds
    another exam with this exam id (an examiner's exam ids are theirs alone) is left out, in a
    savepoint: the caller's transaction goes on (the exam is placed without them)."""
    try:
        with conn.transaction():
            changed = conn.execute(
                """INSERT INTO exam_member (exam_id, examiner_id, role, slug) VALUES (%s, %s, 'owner', %s)
                   ON CONFLICT (exam_id, examiner_id) DO UPDATE SET role = 'owner'
                     WHERE exam_member.role <> 'owner'
                   RETURNING xmax = 0 AS inserted""",
                (exam_pk, examiner_id, slug),
            ).fetchone()
    except pg_errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "exam_member_slug_per_examiner":
            raise
        return "not-added:exam-id-held"
    if changed is None:
        return "unchanged"
    return "added" if changed["inserted"] else "raised"


def registration_by_pk(conn: Connection, registration_pk: int) -> RegistrationRow:
    return _registration(conn, registration_pk)


@dataclass(frozen=True)
class SyncTarget:
    """Where a link's class list is, and whose roster it fills."""

    exam_pk: int
    registration_pk: int
    course: str | None
    memberships_url: str | None


def sync_target(conn: Connection, link_id: UUID) -> SyncTarget:
    with conn.cursor(row_factory=rows_of(SyncTarget)) as cur:
        row = cur.execute(
            """SELECT exam_pk, registration_id AS registration_pk, context_title AS course, memberships_url
               FROM lti_link WHERE id = %s""",
            (link_id,),
        ).fetchone()
    if row is None:
        raise NotFound("The exam is no longer placed in this course.")
    return row
