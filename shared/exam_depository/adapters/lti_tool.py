"""pylti1p3 (pylti1p3next) wired for an API Gateway proxy event: the only module that imports it.

The library does the protocol: the OIDC authorization request of a login, the id token's format,
registration, key and message validation, the deep-linking response, the service connector's token
request. What it leaves undone, and a tool must do, is here: the checks run in our order with ours
between them (`ToolLaunch.validate`: the audience and `azp`, the token's age, the nonce used once and
only after the signature, the login's deployment and target), the platform's key set cached with a
refetch for an unknown `kid`, every outbound call through `lms_http`'s guarded session, and the
tool's signatures made by KMS (`lti_keys`): the private key the library asks for is the placeholder
`kms:<key id>`, never a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID

import jwt
import requests
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.deployment import Deployment
from pylti1p3.dynamic_registration import DynamicRegistration
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.session import SessionService
from pylti1p3.tool_config.abstract import ToolConfAbstract

from exam_depository.adapters import lms_http, lti_keys
from exam_depository.adapters.db import lti_launch
from exam_depository.domain import lti
from exam_depository.domain.characters import unstorable
from exam_depository.observability import logger

# Room for an id token carrying the longest deep-linking `data` kept (16 KiB, base64 in a JWT).
MAX_FORM_BYTES = 64 * 1024
COOKIE_PREFIX = "lti-state-"
LOGIN_MINUTES = 5
KEY_SET_TTL_S = 600  # a platform's key set is kept ten minutes per execution environment
REFETCH_EVERY_S = 60  # an unknown kid fetches the key set again, at most once a minute per URL


class LaunchRefused(Exception):
    """A check failed: the refusal the page shows, and which check refused."""

    def __init__(self, check: str, refusal: lti.LtiRefusal, detail: str = "") -> None:
        super().__init__(f"{check}: {refusal.kind} {detail}".strip())
        self.check = check
        self.refusal = refusal
        self.detail = detail


def refused(check: str, kind: lti.RefusalKind, detail: str = "") -> LaunchRefused:
    return LaunchRefused(check, lti.refusal(kind), detail)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def state_cookie_name(state: str) -> str:
    """The cookie that binds a login's state to the browser that started it."""
    return COOKIE_PREFIX + sha256_hex(state)[:8]


def probe_cookie_name(state: str) -> str:
    """The readable cookie set beside the state's: the login page checks that it arrived."""
    return "lti-probe-" + sha256_hex(state)[:8]


# --- the request, its cookies, the login's store ------------------------------------------------


class EventRequest(Request):
    """An API Gateway proxy event as pylti1p3 reads a request: form fields, then query parameters."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        body = event.get("body") or ""
        if event.get("isBase64Encoded") and body:
            body = base64.b64decode(body).decode("utf-8", "replace")
        self.body_bytes = len(body.encode())
        self.form: dict[str, str] = (
            dict(parse_qsl(body, keep_blank_values=True)) if self.body_bytes <= MAX_FORM_BYTES else {}
        )
        self.query: dict[str, str] = dict(event.get("queryStringParameters") or {})
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        self.headers: dict[str, str] = headers

    @property
    def session(self) -> None:
        return None

    def is_secure(self) -> bool:
        return True

    def get_param(self, key: str) -> str:
        return self.form.get(key) or self.query.get(key) or ""

    def params(self) -> dict[str, str]:
        return {**self.query, **self.form}


class ResponseCookies:
    """pylti1p3's cookie service over the `Cookie` header; the cookies it sets are collected for the
    answer: partitioned (CHIPS) third-party cookies that reach the tool inside the LMS's iframe."""

    def __init__(self, request: EventRequest) -> None:
        self._jar: dict[str, str] = {}
        try:
            parsed: SimpleCookie = SimpleCookie(request.headers.get("cookie", ""))
            self._jar = {name: morsel.value for name, morsel in parsed.items()}
        except CookieError:
            self._jar = {}
        self.set_cookies: list[str] = []

    def get_cookie(self, name: str) -> str | None:
        return self._jar.get(name)

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        # pylti1p3 names the state cookie by the state itself; ours is named by its hash's prefix.
        cookie = state_cookie_name(str(value)) if name == value else name
        self.set_cookies.append(
            f"{cookie}={value}; Path=/; Max-Age={exp or 300}; Secure; HttpOnly; SameSite=None; Partitioned"
        )
        # Its readable twin: the login page looks for it to learn whether this browser kept the
        # cookies of the tool's frame (Safari's third-party frames do not) before leaving for the LMS.
        self.set_cookies.append(
            f"{probe_cookie_name(str(value))}=1; Path=/; Max-Age={exp or 300}; Secure; SameSite=None; Partitioned"
        )


