"""The LTI tool's open routes: the OIDC login, the launch and its three landings (a student's upload
page, a teacher's console, a deep-linking choice), the learner's one-time ticket, the tool's key set
and the dynamic-registration page.

A launch runs its checks in one order (`domain.lti.CHECKS`), each logged with the request's
correlation id as `{"lti_check": name, "passed": bool}`: the trace of a launch. The first that fails
answers the refusal page with its problem type; nothing is learnt from a refused launch, but a login
whose nonce a launch used stays used (the refusal commits that one update).
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from exam_depository.adapters import db, lms_http, lti_tool, sessions
from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.config import load
from exam_depository.domain import lti
from exam_depository.domain.access import Role
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.characters import unstorable
from exam_depository.domain.errors import RegistrationExists, TicketUsed
from exam_depository.domain.lti_inputs import RegistrationIn
from exam_depository.domain.sessions import Session
from exam_depository.observability import MetricUnit, logger, metrics

LOGIN_LIFETIME = timedelta(minutes=5)
TICKET_LIFETIME = timedelta(minutes=2)
DEEP_LINK_LIFETIME = timedelta(hours=1)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True)
class Page:
    """One of the tool's pages (functions/lti_tool/pages/<name>) with its values, its status and the
    cookies it sets."""

    name: str
    values: Mapping[str, str]
    status: int = 200
    cookies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redirect:
    """303 See Other to `location` (a landing)."""

    location: str


Answer = Page | Redirect


# --- where the tool is ---------------------------------------------------------------------------


def base_url(event: Mapping[str, Any]) -> str:
    """The tool's address: PUBLIC_BASE_URL when set, else the API's (its host and stage path)."""
    settings = load(LtiSettings)
    if settings.public_base_url:
        return settings.public_base_url
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    host = headers.get("host", "localhost")
    stage_path = (event.get("requestContext") or {}).get("path") or event.get("path") or "/"
    prefix = stage_path[: len(stage_path) - len(event.get("path") or "")]
    loopback = (urlsplit(f"//{host}").hostname or "") in {"127.0.0.1", "localhost", "::1"}
    scheme = headers.get("x-forwarded-proto") or ("http" if settings.allow_loopback and loopback else "https")
    return f"{scheme}://{host}{prefix}".rstrip("/")


def tool_urls(base: str) -> dict[str, str]:
    return {
        "login_url": f"{base}/lti/login",
        "launch_url": f"{base}/lti/launch",
        "jwks_url": f"{base}/lti/jwks.json",
    }


# --- pages ----------------------------------------------------------------------------------------


def origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def refusal_page(refusal: lti.LtiRefusal) -> Page:
    logger.info("LTI launch refused", extra={"lti_refusal": refusal.kind, "status": refusal.status})
    # Alarmed on (LtiLaunchRefusedAlarm): many at once is a misconfigured platform, or an attack.
    metrics.add_metric(name="LtiLaunchRefused", unit=MetricUnit.Count, value=1)
    values = {"sentence": refusal.sentence, "type": refusal.problem_type}
    return Page("refused.html", values, status=refusal.status)


def _check(name: str, passed: bool) -> None:
    logger.info("LTI launch check", extra={"lti_check": name, "passed": passed})


# --- the login ------------------------------------------------------------------------------------


def login(event: Mapping[str, Any], now: datetime) -> Answer:
    """OIDC login initiation: the platform's registration, the target, then the authorization
    request (the page that binds the state to this browser before going there)."""
    request = lti_tool.EventRequest(event)
    base = base_url(event)
    urls = tool_urls(base)
    issuer, client_id = request.get_param("iss"), request.get_param("client_id") or None
    kept = ("iss", "client_id", "lti_deployment_id", "lti_storage_target")  # matched or stored
    if any(unstorable(request.get_param(name)) for name in kept):  # a NUL no column can hold
        return refusal_page(lti.refusal("platform-unknown"))
    with db.transaction() as conn:
        registration = db.lti_launch.registration_for(conn, issuer, client_id) if issuer else None
        if registration is None or not request.get_param("login_hint"):
            return refusal_page(lti.refusal("platform-unknown"))
        if request.get_param("target_link_uri") != urls["launch_url"]:
            return refusal_page(lti.refusal("wrong-target"))
        conf = lti_tool.RowsToolConf(conn)
        try:
            made = lti_tool.login_of(request, conf, urls["launch_url"])
        except lti_tool.LaunchRefused as refused:
            return refusal_page(refused.refusal)
        storage_target = request.get_param("lti_storage_target") or None
        if request.get_param("new_window"):
            storage_target = None  # a window of its own: first-party cookies
        db.lti_launch.insert_login(
            conn,
            db.lti_launch.LoginRow(
                state_sha256=lti_tool.sha256_hex(made.state),
                registration_id=registration.id,
                nonce=made.nonce,
                deployment_hint=request.get_param("lti_deployment_id") or None,
                target_link_uri=urls["launch_url"],
                storage="platform" if storage_target else "cookie",
                storage_target=storage_target[:200] if storage_target else None,
                storage_origin=origin_of(registration.auth_login_url),
                expires_at=now + LOGIN_LIFETIME,
                used_at=None,
            ),
        )
    return Page(
        "login.html",
        {
            "auth_url": made.auth_url,
            "state": made.state,
            "probe": lti_tool.probe_cookie_name(made.state),
            "storage_target": storage_target or "",
            "storage_origin": origin_of(registration.auth_login_url) or "",
            "new_window_url": lti_tool.new_window_url(urls["login_url"], request.params()),
        },
        cookies=made.set_cookies,
    )


# --- the launch -----------------------------------------------------------------------------------


def launch(event: Mapping[str, Any], now: datetime, request_id: str | None) -> Answer:
    """POST /lti/launch: every check in order, then the landing the launch's role leads to."""
    request = lti_tool.EventRequest(event)
    base = base_url(event)
    id_token, state = request.get_param("id_token"), request.get_param("state")
    if not id_token or not state or request.body_bytes > lti_tool.MAX_FORM_BYTES:
        _check("form", False)
        return refusal_page(lti.refusal("token-malformed"))
    _check("form", True)
    with db.transaction() as conn:
        login_row = db.lti_launch.login_of(conn, lti_tool.sha256_hex(state))
        if login_row is None or login_row.used_at is not None or login_row.expires_at <= now:
            _check("state-known", False)
            return refusal_page(lti.refusal("state-unknown"))
        _check("state-known", True)
        bound = bound_to_browser(request, login_row, state)
        if bound is not True:
            _check("browser", False)
            return bound if isinstance(bound, Page) else refusal_page(lti.refusal("state-other-browser"))
        _check("browser", True)
        registration = db.lti_launch.registration_by_id(conn, login_row.registration_id)
        try:
            tool_launch = lti_tool.launch_of(event, conn, login_row, now, _check)
            tool_launch.validate()
            facts = tool_launch.facts()
            assert registration is not None  # the launch's registration is the login's (check 5)
            return land(conn, facts=facts, registration=registration, base=base, now=now, request_id=request_id)
        except lti_tool.LaunchRefused as refused:
            logger.info("LTI launch refused", extra={"lti_check": refused.check, "detail": refused.detail[:300]})
            return refusal_page(refused.refusal)


