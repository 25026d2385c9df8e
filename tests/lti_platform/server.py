"""The platform on loopback: an LMS the LTI tests launch from, speaking LTI 1.3 as a platform does.

`Platform` serves, on 127.0.0.1 with the issuer `http://localhost:<port>` (another site than the tool
at 127.0.0.1, as an LMS and a tool are):

- `GET /course/<context>?as=<user>&frame=1|0&storage=0|1`: the course page. Each resource link is a
  form posting the OIDC login initiation to its tool (into the iframe `tool` when `frame=1`); an
  instructor also sees "Add <tool>" (a deep-linking request). With `storage=1` the page holds the
  platform's storage frame (`storage_frame.py`, served at its `PATH`) and the logins name it.
- `GET /auth`: the OIDC authorization endpoint (the tool's login sends the browser here): checks the
  request, then auto-posts the signed launch (`id_token`, `state`) to the `redirect_uri`.
- `POST /deep-link-return`: the deep-linking response, verified against the tool's key set; the
  resource link and its line item are made in the course.
- `POST /token`: client credentials with the tool's signed assertion (verified against its key set).
- `GET /courses/<context>/memberships`: NRPS, `limit`-sized pages linked by `rel="next"`.
- `GET /courses/<context>/lineitems`, `GET …/lineitems/<id>/lineitem` and `POST
  …/lineitems/<id>/lineitem/scores`: AGS. The line item URL carries a query (`?type_id=1`, as
  Moodle's does): a score is posted to the path with `/scores` before it.
- `GET /.well-known/jwks.json`: the platform's key set.

What it cannot prove: that a real LMS accepts what the tool sends (Moodle, Canvas, Blackboard and
Brightspace differ in what they require beyond the specification); it implements the specification's
MUSTs the tool relies on, no more.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
import requests.adapters
from lti1p3platform.exceptions import LtiDeepLinkingResponseException, LtiException

from tests.lti_platform import keys, storage_frame, tokens
from tests.lti_platform.platform import (
    INSTRUCTOR,
    LEARNER,
    LINEITEM_SCOPE,
    MEMBERSHIP_SCOPE,
    MEMBERSHIP_TYPE,
    SCORE_SCOPE,
    SCORE_TYPE,
    TEACHING_ASSISTANT,
    AuthRequest,
    Course,
    Launch,
    LineItem,
    Member,
    PlatformConf,
    ResourceLink,
    Score,
    State,
    Tool,
    User,
    new_id,
    public_pem_of,
    registration_of,
)

DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
STAFF = (INSTRUCTOR, TEACHING_ASSISTANT)


class Platform:
    """The LMS: state in memory (`State`), served by a `ThreadingHTTPServer` while started."""

    def __init__(self, *, key: keys.KeyPair | None = None, page_size: int = 100) -> None:
        self.private_key_pem = (key or keys.platform()).private_pem
        self.retired_keys: list[str] = []  # private PEMs still published after a rotation
        self.page_size = page_size  # NRPS members per page when the tool asks no `limit`
        self.state = State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- running

    def start(self) -> Platform:
        platform = self

        class Handler(_Handler):
            owner = platform

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="lti-platform", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def issuer(self) -> str:
        assert self.port, "the platform is not started"
        return f"http://localhost:{self.port}"

    def url(self, path: str) -> str:
        return self.issuer + path

    @property
    def auth_url(self) -> str:
        return self.url("/auth")

    @property
    def token_url(self) -> str:
        return self.url("/token")

    @property
    def jwks_url(self) -> str:
        return self.url("/.well-known/jwks.json")

    def jwks(self) -> dict[str, Any]:
        published = []
        for pem in (self.private_key_pem, *self.retired_keys):
            registration = registration_of(Tool("-", "-", "", [], "", "", ""), issuer=self.issuer, private_pem=pem)
            published.extend(registration.get_jwks())
        return {"keys": published}

    def rotate_key(self, key: keys.KeyPair, *, keep_old: bool = False) -> None:
        """Sign with `key` from now on (a platform rotating its keys); the old key stays in the
        key set only when `keep_old`."""
        if keep_old:
            self.retired_keys.append(self.private_key_pem)
        self.private_key_pem = key.private_pem

    # --- the LMS's administration, for tests

    def register_tool(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        deployment_id: str | None = None,
        login_url: str | None = None,
        launch_url: str | None = None,
        jwks_url: str | None = None,
        redirect_uris: list[str] | None = None,
        name: str = "Exam Depository",
        key_set: dict[str, Any] | None = None,
    ) -> Tool:
        """Register a tool whose URLs are `base_url`'s (`/lti/login`, `/lti/launch`,
        `/lti/jwks.json`) unless given."""
        launch = launch_url or f"{base_url}/lti/launch"
        tool = Tool(
            client_id=client_id or new_id("client"),
            deployment_id=deployment_id or new_id("deployment"),
            login_url=login_url or f"{base_url}/lti/login",
            redirect_uris=redirect_uris or [launch],
            jwks_url=jwks_url or f"{base_url}/lti/jwks.json",
            launch_url=launch,
            deep_linking_url=launch,
            name=name,
            key_set=key_set,
        )
        with self.state.lock:
            self.state.tools[tool.client_id] = tool
        return tool

    def registration_in(self, tool: Tool) -> dict[str, Any]:
        """The tool's `POST /lti/registrations` body for this platform (the platform's side of a
        registration by hand: what an LMS's "tool configuration details" show)."""
        return {
            "issuer": self.issuer,
            "client_id": tool.client_id,
            "deployment_ids": [tool.deployment_id],
            "auth_login_url": self.auth_url,
            "auth_token_url": self.token_url,
            "key_set_url": self.jwks_url,
        }

    def add_user(
        self, user_id: str, given_name: str | None = None, family_name: str | None = None, email: str | None = None
    ) -> User:
        user = User(user_id, given_name, family_name, email)
        with self.state.lock:
            self.state.users[user_id] = user
        return user

    def add_course(self, context_id: str, title: str) -> Course:
        course = Course(context_id, title)
        with self.state.lock:
            self.state.courses[context_id] = course
        return course

    def add_member(self, context_id: str, user_id: str, roles: list[str] | None = None, status: str = "Active") -> None:
        with self.state.lock:
            assert user_id in self.state.users, f"no user {user_id}"
            self.state.courses[context_id].members[user_id] = Member(user_id, roles or [LEARNER], status)

    def drop_member(self, context_id: str, user_id: str) -> None:
        with self.state.lock:
            del self.state.courses[context_id].members[user_id]

    def add_link(
        self,
        context_id: str,
        tool: Tool,
        title: str,
        custom: dict[str, str],
        *,
        line_item_label: str | None = None,
    ) -> ResourceLink:
        """A resource link placed by hand (a deep-linking response makes them otherwise)."""
        with self.state.lock:
            link = ResourceLink(new_id("link"), context_id, tool.client_id, title, tool.launch_url, dict(custom))
            if line_item_label is not None:
                item = LineItem(new_id("item"), context_id, line_item_label, 1.0, resource_link_id=link.id)
                self.state.line_items[item.id] = item
                link.line_item_id = item.id
            self.state.links[link.id] = link
            return link

    def links_of(self, context_id: str) -> list[ResourceLink]:
        with self.state.lock:
            return [link for link in self.state.links.values() if link.context_id == context_id]

    def line_item(self, item_id: str) -> LineItem:
        with self.state.lock:
            return self.state.line_items[item_id]

    def scores(self, line_item_id: str | None = None) -> list[dict[str, Any]]:
        """The scores received and kept, as posted (a 409 or a forced answer keeps none)."""
        with self.state.lock:
            return [s.body for s in self.state.scores if line_item_id in (None, s.line_item_id)]

    def revoke_tokens(self) -> None:
        """Forget every access token handed out: the next service call answers 401."""
        with self.state.lock:
            self.state.tokens.clear()

    def force_score_answers(self, *statuses: int) -> None:
        """The next POSTs of scores answer these statuses, in order, and keep nothing."""
        with self.state.lock:
            self.state.forced_score_answers.extend(statuses)

    def course_url(self, context_id: str, user_id: str, *, frame: bool = True, storage: bool = False) -> str:
        query = {"as": user_id, "frame": "1" if frame else "0", "storage": "1" if storage else "0"}
        return self.url(f"/course/{context_id}?{urlencode(query)}")

    def line_item_url(self, item: LineItem) -> str:
        return self.url(f"/courses/{item.context_id}/lineitems/{item.id}/lineitem?type_id=1")

    def forge_launch(
        self,
        tool: Tool,
        user_id: str,
        link: ResourceLink | None = None,
        *,
        deep_link_context: str | None = None,
        claims: Mapping[str, Any] | None = None,
        key: keys.KeyPair | None = None,
        kid: str | None = None,
        exp_in: int = 300,
        iat_shift: int = 0,
        browser: requests.Session | None = None,
    ) -> ForgedLaunch:
        """Log in at the tool by HTTP (a cookie jar), let this platform answer the authorization
        request as it would, then change the launch's claims (`claims`: a value replaces, None
        removes) and sign it with `key` (the platform's by default), `kid`, `exp_in`, `iat_shift`
        as `tokens.id_token` does. Nothing is posted yet: `ForgedLaunch.post()`."""
        browser = browser or requests.Session()
        hint = f"link:{link.id}" if link is not None else f"deep-link:{deep_link_context}"
        target = tool.launch_url if link is not None else tool.deep_linking_url
        form = {
            "iss": self.issuer,
            "login_hint": user_id,
            "target_link_uri": target,
            "lti_message_hint": hint,
            "client_id": tool.client_id,
            "lti_deployment_id": tool.deployment_id,
        }
        login = browser.post(tool.login_url, data=form, allow_redirects=False, timeout=30)
        query = {key_: values[0] for key_, values in parse_qs(urlsplit(login_auth_url(login)).query).items()}
        fields = self.launch_fields(AuthRequest.of(query))
        payload = jwt.decode(fields["id_token"], options={"verify_signature": False})
        for name in ("iat", "exp"):
            payload.pop(name, None)
        for name, value in (claims or {}).items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        token = tokens.id_token(payload, key=key, kid=kid, exp_in=exp_in, iat_shift=iat_shift)
        return ForgedLaunch(browser, fields["launch_url"], token, fields["state"], login)

    # --- the protocol

    def conf(self, tool: Tool) -> PlatformConf:
        return PlatformConf(registration=registration_of(tool, issuer=self.issuer, private_pem=self.private_key_pem))

    def launch_fields(self, auth: AuthRequest) -> dict[str, str]:
        """The checks of `/auth`, then the signed launch: `launch_url` (the redirect URI),
        `id_token` and `state`. Raises `Refused` with the OIDC error of a bad request."""
        with self.state.lock:
            tool = self.state.tools.get(auth.client_id)
            if tool is None:
                raise Refused("unauthorized_client", "unknown client_id")
            if auth.redirect_uri not in tool.redirect_uris:
                raise Refused("invalid_request", "redirect_uri is not one of the tool's")
            user = self.state.users.get(auth.login_hint)
            if user is None:
                raise Refused("login_required", "login_hint names no user")
            kind, _, target = auth.lti_message_hint.partition(":")
            launch = Launch(auth, self.conf(tool))
            if kind == "link":
                link = self.state.links.get(target)
                if link is None or link.client_id != tool.client_id:
                    raise Refused("invalid_request", "lti_message_hint names no link of this tool")
                course = self.state.courses[link.context_id]
                member = course.members.get(user.id)
                if member is None:
                    raise Refused("login_required", "the user is not in the course")
                launch.set_launch_url(tool.launch_url)
                launch.set_resource_link_claim(link.id, title=link.title)
                launch.set_custom_parameters_claim(link.custom)
                item = self.state.line_items.get(link.line_item_id or "")
                launch.set_ags(
                    self.url(f"/courses/{course.context_id}/lineitems"),
                    self.line_item_url(item) if item is not None else None,
                )
            elif kind == "deep-link":
                course = self.state.courses[target]
                member = course.members.get(user.id)
                if member is None or not set(member.roles) & set(STAFF):
                    raise Refused("login_required", "only a course's staff place content")
                data = secrets.token_urlsafe(16)
                self.state.deep_links[data] = (course.context_id, user.id, tool.client_id)
                launch.set_dl(self.url("/deep-link-return"), title=course.title, accept_types={"ltiResourceLink"})
                launch._deep_linking_launch_data[DL_SETTINGS].update(
                    {"data": data, "accept_lineitem": True, "accept_multiple": False, "auto_create": True}
                )
            else:
                raise Refused("invalid_request", "unknown lti_message_hint")
            launch.set_user_data(user.id, member.roles, full_name=user.name, email_address=user.email)
            launch.set_extra_claims(
                {
                    key: value
                    for key, value in (("given_name", user.given_name), ("family_name", user.family_name))
                    if value
                }
            )
            launch.set_launch_context_claim(
                course.context_id,
                context_types=["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
                context_title=course.title,
            )
            launch.set_nrps(self.url(f"/courses/{course.context_id}/memberships"))
            fields: dict[str, str] = launch.lti_launch()
            return fields

    def take_deep_link_response(self, token: str) -> tuple[Course, list[ResourceLink]]:
        """Verify a deep-linking response (lti1p3platform, against the tool's key set; then its
        `aud`, deployment, nonce and echoed `data`) and place its resource links."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise Refused("invalid_request", f"not a JWT: {exc}") from exc
        with self.state.lock:
            tool = self.state.tools.get(str(unverified.get("iss")))
            if tool is None:
                raise Refused("invalid_request", "the response's iss is no tool's client id")
            try:
                items = self.conf(tool).validate_deeplinking_resp({"JWT": token})
            except (LtiException, LtiDeepLinkingResponseException, jwt.InvalidTokenError) as exc:
                raise Refused("invalid_request", f"the response is not valid: {exc}") from exc
            claims = jwt.decode(token, options={"verify_signature": False})  # verified just above
            audience = claims.get("aud")
            if audience != self.issuer and not (isinstance(audience, list) and self.issuer in audience):
                raise Refused("invalid_request", "the response's aud is not this platform")
            if claims.get(DEPLOYMENT) != tool.deployment_id:
                raise Refused("invalid_request", "the response's deployment_id is not the tool's")
            if not claims.get("nonce"):
                raise Refused("invalid_request", "the response has no nonce")
            placed = self.state.deep_links.pop(str(claims.get(DL_DATA)), None)
            if placed is None or placed[2] != tool.client_id:
                raise Refused("invalid_request", "the response's data echoes no request in flight")
            course = self.state.courses[placed[0]]
            links = []
            for item in items:
                if item.get("type") != "ltiResourceLink":
                    continue
                link = ResourceLink(
                    new_id("link"),
                    course.context_id,
                    tool.client_id,
                    str(item.get("title") or tool.name),
                    item.get("url") or tool.launch_url,
                    {str(k): str(v) for k, v in (item.get("custom") or {}).items()},
                )
                line = item.get("lineItem")
                if isinstance(line, dict):
                    made = LineItem(
                        new_id("item"),
                        course.context_id,
                        str(line.get("label") or link.title),
                        float(line.get("scoreMaximum", 1)),
                        resource_id=line.get("resourceId"),
                        tag=line.get("tag"),
                        resource_link_id=link.id,
                    )
                    self.state.line_items[made.id] = made
                    link.line_item_id = made.id
                self.state.links[link.id] = link
                links.append(link)
            return course, links

    def access_token(self, form: dict[str, str]) -> dict[str, Any]:
        """Client credentials: the assertion's issuer names the tool, its `aud` is this token URL,
        its signature verifies against the tool's key set (lti1p3platform fetches it)."""
        try:
            assertion = jwt.decode(form.get("client_assertion", ""), options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise Refused("invalid_client", f"the assertion is not a JWT: {exc}") from exc
        with self.state.lock:
            tool = self.state.tools.get(str(assertion.get("iss")))
        if tool is None or assertion.get("sub") != tool.client_id:
            raise Refused("invalid_client", "the assertion names no registered tool")
        audience = assertion.get("aud")
        if self.token_url not in (audience if isinstance(audience, list) else [audience]):
            raise Refused("invalid_client", "the assertion's aud is not this token URL")
        try:
            answer: dict[str, Any] = dict(self.conf(tool).get_access_token(form))
        except Exception as exc:  # lti1p3platform raises its own, PyJWT's and AssertionError
            raise Refused("invalid_grant", f"{type(exc).__name__}: {exc}") from exc
        with self.state.lock:
            self.state.tokens.add(answer["access_token"])
        return answer

    def token_scopes(self, header: str | None) -> set[str] | None:
        """The scopes of a bearer token this platform handed out and still honours; None else."""
        if not header or not header.startswith("Bearer "):
            return None
        token = header.removeprefix("Bearer ")
        with self.state.lock:
            if token not in self.state.tokens:
                return None
        try:
            claims = jwt.decode(token, public_pem_of(self.private_key_pem), algorithms=["RS256"])
        except jwt.InvalidTokenError:
            return None
        if claims.get("iss") != self.issuer:
            return None
        return set(str(claims.get("scopes", "")).split())

    def members_page(self, context_id: str, *, limit: int, page: int) -> tuple[dict[str, Any], bool]:
        with self.state.lock:
            course = self.state.courses[context_id]
            everyone = sorted(course.members.values(), key=lambda m: m.user_id)
            chunk = everyone[page * limit : (page + 1) * limit]
            members = []
            for member in chunk:
                user = self.state.users[member.user_id]
                entry: dict[str, Any] = {"user_id": user.id, "roles": member.roles, "status": member.status}
                entry.update(
                    {
                        key: value
                        for key, value in (
                            ("name", user.name),
                            ("given_name", user.given_name),
                            ("family_name", user.family_name),
                            ("email", user.email),
                        )
                        if value
                    }
                )
                members.append(entry)
            body = {
                "id": self.url(f"/courses/{context_id}/memberships"),
                "context": {"id": course.context_id, "title": course.title},
                "members": members,
            }
            return body, (page + 1) * limit < len(everyone)

    def take_score(self, item_id: str, body: object, path: str) -> int:
        """A score posted to a line item: the status the platform answers."""
        with self.state.lock:
            self.state.score_posts += 1
            if self.state.forced_score_answers:
                return self.state.forced_score_answers.pop(0)
            if item_id not in self.state.line_items:
                return 404
            required = ("userId", "activityProgress", "gradingProgress", "timestamp")
            if not isinstance(body, dict) or any(not isinstance(body.get(key), str) for key in required):
                return 400
            try:
                stamp = datetime.fromisoformat(body["timestamp"])
            except ValueError:
                return 400
            for kept in self.state.scores:
                same = kept.line_item_id == item_id and kept.body["userId"] == body["userId"]
                if same and datetime.fromisoformat(kept.body["timestamp"]) >= stamp:
                    return 409  # the platform keeps the later one (AGS: a score's timestamp orders it)
            self.state.scores.append(Score(item_id, body, datetime.now(UTC), path))
            return 200


@dataclass
class ForgedLaunch:
    """A launch made by HTTP, as a browser would, with a chosen id_token: `browser` holds the
    login's cookies; `post()` sends the form to the tool (again, for a replay; from another
    browser, with `browser=requests.Session()`)."""

    browser: requests.Session
    launch_url: str
    id_token: str
    state: str
    login: requests.Response

    def post(self, browser: requests.Session | None = None, **extra: str) -> requests.Response:
        headers = {}
        if browser is None:
            # The login's cookies, sent as Chromium sends them to http://127.0.0.1 (Python's cookie
            # jar keeps a Secure cookie to https alone).
            headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in self.login.cookies)
        return (browser or self.browser).post(
            self.launch_url,
            data={"id_token": self.id_token, "state": self.state, **extra},
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )


def login_auth_url(login: requests.Response) -> str:
    """The authorization request a tool's login answer sends the browser to: its page's
    `data-auth-url`, or the Location of a redirect."""
    if login.status_code in (302, 303):
        return str(login.headers["Location"])
    found = re.search(r'data-auth-url="([^"]+)"', login.text)
    assert found is not None, f"the login answered {login.status_code} without an authorization URL: {login.text[:300]}"
    return html.unescape(found.group(1))


def localhost_session() -> requests.Session:
    """A client that reaches `*.localhost` (MiniStack's host-style API URLs) at 127.0.0.1, as
    browsers do; Python's resolver does not."""
    session = requests.Session()
    session.mount("http://", _LocalhostAdapter())
    session.mount("https://", _LocalhostAdapter())
    return session


class _LocalhostAdapter(requests.adapters.HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        split = urlsplit(request.url or "")
        host = split.hostname or ""
        if host.endswith(".localhost"):
            request.headers["Host"] = split.netloc
            port = f":{split.port}" if split.port else ""
            request.url = split._replace(netloc=f"127.0.0.1{port}").geturl()
        return super().send(request, *args, **kwargs)


class Refused(Exception):
    """A request the platform refuses: its OAuth/OIDC error code and why."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@contextmanager
def running_platform(**kwargs: Any) -> Iterator[Platform]:
    platform = Platform(**kwargs).start()
    try:
        yield platform
    finally:
        platform.stop()


def _page(title: str, body: str, script: str = "") -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>{body}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    owner: Platform
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- answering

    def _answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object, content_type: str = "application/json", **headers: str) -> None:
        self._answer(status, json.dumps(value).encode(), content_type, headers)

    def _html(self, status: int, body: bytes) -> None:
        self._answer(status, body, "text/html; charset=utf-8")

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # --- routing

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        parts = split.path.strip("/").split("/")
        try:
            if split.path == "/.well-known/jwks.json":
                self._json(200, self.owner.jwks())
            elif split.path == storage_frame.PATH:
                self._html(200, storage_frame.page())
            elif parts[0] == "course" and len(parts) == 2:
                self._course_page(parts[1], query)
            elif split.path == "/auth":
                self._auth(query)
            elif parts[0] == "courses" and len(parts) == 3 and parts[2] == "memberships":
                self._memberships(parts[1], query)
            elif parts[0] == "courses" and len(parts) == 3 and parts[2] == "lineitems":
                self._line_items(parts[1])
            elif parts[0] == "courses" and len(parts) == 5 and parts[4] == "lineitem":
                self._line_item(parts[3])
            else:
                self._json(404, {"error": "not found"})
        except Refused as refused:
            self._json(400, {"error": refused.error, "error_description": refused.description})

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        try:
            if split.path == "/token":
                self._json(200, self.owner.access_token(self._form()))
            elif split.path == "/deep-link-return":
                self._deep_link_return(self._form())
            elif parts[0] == "courses" and len(parts) == 6 and parts[4:] == ["lineitem", "scores"]:
                self._score(parts[3])
            else:
                self._json(404, {"error": "not found"})
        except Refused as refused:
            self._json(400, {"error": refused.error, "error_description": refused.description})

    # --- the pages

    def _course_page(self, context_id: str, query: dict[str, str]) -> None:
        owner = self.owner
        with owner.state.lock:
            course = owner.state.courses.get(context_id)
            user = owner.state.users.get(query.get("as", ""))
            if course is None or user is None or user.id not in course.members:
                self._html(404, _page("Not found", "<h1>No such course for this user</h1>"))
                return
            member = course.members[user.id]
            framed = query.get("frame", "1") == "1"
            target = "tool" if framed else "_self"
            storage = {"lti_storage_target": "post_message_forwarding"} if query.get("storage") == "1" else {}
            forms = []
            for link in owner.links_of(context_id):
                tool = owner.state.tools[link.client_id]
                forms.append(
                    _login_form(tool, owner.issuer, user.id, f"link:{link.id}", tool.launch_url, target, storage)
                    .replace("{label}", html.escape(link.title))
                    .replace("{data}", f'data-link="{html.escape(link.id)}"')
                )
            if set(member.roles) & set(STAFF):
                for tool in owner.state.tools.values():
                    forms.append(
                        _login_form(
                            tool,
                            owner.issuer,
                            user.id,
                            f"deep-link:{context_id}",
                            tool.deep_linking_url,
                            target,
                            storage,
                        )
                        .replace("{label}", "Add " + html.escape(tool.name))
                        .replace("{data}", f'data-deep-link="{html.escape(tool.client_id)}"')
                    )
            frame = (
                '<iframe name="tool" title="The tool" style="width:100%;height:70vh" allow="clipboard-write"></iframe>'
            )
            body = (
                f"<h1>{html.escape(course.title)}</h1><p>Signed in as {html.escape(user.name or user.id)}</p>"
                + "".join(forms)
                + (frame if framed else "")
                + (storage_frame.frame_tag(owner.issuer) if storage else "")
            )
        self._html(200, _page(course.title, body))

    def _auth(self, query: dict[str, str]) -> None:
        for name, wanted in (("response_type", "id_token"), ("response_mode", "form_post"), ("prompt", "none")):
            if query.get(name) != wanted:
                raise Refused("invalid_request", f"{name} must be {wanted}")
        if "openid" not in query.get("scope", "").split():
            raise Refused("invalid_scope", "scope must hold openid")
        missing = [
            name for name in ("client_id", "redirect_uri", "login_hint", "nonce", "state") if not query.get(name)
        ]
        if missing:
            raise Refused("invalid_request", f"missing {', '.join(missing)}")
        fields = self.owner.launch_fields(AuthRequest.of(query))
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(fields[name])}">' for name in ("id_token", "state")
        )
        body = (
            f'<form id="launch" method="post" action="{html.escape(fields["launch_url"])}">{inputs}'
            '<button type="submit">Continue</button></form>'
        )
        self._html(200, _page("Launching", body, "document.getElementById('launch').submit();"))

    def _deep_link_return(self, form: dict[str, str]) -> None:
        course, links = self.owner.take_deep_link_response(form.get("JWT", ""))
        placed = [
            {
                "resource_link_id": link.id,
                "title": link.title,
                "url": link.url,
                "custom": link.custom,
                "line_item": None
                if link.line_item_id is None
                else {
                    "label": self.owner.line_item(link.line_item_id).label,
                    "id": link.line_item_id,
                },
            }
            for link in links
        ]
        body = (
            f"<h1>Added to {html.escape(course.title)}</h1><ul>"
            + "".join(f"<li>{html.escape(link.title)}</li>" for link in links)
            + f'</ul><pre id="content-items">{html.escape(json.dumps(placed))}</pre>'
        )
        self._html(200, _page("Content added", body))

    # --- the services

    def _memberships(self, context_id: str, query: dict[str, str]) -> None:
        scopes = self.owner.token_scopes(self.headers.get("Authorization"))
        if scopes is None:
            self._json(401, {"error": "invalid_token"})
            return
        if MEMBERSHIP_SCOPE not in scopes:
            self._json(403, {"error": "insufficient_scope"})
            return
        if context_id not in self.owner.state.courses:
            self._json(404, {"error": "no such course"})
            return
        limit = max(1, int(query.get("limit", self.owner.page_size)))
        page = int(query.get("page", 0))
        body, more = self.owner.members_page(context_id, limit=limit, page=page)
        headers = {}
        if more:
            following = self.owner.url(
                f"/courses/{context_id}/memberships?{urlencode({'limit': limit, 'page': page + 1})}"
            )
            headers["Link"] = f'<{following}>; rel="next"'
        self._json(200, body, MEMBERSHIP_TYPE, **headers)

    def _line_items(self, context_id: str) -> None:
        scopes = self.owner.token_scopes(self.headers.get("Authorization"))
        if scopes is None:
            self._json(401, {"error": "invalid_token"})
            return
        with self.owner.state.lock:
            items = [item for item in self.owner.state.line_items.values() if item.context_id == context_id]
        self._json(
            200,
            [_line_item_json(self.owner, item) for item in items],
            "application/vnd.ims.lis.v2.lineitemcontainer+json",
        )

    def _line_item(self, item_id: str) -> None:
        scopes = self.owner.token_scopes(self.headers.get("Authorization"))
        if scopes is None:
            self._json(401, {"error": "invalid_token"})
            return
        with self.owner.state.lock:
            item = self.owner.state.line_items.get(item_id)
        if item is None:
            self._json(404, {"error": "no such line item"})
            return
        self._json(200, _line_item_json(self.owner, item), "application/vnd.ims.lis.v2.lineitem+json")

    def _score(self, item_id: str) -> None:
        raw = self._body()
        scopes = self.owner.token_scopes(self.headers.get("Authorization"))
        if scopes is None:
            self._json(401, {"error": "invalid_token"})
            return
        if SCORE_SCOPE not in scopes and LINEITEM_SCOPE not in scopes:
            self._json(403, {"error": "insufficient_scope"})
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != SCORE_TYPE:
            self._json(415, {"error": f"a score is {SCORE_TYPE}"})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": "not JSON"})
            return
        status = self.owner.take_score(item_id, body, self.path)
        if status == 200:
            self._json(200, {})
        else:
            self._json(status, {"error": f"answered {status}"})


def _line_item_json(owner: Platform, item: LineItem) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": owner.line_item_url(item),
        "label": item.label,
        "scoreMaximum": item.score_maximum,
    }
    for key, value in (("resourceId", item.resource_id), ("tag", item.tag), ("resourceLinkId", item.resource_link_id)):
        if value is not None:
            answer[key] = value
    return answer


def _login_form(
    tool: Tool, issuer: str, user_id: str, hint: str, target_link_uri: str, target: str, extra: dict[str, str]
) -> str:
    """The OIDC login initiation (LTI 1.3 §5.1.1) as a form the user submits into the tool's frame."""
    fields = {
        "iss": issuer,
        "login_hint": user_id,
        "target_link_uri": target_link_uri,
        "lti_message_hint": hint,
        "client_id": tool.client_id,
        "lti_deployment_id": tool.deployment_id,
        **extra,
    }
    inputs = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items()
    )
    return (
        f'<form method="post" action="{html.escape(tool.login_url)}" target="{target}" {{data}}>'
        f'{inputs}<button type="submit">{{label}}</button></form>'
    )


__all__ = ["INSTRUCTOR", "LEARNER", "TEACHING_ASSISTANT", "Platform", "Refused", "running_platform"]