class LoginStore(SessionService):
    """pylti1p3's session service, reduced to what a login makes: the nonce it asked for. The usecase
    writes the login's row (`db.lti_launch.insert_login`); the launch uses it once (check 9)."""

    def __init__(self) -> None:
        self.nonce: str | None = None

    def save_nonce(self, nonce: str) -> None:
        self.nonce = nonce

    def save_state_params(self, state: str, params: Mapping[str, object]) -> None:
        """Nothing travels from the login to the launch but its row."""

    def check_nonce(self, nonce: str) -> bool:
        # Never asked: the launch's own check 9 compares and uses the login's nonce.
        return False


# --- registrations from rows ---------------------------------------------------------------------


def registration_of(row: Any) -> Registration:
    """pylti1p3's registration of a `lti_registration` row; the private key is KMS's placeholder."""
    registration = (
        Registration()
        .set_issuer(row.issuer)
        .set_client_id(row.client_id)
        .set_auth_login_url(row.auth_login_url)
        .set_auth_token_url(row.auth_token_url)
        .set_key_set_url(row.key_set_url)
        .set_tool_private_key(f"kms:{lti_keys.published()[0]}")
    )
    if row.auth_audience:
        registration.set_auth_audience(row.auth_audience)
    return registration


class RowsToolConf(ToolConfAbstract[EventRequest]):
    """The tool's configuration read from `lti_registration` and `lti_deployment` as asked. For a
    launch, the registration is its login's: the token's issuer must be that registration's, and
    the client id it names may not be another registration's (the audience is check 6)."""

    def __init__(self, conn: Any, login_registration_id: int | None = None) -> None:
        super().__init__()
        self._conn = conn
        self._login_registration_id = login_registration_id
        self.row: Any = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False  # a platform may register the tool more than once (several client ids)

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise LtiException("a registration is found by issuer and client id")

    def find_registration_by_params(  # type: ignore[override]  # None: no such registration (pylti1p3 checks for it)
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration | None:
        named = lti_launch.registration_for(self._conn, iss, client_id or None)  # a login may omit it
        if self._login_registration_id is None:
            row = named
        else:
            row = lti_launch.registration_by_id(self._conn, self._login_registration_id)
            if row is None or not row.active or row.issuer != iss or (named is not None and named.id != row.id):
                row = None
        if row is None:
            return None
        self.row = row
        return registration_of(row)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        if self.row is None or deployment_id not in lti_launch.deployments_of(self._conn, self.row.id):
            return None
        return Deployment().set_deployment_id(deployment_id)


# --- the login ------------------------------------------------------------------------------------


class _UrlRedirect(Redirect[str]):
    def __init__(self, location: str) -> None:
        self._location = location

    def do_redirect(self) -> str:
        return self._location

    def do_js_redirect(self) -> str:
        return self._location

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


@dataclass(frozen=True)
class LoginAnswer:
    """What a login makes: the authorization request's URL, the state and nonce it carries, and the
    cookie binding the state to this browser."""

    auth_url: str
    state: str
    nonce: str
    set_cookies: tuple[str, ...]


class ToolLogin(OIDCLogin[EventRequest, RowsToolConf, LoginStore, ResponseCookies, str]):  # type: ignore[type-var]
    """pylti1p3's OIDC login with our state and nonce (32 random bytes each, base64url)."""

    def get_redirect(self, url: str) -> Redirect[str]:
        return _UrlRedirect(url)

    def _get_uuid(self) -> str:
        import secrets

        return secrets.token_urlsafe(32)

    def _generate_nonce(self) -> str:
        import secrets

        return secrets.token_urlsafe(32)


def login_of(request: EventRequest, conf: RowsToolConf, launch_url: str) -> LoginAnswer:
    """The OIDC authorization request for this login (the registration found in `conf`)."""
    cookies = ResponseCookies(request)
    store = LoginStore()
    login = ToolLogin(request, conf, session_service=store, cookie_service=cookies)
    try:
        auth_url = login.get_redirect_object(launch_url).get_redirect_url()
    except (LtiException, OIDCException) as exc:
        raise refused("registration", "platform-unknown", str(exc)) from exc
    state = dict(parse_qsl(auth_url.split("?", 1)[1]))["state"]
    assert store.nonce is not None, "pylti1p3 saves the nonce of every login"
    return LoginAnswer(auth_url=auth_url, state=state, nonce=store.nonce, set_cookies=tuple(cookies.set_cookies))


# --- the platform's key set -------------------------------------------------------------------------

_key_sets: dict[str, tuple[float, dict[str, Any]]] = {}
_refetched: dict[str, float] = {}
_key_sets_lock = threading.Lock()


def reset() -> None:
    """Forget the platforms' key sets and the tokens kept (tests)."""
    with _key_sets_lock:
        _key_sets.clear()
        _refetched.clear()
    _tokens.clear()


def _fetch_key_set(url: str) -> dict[str, Any]:
    answer = lms_http.session().get(url)
    if not answer.ok:
        raise lms_http.LmsUnreachable(url, f"the key set answered {answer.status_code}")
    try:
        key_set = answer.json()
    except ValueError as exc:
        raise lms_http.LmsUnreachable(url, "the key set is not JSON") from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise lms_http.LmsUnreachable(url, "the key set has no keys")
    return key_set


def key_set(url: str, kid: str) -> dict[str, Any]:
    """The platform's key set: kept 10 minutes; fetched again when it lacks `kid` (a platform that
    rotated its keys), at most once a minute."""
    now = time.monotonic()
    with _key_sets_lock:
        cached = _key_sets.get(url)
    if cached is not None and now - cached[0] < KEY_SET_TTL_S:
        if any(key.get("kid") == kid for key in cached[1]["keys"]):
            return cached[1]
        if now - _refetched.get(url, -REFETCH_EVERY_S) < REFETCH_EVERY_S:
            return cached[1]
        _refetched[url] = now
    fetched = _fetch_key_set(url)
    with _key_sets_lock:
        _key_sets[url] = (now, fetched)
    return fetched


# --- the launch -------------------------------------------------------------------------------------


class ToolLaunch(MessageLaunch[EventRequest, RowsToolConf, LoginStore, ResponseCookies]):  # type: ignore[type-var]
    """pylti1p3's launch validation, its steps called in our order with our checks between them."""

    def __init__(
        self,
        request: EventRequest,
        conf: RowsToolConf,
        *,
        login: Any,
        conn: Any,
        now: datetime,
        on_check: Callable[[str, bool], None],
    ) -> None:
        super().__init__(
            request,
            conf,
            session_service=LoginStore(),
            cookie_service=ResponseCookies(request),
            requests_session=lms_http.session(),
            service_connector_cls=KmsServiceConnector,
        )
        self._login = login
        self._conn = conn
        self._now = now
        self._on_check = on_check
        self._auto_validation = False

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)

    def _run(self, check: str, kind: lti.RefusalKind, step: Callable[[], object]) -> None:
        try:
            step()
        except LaunchRefused:
            self._on_check(check, False)
            raise
        except lms_http.LmsUnreachable as exc:
            self._on_check(check, False)
            raise refused(check, "platform-unreachable", exc.reason) from exc
        except (LtiException, AssertionError, KeyError, TypeError, ValueError) as exc:
            self._on_check(check, False)
            raise refused(check, kind, str(exc)) from exc
        self._on_check(check, True)

    def validate(self) -> ToolLaunch:
        """Checks 4 to 12, each logged; the first that fails raises `LaunchRefused`."""
        self._run("format", "token-malformed", self._check_format)
        self._run("registration", "platform-unknown", self._check_registration)
        self._run("audience", "wrong-audience", self._check_audience)
        self._run("signature", "signature", self.validate_jwt_signature)
        self._run("time", "expired", self._check_time)
        self._run("nonce", "nonce-reused", self._check_nonce)
        self._run("deployment", "deployment-unknown", self._check_deployment)
        self._run("message", "message-invalid", self.validate_message)
        self._run("target", "wrong-target", self._check_target)
        self._validated = True
        return self

    def _check_format(self) -> None:
        self.validate_jwt_format()
        header = self._jwt.get("header", {})
        if header.get("alg") != "RS256":
            raise refused("format", "token-malformed", f"alg {header.get('alg')!r}")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise refused("format", "token-malformed", "no kid")
        if not isinstance(self._jwt.get("body"), dict):
            raise refused("format", "token-malformed", "the payload is not an object")

    def get_client_id(self) -> str:
        body = self._jwt.get("body", {})
        azp, aud = body.get("azp"), body.get("aud")
        if isinstance(azp, str):
            return azp
        return cast("str", aud[0] if isinstance(aud, list) and aud else aud)

    def _check_registration(self) -> None:
        registration = self._tool_config.find_registration_by_params(self.get_iss(), self.get_client_id())
        if registration is None:
            raise refused("registration", "platform-unknown", "not the login's registration")
        self._registration = registration

    def _check_audience(self) -> None:
        body = self._jwt["body"]
        found = lti.audience_refusal(body.get("aud"), body.get("azp"), self._tool_config.row.client_id)
        if found is not None:
            raise LaunchRefused("audience", found)

    def validate_jwt_signature(self) -> ToolLaunch:
        registration = self._registration
        assert registration is not None, "the registration is found first"
        url = registration.get_key_set_url()
        assert url is not None, "a registration has a key set URL"
        kid = self._jwt["header"]["kid"]
        keys = key_set(url, kid)
        jwk = next((key for key in keys["keys"] if key.get("kid") == kid), None)
        if jwk is None:
            raise refused("signature", "signature", "no key of the platform has this kid")
        try:
            public_key = jwt.PyJWK(jwk, algorithm="RS256").key
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=["RS256"],
                leeway=lti.LEEWAY_S,
                options={"verify_aud": False, "require": ["exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise refused("signature", "expired", str(exc)) from exc
        except (jwt.InvalidTokenError, jwt.PyJWKError) as exc:
            raise refused("signature", "signature", str(exc)) from exc
        return self

    def _check_time(self) -> None:
        body = self._jwt["body"]
        found = lti.time_refusal(body.get("exp"), body.get("iat"), self._now)
        if found is not None:
            raise LaunchRefused("time", found)

    def _check_nonce(self) -> None:
        nonce = self._jwt["body"].get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), self._login.nonce.encode()):
            raise refused("nonce", "nonce-reused", "not the login's nonce")
        if not lti_launch.use_login(self._conn, self._login.state_sha256, self._now):
            raise refused("nonce", "nonce-reused", "the login was used already")

    def _check_deployment(self) -> None:
        self.validate_deployment()
        hint = self._login.deployment_hint
        if hint and hint != self._get_deployment_id():
            raise refused("deployment", "deployment-unknown", "not the login's deployment")

    def _check_target(self) -> None:
        target = self._jwt["body"].get(lti.CLAIM + "target_link_uri")
        if target != self._login.target_link_uri:
            raise refused("target", "wrong-target", "not the login's target")

    def facts(self) -> lti.LaunchFacts:
        """What the validated token says, read once."""
        return facts_of(self._jwt["body"], registration_id=self._tool_config.row.id)