CONFIRM_HEADER = "x-lti-confirm"


def is_confirmation(event: Mapping[str, Any]) -> bool:
    """The confirm page's own request: its script's fetch, which alone may send the header (a form
    cannot, and a script of another site would need a CORS preflight the API never grants), from
    this site (`Sec-Fetch-Site`, where the browser sends it)."""
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    fetch_site = headers.get("sec-fetch-site")
    return headers.get(CONFIRM_HEADER) == "platform-state" and fetch_site in {None, "same-origin"}


def bound_to_browser(request: lti_tool.EventRequest, login_row: db.lti_launch.LoginRow, state: str) -> bool | Page:
    """Check 3: the state came back to the browser the login started in — by its cookie, or, when
    the platform keeps it (its postMessage storage), by the value the confirm page read there and
    sent in its own request (`is_confirmation`). A posted `platform_state` is never taken from the
    first cross-site POST: whoever started the login knows the state, and could have a stranger's
    browser post it (login CSRF); only the confirm page, in the frame the platform keeps the state
    for, can read it back."""
    cookie = lti_tool.ResponseCookies(request).get_cookie(lti_tool.state_cookie_name(state))
    if cookie is not None and hmac.compare_digest(cookie.encode(), state.encode()):
        return True
    if login_row.storage != "platform":
        return False
    if is_confirmation({"headers": request.headers}):
        platform_state = request.get_param("platform_state")
        return bool(platform_state) and hmac.compare_digest(platform_state.encode(), state.encode())
    # The launch's POST: the confirm page reads the state from the platform's storage, then confirms.
    return Page(
        "confirm.html",
        {
            "id_token": request.get_param("id_token"),
            "state": state,
            "storage_target": login_row.storage_target or "",
            "storage_origin": login_row.storage_origin or "",
        },
    )


