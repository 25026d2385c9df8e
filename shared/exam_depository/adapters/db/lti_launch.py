"""The LTI login's and launch's statements: the registration a login names, the login's one use,
the link a launch names and what it learns of it, a teacher's identity and membership, a
learner's ticket, a deep-linking request. The rows are `lti`'s; a learner's roster entry is
`lti.learner_for_launch` (a sync makes them the same way)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from exam_depository.adapters.db.lti import DeepLinkRow, LoginRow, MemberChange, RegistrationRow, TeacherIdentity
    from exam_depository.adapters.db.transactions import Connection
    from exam_depository.domain.access import Role
    from exam_depository.domain.lti import LaunchFacts, LinkFacts


def registration_for(conn: Connection, issuer: str, client_id: str | None) -> RegistrationRow | None:
    """The active registration of the platform; None when client_id is None and the issuer has several."""
    raise NotImplementedError


def deployments_of(conn: Connection, registration_id: int) -> frozenset[str]:
    raise NotImplementedError


def insert_login(conn: Connection, login: LoginRow) -> None:
    raise NotImplementedError


def login_of(conn: Connection, state_sha256: str) -> LoginRow | None:
    raise NotImplementedError


def use_login(conn: Connection, state_sha256: str, now: datetime) -> bool:
    """UPDATE … SET used_at WHERE used_at IS NULL AND expires_at > now: the nonce's one use."""
    raise NotImplementedError


def link_of(conn: Connection, link_id: UUID) -> LinkFacts | None:
    raise NotImplementedError


def learn_link(conn: Connection, link_id: UUID, facts: LaunchFacts) -> None:
    """resource_link_id (the first wins), the AGS and NRPS URLs (the latest win)."""
    raise NotImplementedError


def teacher_identity(conn: Connection, facts: LaunchFacts) -> TeacherIdentity:
    """lti_user upserted; its examiner and examiner_key ('lti:' || public_id) made once."""
    raise NotImplementedError


def grant_membership(  # noqa: PLR0917 (the launch's contract: six values, in order)
    conn: Connection, exam_pk: int, slug: str, examiner_id: int, role: Role, label: str | None
) -> MemberChange:
    """Raise, never lower, the teacher's role in the exam (ON CONFLICT … WHERE rank < rank)."""
    raise NotImplementedError


def insert_ticket(conn: Connection, ticket_sha256: str, student_id: int, expires_at: datetime) -> None:
    raise NotImplementedError


def redeem_ticket(conn: Connection, ticket_sha256: str, now: datetime) -> str | None:
    """The student's upload code, once."""
    raise NotImplementedError


def insert_deep_link(conn: Connection, request: DeepLinkRow) -> None:
    raise NotImplementedError