def _text(value: object) -> str | None:
    """A claim's text, stripped; none for a text no column can store (a NUL, a lone surrogate)."""
    if not isinstance(value, str) or unstorable(value):
        return None
    return value.strip() or None


# The columns' limits (migration 0016): a longer course title is cut to it (it is shown, not
# matched); the deep-linking `data` is echoed exactly (Canvas sends a JWT), so a longer one is
# refused; so is a longer identifier (the user, the course, the link: matched, never cut); a
# longer service URL is dropped (the launch goes on without that service).
CONTEXT_TITLE_CHARS = 300
ID_CHARS = 255
URL_CHARS = 2000
DEEP_LINK_DATA_CHARS = 16384


def _identifier(value: str | None, claim: str) -> str | None:
    if value is not None and len(value) > ID_CHARS:
        raise refused("message", "message-invalid", f"{claim} longer than {ID_CHARS} characters")
    return value


def _service_url(value: object, claim: str) -> str | None:
    url = _text(value)
    if url is not None and len(url) > URL_CHARS:
        logger.info("LTI launch: a service URL too long to keep is dropped", extra={"claim": claim, "chars": len(url)})
        return None
    return url


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit].rstrip() or None if value else None


def _deep_linking(dl: Mapping[str, Any]) -> lti.DeepLinkSettings:
    """The deep-linking settings, each claim read here: one missing or too long refuses the launch."""
    return_url, data = dl.get("deep_link_return_url"), dl.get("data")
    if not isinstance(return_url, str) or not return_url.strip() or len(return_url) > URL_CHARS:
        raise refused("message", "message-invalid", "deep_link_return_url missing or too long")
    if data is not None and not isinstance(data, str):
        raise refused("message", "message-invalid", "data is not a string")
    if data is not None and len(data) > DEEP_LINK_DATA_CHARS:
        raise refused("message", "message-invalid", "data too long to echo")
    return lti.DeepLinkSettings(
        return_url=return_url,
        accept_types=tuple(dl.get("accept_types") or ()),
        accept_line_item=dl.get("accept_lineitem") is not False,
        data=data,
    )