def land(
    conn: db.Connection,
    *,
    facts: lti.LaunchFacts,
    registration: db.lti.RegistrationRow,
    base: str,
    now: datetime,
    request_id: str | None,
) -> Answer:
    """Checks 13 and 14, then the landing (raises `LaunchRefused`)."""
    linked: db.lti_launch.LinkedExam | None = None
    if facts.message_type == "LtiResourceLinkRequest":
        link_id = _uuid(facts.custom.get("link"))
        linked = db.lti_launch.link_of(conn, link_id) if link_id else None
        found = lti.link_refusal(linked.facts if linked else None, facts)
        if found is not None:
            _check("link", False)
            raise lti_tool.LaunchRefused("link", found)
    elif not facts.context_id:  # a deep-linking request places the exam in its course: it must name one
        _check("link", False)
        raise lti_tool.LaunchRefused("link", lti.refusal("message-invalid"), "no course to place an exam in")
    _check("link", True)
    landing = lti.landing_of(facts)
    if isinstance(landing, lti.LtiRefusal):
        _check("role", False)
        raise lti_tool.LaunchRefused("role", landing)
    _check("role", True)
    via = {"platform": registration.issuer, "lti_user": facts.sub}
    if landing == "student":
        assert linked is not None
        return _student_lands(conn, facts=facts, linked=linked, via=via, base=base, now=now, request_id=request_id)
    teacher = db.lti_launch.teacher_identity(conn, facts, now)
    name = " ".join(lti.names_for(facts.given_name, facts.family_name, facts.name, facts.sub))

    if landing == "teacher":
        assert linked is not None
        role = lti.role_of(facts.roles)
        assert isinstance(role, Role)
        db.lti_launch.learn_link(conn, linked.facts.link_id, facts)
        change = db.lti_launch.grant_membership(
            conn, linked.exam_pk, linked.facts.exam_slug, teacher.examiner_id, role, name, teacher.lti_user_id
        )
        if isinstance(change, db.lti_launch.GrantRefused):
            # The launch's landing refused, logged with the exam and the teacher (nothing changed).
            _check("member", False)
            extra = {"reason": change.value, "exam_id": linked.facts.exam_slug} | via
            logger.info("LTI teacher not made a member", extra=extra)
            taken = change is db.lti_launch.GrantRefused.EXAM_ID_TAKEN
            kind: lti.RefusalKind = "exam-id-taken" if taken else "member-removed"
            raise lti_tool.LaunchRefused("member", lti.refusal(kind), change.value)
        actor = Actor(str(change.member_id), Role(change.role), request_id)
        events = []
        if change.joined:
            events.append(
                Event(
                    actor,
                    AuditAction.MEMBER_JOINED,
                    f"member:{change.member_id}",
                    after={"via": "lms", "role": change.role} | via,
                )
            )
        events.append(Event(actor, AuditAction.LTI_TEACHER_LAUNCHED, f"link:{linked.facts.link_id}", after=via))
        db.audit.append(conn, linked.exam_pk, events)
        token = _session(teacher, registration, facts, name, now, exam_id=linked.facts.exam_slug)
        return Redirect(f"{base}/examiner?lti=1#session={token}&exam={linked.facts.exam_slug}")
    settings = facts.deep_linking
    assert settings is not None  # a deep-linking request has its settings (check 11)
    request_row = db.lti.DeepLinkRow(
        id=uuid.uuid4(),
        registration_id=registration.id,
        deployment_id=facts.deployment_id,
        lti_user_id=teacher.lti_user_id,
        context_id=facts.context_id or "",  # checked above (check 13)
        context_title=facts.context_title,
        return_url=settings.return_url,
        data=settings.data,
        accept_line_item=settings.accept_line_item,
        expires_at=now + DEEP_LINK_LIFETIME,
    )
    db.lti_launch.insert_deep_link(conn, request_row)
    token = _session(teacher, registration, facts, name, now, deep_link=request_row.id)
    return Redirect(f"{base}/examiner?lti=1#session={token}&pick={request_row.id}")


