"""What an examiner does about the LMSs: register a platform by hand (with an API key) or hand it a
one-time dynamic-registration URL, list their registrations; what a teacher signed in from a course
does: answer a deep-linking request by choosing an exam (which places it in the course); and, for an
exam's members, its LMS state (the courses it is placed in, their syncs, the hand-in statuses). The
on-demand sync of its roster is `lti_services.sync_exam`.

A registration is not an exam's event: it is logged (the audit log is per exam), and kept in its
row. Placing an exam in a course is: `lti.linked`, in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.lti
import exam_depository.adapters.db.lti_admin
import exam_depository.adapters.db.lti_sync  # noqa: F401
from exam_depository.adapters import db
from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.config import load
from exam_depository.domain import lti
from exam_depository.domain.access import Action, Caller, Role, key_required, session_required
from exam_depository.domain.audit import AuditAction, Event, member_actor
from exam_depository.domain.errors import DeepLinkUsed, InvalidInput
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.lti_inputs import DeepLinkIn, RegistrationIn
from exam_depository.observability import logger

OFFER_HOURS = 24


@dataclass(frozen=True)
class ToolUrls:
    """What a platform's administrator pastes into the LMS to register the tool by hand."""

    login_url: str
    launch_url: str
    redirect_uris: list[str]
    deep_linking_url: str
    jwks_url: str
    domain: str


def tool_urls(base: str) -> ToolUrls:
    return ToolUrls(
        login_url=f"{base}/lti/login",
        launch_url=f"{base}/lti/launch",
        redirect_uris=[f"{base}/lti/launch"],
        deep_linking_url=f"{base}/lti/launch",
        jwks_url=f"{base}/lti/jwks.json",
        domain=urlsplit(base).netloc,
    )


def base_url(host: str | None, stage_prefix: str) -> str:
    """The tool's address: PUBLIC_BASE_URL when set (a custom domain), else this request's host
    and stage (`https`; `http` only for a loopback host where loopback is allowed: the tests)."""
    settings = load(LtiSettings)
    if settings.public_base_url:
        return settings.public_base_url
    host = host or "localhost"
    loopback = host.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = "http" if loopback and settings.allow_loopback else "https"
    return f"{scheme}://{host}{stage_prefix.rstrip('/')}"


@dataclass(frozen=True)
class Registered:
    registration: db.lti.RegistrationRow
    created: bool  # False: an existing registration of the caller's, its deployments added


def register(caller: Caller, r: RegistrationIn) -> Registered:
    key_required(caller)
    if r.uses_plain_http() and not load(LtiSettings).allow_loopback:
        raise InvalidInput("The platform's issuer and addresses must be https URLs.")
    with db.transaction() as conn:
        existed = db.lti_admin.registration_exists(conn, str(r.issuer), r.client_id)
        row = db.lti_admin.insert_registration(conn, caller.api_key_id, r, how="manual")
    logger.info(
        "lti_registration.created" if not existed else "lti_registration.deployments_added",
        extra={"registration": str(row.public_id), "issuer": row.issuer},
    )
    return Registered(row, created=not existed)


def registrations(caller: Caller) -> list[db.lti.RegistrationRow]:
    with db.statement() as conn:
        return db.lti_admin.registrations_of(conn, caller.api_key_id)


@dataclass(frozen=True)
class Offer:
    token: str  # shown once; kept as its SHA-256
    expires_at: datetime


def offer(caller: Caller, now: datetime) -> Offer:
    """A one-time dynamic-registration URL's token, valid a day."""
    key_required(caller)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=OFFER_HOURS)
    with db.transaction() as conn:
        db.lti_admin.insert_offer(conn, caller.api_key_id, hashlib.sha256(token.encode()).hexdigest(), expires_at)
    return Offer(token, expires_at)


@dataclass(frozen=True)
class DeepLinkAnswer:
    return_url: str
    jwt: str


def complete_deep_link(caller: Caller, request: DeepLinkIn, base: str, now: datetime) -> DeepLinkAnswer:
    """Place the chosen exam in the request's course: the link (its id travels in the resource
    link's custom parameters), the registration's owner as an owner of the exam when the teacher is
    its owner (`_add_registration_owner`), `lti.linked`; and the signed deep-linking response the
    page posts back to the platform."""
    session_required(caller)
    from exam_depository.adapters import lti_tool  # pylti1p3: only the LTI functions import it

    with db.transaction() as conn:
        taken = db.lti_admin.take_deep_link(conn, request.request_id, caller.api_key_id, now)
        if taken is None:
            raise DeepLinkUsed("This choice was made already, or waited too long: add the exam again from the course.")
        exam = db.exams.exam_of(conn, caller.api_key_id, request.exam_id, action=Action.LTI_LINK, lock=True)
        examiner_id = db.exams.examiner_for_key(conn, caller.api_key_id)
        link_id = uuid4()
        db.lti_admin.insert_link(conn, link_id, exam.exam_pk, taken, created_by=examiner_id)
        registration = db.lti_admin.registration_by_pk(conn, taken.registration_id)
        owner_added = _add_registration_owner(conn, exam, registration)
        after: dict[str, Any] = {
            "course": taken.context_title,
            "link": str(link_id),
            "platform": registration.issuer,
            "lti_user": caller.via.lti_user if caller.via is not None else None,
            "registration_owner": owner_added,
        }
        db.audit.append(
            conn,
            exam.exam_pk,
            [Event(member_actor(exam, caller), AuditAction.LTI_LINKED, f"link:{link_id}", after=after)],
        )
        settings = lti.DeepLinkSettings(
            return_url=taken.return_url,
            accept_types=("ltiResourceLink",),
            accept_line_item=taken.accept_line_item,
            data=taken.data,
        )
        item = lti_tool.LinkItem(
            title=exam.title,
            url=tool_urls(base).launch_url,
            exam_id=exam.exam_id,
            link_id=link_id,
            line_item_label=f"{exam.title}: hand-in",
            end_date_time=rfc3339(exam.cutoff_at),
        )
        token = lti_tool.deep_link_response(registration, taken.deployment_id, settings, item)
    return DeepLinkAnswer(taken.return_url, token)


def _add_registration_owner(conn: db.Connection, exam: db.exams.ExamRow, registration: db.lti.RegistrationRow) -> str:
    """The registration's owner made an owner of the exam, when the teacher placing it is its owner:
    only an owner adds members, and a co-examiner who placed an exam through a registration of their
    own making would otherwise make their key its owner. An exam a teacher created from the picker is
    theirs: its owner. The exam is placed either way; what was done goes into `lti.linked`."""
    if exam.role is not Role.OWNER:
        outcome = "not-added:placed-by-a-co-examiner"
    else:
        outcome = db.lti_admin.ensure_owner(conn, exam.exam_pk, exam.exam_id, registration.owner_id)
    if outcome.startswith("not-added"):
        logger.info(
            "lti_link.registration_owner_not_added",
            extra={"registration": str(registration.public_id), "reason": outcome.removeprefix("not-added:")},
        )
    return outcome


def exam_lti(caller: Caller, exam_id: str) -> db.lti_sync.ExamLtiState:
    with db.statement() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.LTI_READ)
        return db.lti_sync.exam_lti_state(conn, exam.exam_pk)


def offer_url(base: str, token: str) -> str:
    return f"{base}/lti/register/{token}"