def facts_of(body: Mapping[str, Any], *, registration_id: int) -> lti.LaunchFacts:
    """The claims of a validated id token as `LaunchFacts` (raises `LaunchRefused` message-invalid
    for a deep-linking claim it cannot keep)."""
    context = body.get(lti.CLAIM + "context") or {}
    resource_link = body.get(lti.CLAIM + "resource_link") or {}
    custom = body.get(lti.CLAIM + "custom") or {}
    ags = body.get(lti.AGS_CLAIM)
    nrps = body.get(lti.NRPS_CLAIM)
    dl = body.get(lti.DL_CLAIM + "deep_linking_settings")
    sub = str(body["sub"])
    if unstorable(sub) or not 1 <= len(sub) <= ID_CHARS:
        raise refused("message", "message-invalid", "sub empty, too long or holding a control character")
    return lti.LaunchFacts(
        registration_id=registration_id,
        deployment_id=str(body[lti.CLAIM + "deployment_id"]),
        sub=sub,
        message_type=body[lti.CLAIM + "message_type"],
        roles=tuple(role for role in body.get(lti.CLAIM + "roles") or () if isinstance(role, str)),
        context_id=_identifier(_text(context.get("id")), "context id") if isinstance(context, dict) else None,
        context_title=_cut(_text(context.get("title")), CONTEXT_TITLE_CHARS) if isinstance(context, dict) else None,
        resource_link_id=_identifier(_text(resource_link.get("id")), "resource link id")
        if isinstance(resource_link, dict)
        else None,
        custom={str(k): str(v) for k, v in custom.items() if not unstorable(str(k) + str(v))}
        if isinstance(custom, dict)
        else {},
        given_name=_text(body.get("given_name")),
        family_name=_text(body.get("family_name")),
        name=_text(body.get("name")),
        email=_text(body.get("email")),
        locale=_text(body.get("locale")),
        ags=lti.AgsClaim(
            scope=tuple(ags.get("scope") or ()),
            lineitems=_service_url(ags.get("lineitems"), "lineitems"),
            lineitem=_service_url(ags.get("lineitem"), "lineitem"),
        )
        if isinstance(ags, dict)
        else None,
        memberships_url=_service_url(nrps.get("context_memberships_url"), "context_memberships_url")
        if isinstance(nrps, dict)
        else None,
        deep_linking=_deep_linking(dl) if isinstance(dl, dict) else None,
        target_link_uri=str(body.get(lti.CLAIM + "target_link_uri") or ""),
    )