def _session(
    teacher: db.lti_launch.TeacherIdentity,
    registration: db.lti.RegistrationRow,
    facts: lti.LaunchFacts,
    name: str,
    now: datetime,
    *,
    exam_id: str | None = None,
    deep_link: uuid.UUID | None = None,
) -> str:
    """The teacher's session (LtiSessionHours), for an exam or for placing one (a deep-linking request)."""
    claims = Session(
        caller_key=teacher.caller_key,
        exam_id=exam_id,
        deep_link=deep_link,
        platform=registration.issuer,
        lti_user=facts.sub,
        name=name,
        course=facts.context_title,
        jti=uuid.uuid4().hex,
        expires_at=now + timedelta(hours=load(LtiSettings).session_hours),
    )
    return sessions.mint(claims, now=now)


def _student_lands(
    conn: db.Connection,
    *,
    facts: lti.LaunchFacts,
    linked: db.lti_launch.LinkedExam,
    via: dict[str, str],
    base: str,
    now: datetime,
    request_id: str | None,
) -> Answer:
    """The learner's roster entry (made the first time), a one-time ticket, the upload page."""
    email, address = _email(facts.email)
    db.lti_launch.learn_link(conn, linked.facts.link_id, facts)
    learner = db.lti_launch.learner_for_launch(
        conn, linked.exam_pk, linked.facts.link_id, facts, email=email, email_address=address, now=now
    )
    actor = Actor(f"student:{learner.pseudonym}", None, request_id)
    target = f"student:{learner.pseudonym}"
    events = []
    if learner.created:
        events.append(
            Event(
                actor,
                AuditAction.STUDENT_ADDED,
                target,
                after={"pseudonym": learner.pseudonym, "via": "lms"},
                subjects=(learner.pseudonym,),
            )
        )
    events.append(Event(actor, AuditAction.LTI_STUDENT_LAUNCHED, target, after=via, subjects=(learner.pseudonym,)))
    db.audit.append(conn, linked.exam_pk, events)
    ticket = secrets.token_urlsafe(32)
    db.lti_launch.insert_ticket(conn, lti_tool.sha256_hex(ticket), learner.student_id, now + TICKET_LIFETIME)
    return Redirect(f"{base}/?lti=1#ticket={ticket}")


