"""The LTI registrations' and deep links' statements: platforms registered by hand or dynamically,
the one-time registration offers, a deep-linking request taken once and the link it places. The
rows are `lti`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from exam_depository.adapters.db.lti import DeepLinkRow, RegistrationRow
    from exam_depository.adapters.db.transactions import Connection
    from exam_depository.domain.lti_inputs import RegistrationIn


def insert_registration(
    conn: Connection,
    owner_key: str,
    r: RegistrationIn,
    *,
    how: Literal["manual", "dynamic"],
    platform_name: str | None = None,
    product_family_code: str | None = None,
    scopes: Sequence[str] = (),
) -> RegistrationRow:
    """Conflict (RegistrationExists) on (issuer, client_id)."""
    raise NotImplementedError


def registrations_of(conn: Connection, owner_key: str) -> list[RegistrationRow]:
    raise NotImplementedError


def insert_offer(conn: Connection, owner_key: str, token_sha256: str, expires_at: datetime) -> None:
    raise NotImplementedError


def take_offer(conn: Connection, token_sha256: str, now: datetime) -> int | None:
    """The owner's examiner id; FOR UPDATE, unused, unexpired."""
    raise NotImplementedError


def close_offer(conn: Connection, token_sha256: str, registration_id: int) -> None:
    raise NotImplementedError


def take_deep_link(conn: Connection, request_id: UUID, lti_user_key: str, now: datetime) -> DeepLinkRow | None:
    """FOR UPDATE, unused, unexpired, the session's LTI user's."""
    raise NotImplementedError


def insert_link(conn: Connection, link_id: UUID, exam_pk: int, request: DeepLinkRow, created_by: int) -> None:
    raise NotImplementedError


def ensure_owner(conn: Connection, exam_pk: int, slug: str, examiner_id: int) -> bool:
    """The registration's owner as an owner member of the exam."""
    raise NotImplementedError