def launch_of(
    event: Mapping[str, Any], conn: Any, login: Any, now: datetime, on_check: Callable[[str, bool], None]
) -> ToolLaunch:
    """The launch of this event for its login row (checks 1 to 3 passed); `validate()` runs the rest."""
    request = EventRequest(event)
    conf = RowsToolConf(conn, login.registration_id)
    return ToolLaunch(request, conf, login=login, conn=conn, now=now, on_check=on_check)


# --- what the tool signs: deep-linking responses, service tokens -------------------------------------


class KmsDeepLink(DeepLink):
    """pylti1p3's deep-linking response, signed by the tool's key in KMS."""

    def encode_jwt(self, message: dict[str, object]) -> str:
        return lti_keys.sign_rs256(message, kid=lti_keys.current_kid())


_tokens: dict[str, tuple[float, str]] = {}


class KmsServiceConnector(ServiceConnector):
    """pylti1p3's service connector: its client assertion signed by KMS, its access tokens kept per
    (registration, scopes) in this execution environment until a minute before they expire."""

    def encode_jwt(self, message: dict[str, str | int], private_key: str, headers: dict[str, str]) -> str:
        return lti_keys.sign_rs256(message, kid=lti_keys.current_kid())

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        kept = _tokens.get(scope_key)
        if kept is None or kept[0] <= time.monotonic():
            return None
        return kept[1]

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        _tokens[scope_key] = (time.monotonic() + max(float(expires_in or 0) - 60, 0), access_token)

    def forget_token(self, scopes: list[str]) -> None:
        """Drop the kept token of these scopes (the platform refused it)."""
        _tokens.pop(self._scope_key(sorted(scopes)), None)