def _email(raw: str | None) -> tuple[str | None, str | None]:
    """The platform's address as an import takes it, or none: a launch never fails for an address."""
    if raw is None:
        return None, None
    from pydantic import TypeAdapter, ValidationError

    from exam_depository.domain.addresses import normalized_address
    from exam_depository.domain.inputs import Email

    try:
        email = TypeAdapter(Email).validate_python(raw)
        return email, normalized_address(email)
    except (ValidationError, ValueError):
        logger.info("LTI launch: the platform's address is refused; the student has none")
        return None, None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- tickets and keys -----------------------------------------------------------------------------


def redeem_ticket(ticket: str, now: datetime) -> str:
    """The upload code a learner's landing ticket stands for, once (410 `lti-ticket-used` after)."""
    if not _TOKEN.fullmatch(ticket):
        raise TicketUsed("Open the exam again from your course.")
    with db.transaction() as conn:
        code = db.lti_launch.redeem_ticket(conn, lti_tool.sha256_hex(ticket), now)
    if code is None:
        raise TicketUsed("Open the exam again from your course.")
    return code


def jwks() -> dict[str, list[dict[str, str]]]:
    from exam_depository.adapters import lti_keys

    return lti_keys.tool_jwks()


# --- dynamic registration -------------------------------------------------------------------------


def register(event: Mapping[str, Any], offer: str, now: datetime) -> Page:  # noqa: PLR0911 (each refusal its page)
    """GET /lti/register/{offer}?openid_configuration=…&registration_token=…: the examiner's one-time
    offer taken, the platform registered with (its configuration checked, our registration posted),
    the registration stored as the offer's owner's, the offer closed. The page tells the platform
    it may close its registration window (`org.imsglobal.lti.close`); a failure says why instead."""
    request = lti_tool.EventRequest(event)
    configuration_url = request.get_param("openid_configuration")
    if not _TOKEN.fullmatch(offer) or not configuration_url:
        return _not_registered("This registration link is not complete: paste it into the LMS as the console gave it.")
    with db.transaction() as conn:
        owner_id = db.lti_admin.take_offer(conn, lti_tool.sha256_hex(offer), now)
        if owner_id is None:
            return _not_registered(
                "This registration link was used already or has expired: get a new one in the console."
            )
        try:
            found = lti_tool.register_with_platform(
                configuration_url, request.get_param("registration_token") or None, base_url(event)
            )
        except lti_tool.RegistrationRefused as exc:
            return _not_registered(f"The platform's registration was refused: {exc}.")
        except lms_http.LmsUnreachable as exc:
            return _not_registered(f"The platform did not answer as it should: {exc.reason}.")
        fields = {
            "issuer": found.issuer,
            "client_id": found.client_id,
            "deployment_ids": [found.deployment_id or "none"],
            "auth_login_url": found.auth_login_url,
            "auth_token_url": found.auth_token_url,
            "key_set_url": found.key_set_url,
        }
        try:
            registration_in = RegistrationIn.model_validate(fields)
        except ValidationError:
            return _not_registered("The platform's configuration names addresses this tool does not call.")
        if found.deployment_id is None:
            # No deployment yet: launches are refused until the owner adds one (POST /lti/registrations).
            registration_in = registration_in.model_copy(update={"deployment_ids": []})
        try:
            registration = db.lti_admin.insert_registration(
                conn,
                owner_id,
                registration_in,
                how="dynamic",
                platform_name=found.platform_name,
                product_family_code=found.product_family_code,
                scopes=found.scopes,
            )
        except RegistrationExists:
            return _not_registered("This platform has registered Exam Depository already.")
        db.lti_admin.close_offer(conn, lti_tool.sha256_hex(offer), registration.id)
    logger.info("lti_registration.created", extra={"issuer": registration.issuer, "how": "dynamic"})
    name = found.platform_name or found.issuer
    return Page("registered.html", {"registered": "yes", "outcome": f"Exam Depository is registered with {name}."})


def _not_registered(reason: str) -> Page:
    logger.info("LTI dynamic registration refused", extra={"reason": reason})
    return Page("registered.html", {"registered": "no", "outcome": reason}, status=400)