def service_connector(registration_row: Any) -> KmsServiceConnector:
    """The service connector of a registration, calling through the guarded session."""
    return KmsServiceConnector(registration_of(registration_row), lms_http.session())


@dataclass(frozen=True)
class LinkItem:
    """The resource link a deep-linking response places: the exam, its link, its gradebook column."""

    title: str
    url: str
    exam_id: str
    link_id: UUID
    line_item_label: str | None  # None: the platform takes no line item
    end_date_time: str | None  # RFC 3339: the exam's cutoff


def deep_link_response(
    registration_row: Any, deployment_id: str, settings: lti.DeepLinkSettings, item: LinkItem
) -> str:
    """The signed `LtiDeepLinkingResponse` JWT placing `item` (its `data` echoed)."""
    resource = (
        DeepLinkResource()
        .set_title(item.title)
        .set_url(item.url)
        .set_custom_params({"exam_id": item.exam_id, "link": str(item.link_id)})
    )
    if item.line_item_label is not None and settings.accept_line_item:
        line_item = (
            LineItem()
            .set_score_maximum(1)
            .set_label(item.line_item_label)
            .set_resource_id(str(item.link_id))
            .set_tag("hand-in")
        )
        resource.set_lineitem(line_item)
    dl_settings: dict[str, Any] = {
        "deep_link_return_url": settings.return_url,
        "accept_types": list(settings.accept_types),
        "accept_presentation_document_targets": ["iframe", "window"],
    }
    if settings.data is not None:
        dl_settings["data"] = settings.data
    deep_link = KmsDeepLink(registration_of(registration_row), deployment_id, cast("Any", dl_settings))
    message = deep_link.get_message_jwt([resource])
    if item.end_date_time is not None:
        items = cast("list[dict[str, object]]", message[lti.DL_CLAIM + "content_items"])
        items[0]["submission"] = {"endDateTime": item.end_date_time}
    if settings.data is None:
        message.pop(lti.DL_CLAIM + "data", None)
    return deep_link.encode_jwt(message)


# --- the login's URL again, for "Open in a new window" ----------------------------------------------


def new_window_url(login_url: str, params: Mapping[str, str]) -> str:
    """This login again, as a top-level page: its parameters as a query, with `new_window=1`."""
    kept = {key: value for key, value in params.items() if key != "lti_storage_target" and value}
    return f"{login_url}?{urlencode({**kept, 'new_window': '1'})}"


# --- dynamic registration ----------------------------------------------------------------------------

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


class RegistrationRefused(Exception):
    """The platform's configuration or its answer to our registration is not one we register with."""


@dataclass(frozen=True)
class PlatformRegistered:
    """What a dynamic registration learnt: the platform's URLs from its configuration, the client
    id (and deployment, when it made one) from its answer, the scopes it granted."""

    issuer: str
    client_id: str
    deployment_id: str | None
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    platform_name: str | None
    product_family_code: str | None
    scopes: tuple[str, ...]


class ToolRegistration(DynamicRegistration):
    """pylti1p3's dynamic registration through the guarded session, with the checks it leaves as
    `assert`s made ours and one it lacks: the configuration's issuer is where it came from."""

    def __init__(
        self, configuration_url: str, registration_token: str | None, base: str, *, allow_loopback: bool
    ) -> None:
        self._configuration_url = configuration_url
        self._token = registration_token
        self._base = base
        self._allow_loopback = allow_loopback
        self.configuration: dict[str, Any] = {}

    def get_request_session(self) -> requests.Session:
        return lms_http.session()

    def get_openid_configuration_endpoint(self) -> str:
        return self._configuration_url

    def get_registration_token(self) -> str | None:  # type: ignore[override]
        return self._token

    def get_openid_configuration(self) -> dict[str, Any]:
        answer = lms_http.session().get(self._configuration_url)
        if not answer.ok:
            raise RegistrationRefused(f"the platform's configuration answered {answer.status_code}")
        try:
            configuration = answer.json()
        except ValueError as exc:
            raise RegistrationRefused("the platform's configuration is not JSON") from exc
        if not isinstance(configuration, dict):
            raise RegistrationRefused("the platform's configuration is not a JSON object")
        issuer = configuration.get("issuer")
        schemes = ("https://", "http://") if self._allow_loopback else ("https://",)
        if not isinstance(issuer, str) or not issuer.startswith(schemes):
            raise RegistrationRefused("the platform's issuer is not an https URL")
        if not self._configuration_url.startswith(issuer.rstrip("/") + "/") and self._configuration_url != issuer:
            raise RegistrationRefused("the configuration does not come from the platform it names (its issuer)")
        for name in ("registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(configuration.get(name), str):
                raise RegistrationRefused(f"the platform's configuration has no {name}")
        if "RS256" not in (configuration.get("id_token_signing_alg_values_supported") or ()):
            raise RegistrationRefused("the platform does not sign id tokens with RS256")
        if not isinstance(configuration.get(PLATFORM_CONFIGURATION), dict):
            raise RegistrationRefused("the configuration is not an LTI platform's")
        self.configuration = configuration
        return configuration

    def lti_registration_data(self) -> dict[str, Any]:
        launch = f"{self._base}/lti/launch"
        return {
            "application_type": "web",
            "response_types": ["id_token"],
            "grant_types": ["implicit", "client_credentials"],
            "initiate_login_uri": f"{self._base}/lti/login",
            "redirect_uris": [launch],
            "client_name": "Exam Depository",
            "jwks_uri": f"{self._base}/lti/jwks.json",
            "token_endpoint_auth_method": "private_key_jwt",
            "scope": " ".join(lti.SCOPES),
            TOOL_CONFIGURATION: {
                "domain": urlsplit(self._base).netloc,
                "target_link_uri": launch,
                "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
                "messages": [
                    {
                        "type": "LtiDeepLinkingRequest",
                        "target_link_uri": launch,
                        "label": "Exam Depository",
                        "placements": ["ContentArea"],
                    },
                    {"type": "LtiResourceLinkRequest"},
                ],
            },
        }

    def complete_registration(self, configuration: dict[str, Any], registration: dict[str, Any]) -> PlatformRegistered:
        client_id = registration.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise RegistrationRefused("the platform's answer has no client id")
        tool = registration.get(TOOL_CONFIGURATION) or {}
        deployment = tool.get("deployment_id") if isinstance(tool, dict) else None
        platform = configuration.get(PLATFORM_CONFIGURATION) or {}
        scope = registration.get("scope")
        return PlatformRegistered(
            issuer=configuration["issuer"],
            client_id=client_id,
            deployment_id=deployment if isinstance(deployment, str) and deployment else None,
            auth_login_url=configuration["authorization_endpoint"],
            auth_token_url=configuration["token_endpoint"],
            key_set_url=configuration["jwks_uri"],
            platform_name=_platform_name(configuration),
            product_family_code=_text(platform.get("product_family_code")),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )


def _platform_name(configuration: Mapping[str, Any]) -> str | None:
    """What the platform calls itself: its configuration's `product_family_code` and `version`."""
    platform = configuration.get(PLATFORM_CONFIGURATION) or {}
    if not isinstance(platform, dict):
        return None
    parts = [_text(platform.get("product_family_code")), _text(platform.get("version"))]
    return " ".join(part for part in parts if part)[:200] or None


def register_with_platform(configuration_url: str, registration_token: str | None, base: str) -> PlatformRegistered:
    """Dynamic registration: fetch the platform's configuration, check it, post our registration
    (with the platform's one-time token), read its answer. Raises `RegistrationRefused` or
    `lms_http.LmsUnreachable`."""
    from exam_depository.adapters.lti_settings import LtiSettings
    from exam_depository.config import load

    registration = ToolRegistration(
        configuration_url, registration_token, base, allow_loopback=load(LtiSettings).allow_loopback
    )
    try:
        registered = registration.register()
    except (LtiException, AssertionError) as exc:
        raise RegistrationRefused(str(exc)) from exc
    return cast("PlatformRegistered", registered)
