"""The dynamic-registration harness, written from the IMS specification (LTI Dynamic Registration
1.0, https://www.imsglobal.org/spec/lti-dr/v1p0), which lti1p3platform lacks: the `Platform` of
server.py with the platform's side of dynamic registration added on the same origin (its issuer).

- `GET /.well-known/openid-configuration`: the platform's OpenID configuration (§3.4 of the spec),
  with its LTI platform configuration.
- `POST /register`: the tool's registration (§3.5), with the one-time registration token as a Bearer
  token (refused if absent, unknown or used), checked as the spec asks: `application_type` web,
  `response_types` holding `id_token`, `grant_types` holding `implicit` and `client_credentials`,
  `initiate_login_uri`, `redirect_uris`, `jwks_uri`, `token_endpoint_auth_method`
  `private_key_jwt`, the tool configuration's `domain` the URIs' host, its `target_link_uri` and
  messages. 201: the registration echoed with the `client_id` and the tool configuration's
  `deployment_id`; the tool is then registered with this platform (launches follow).
- `GET /admin/add-tool?url=<registration_url>`: the administrator's page opening the tool's
  registration URL (with `openid_configuration` and a fresh `registration_token`) in an iframe,
  showing "registered" when the frame posts `{subject: "org.imsglobal.lti.close"}`.

What it cannot prove: how a real LMS presents, accepts or reviews a registration (Moodle asks its
administrator to activate the tool; Canvas and Brightspace differ); it holds the spec's MUSTs.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.lti_platform.platform import Tool, new_id
from tests.lti_platform.server import Platform, _Handler

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


@dataclass
class Registrations:
    """The harness's state: registration tokens handed out (token → used), registrations received."""

    tokens: dict[str, bool] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A configuration that names another issuer than the platform's own (a test of the tool's check).
    claimed_issuer: str | None = None
    # Whether the platform makes a deployment at registration (Moodle does; some platforms do not).
    with_deployment: bool = True


class RegisteringPlatform(Platform):
    """A `Platform` that also speaks dynamic registration."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registrations = Registrations()

    def start(self) -> RegisteringPlatform:
        platform = self

        class Handler(_RegistrationHandler):
            owner = platform

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="lti-registration", daemon=True)
        self._thread.start()
        return self

    @property
    def configuration_url(self) -> str:
        return self.url("/.well-known/openid-configuration")

    def registration_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.registrations.lock:
            self.registrations.tokens[token] = False
        return token

    def registration_link(self, registration_url: str, token: str | None = None) -> str:
        """The tool's registration URL as the platform opens it (§3.3 of the spec)."""
        query = {
            "openid_configuration": self.configuration_url,
            "registration_token": token or self.registration_token(),
        }
        return f"{registration_url}{'&' if '?' in registration_url else '?'}{urlencode(query)}"

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.registrations.claimed_issuer or self.issuer,
            "authorization_endpoint": self.auth_url,
            "token_endpoint": self.token_url,
            "jwks_uri": self.jwks_url,
            "registration_endpoint": self.url("/register"),
            "scopes_supported": ["openid", *SCOPES],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public", "pairwise"],
            "claims_supported": ["iss", "sub", "name", "given_name", "family_name", "email"],
            PLATFORM_CONFIGURATION: {
                "product_family_code": "harness",
                "version": "1.0",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
            },
        }

    def take_registration(self, authorization: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        """§3.5: the token once, the registration as the spec asks; 201 with the client id."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self.registrations.lock:
            if self.registrations.tokens.get(token) is not False:
                return 401, {"error": "invalid_token", "error_description": "no such registration token, or used"}
            self.registrations.tokens[token] = True
        problem = registration_problem(body)
        if problem is not None:
            return 400, {"error": "invalid_client_metadata", "error_description": problem}
        tool_configuration = body[TOOL_CONFIGURATION]
        launch = tool_configuration["target_link_uri"]
        deep_linking = next(
            (
                m.get("target_link_uri")
                for m in tool_configuration["messages"]
                if m.get("type") == "LtiDeepLinkingRequest"
            ),
            None,
        )
        tool = self.register_tool(
            "",
            client_id=new_id("client"),
            login_url=body["initiate_login_uri"],
            launch_url=launch,
            jwks_url=body["jwks_uri"],
            redirect_uris=list(body["redirect_uris"]),
            name=body.get("client_name") or "tool",
        )
        if deep_linking:
            tool.deep_linking_url = deep_linking
        granted = [scope for scope in str(body.get("scope", "")).split() if scope in SCOPES]
        answer = {
            **body,
            "client_id": tool.client_id,
            "scope": " ".join(granted),
            TOOL_CONFIGURATION: {
                **tool_configuration,
                **({"deployment_id": tool.deployment_id} if self.registrations.with_deployment else {}),
            },
        }
        with self.registrations.lock:
            self.registrations.received.append(body)
        return 201, answer

    def tool_of(self, client_id: str) -> Tool:
        with self.state.lock:
            return self.state.tools[client_id]


def registration_problem(body: Any) -> str | None:
    """What the spec's registration request lacks, or None."""
    if not isinstance(body, dict):
        return "the registration is not a JSON object"
    checks = [
        (body.get("application_type") == "web", "application_type must be web"),
        ("id_token" in (body.get("response_types") or ()), "response_types must hold id_token"),
        (
            {"implicit", "client_credentials"} <= set(body.get("grant_types") or ()),
            "grant_types must hold implicit and client_credentials",
        ),
        (isinstance(body.get("initiate_login_uri"), str), "initiate_login_uri is required"),
        (bool(body.get("redirect_uris")), "redirect_uris is required"),
        (isinstance(body.get("jwks_uri"), str), "jwks_uri is required"),
        (
            body.get("token_endpoint_auth_method") == "private_key_jwt",
            "token_endpoint_auth_method must be private_key_jwt",
        ),
        (isinstance(body.get(TOOL_CONFIGURATION), dict), "the LTI tool configuration is required"),
    ]
    for passed, problem in checks:
        if not passed:
            return problem
    configuration = body[TOOL_CONFIGURATION]
    hosts = {urlsplit(uri).netloc for uri in [body["initiate_login_uri"], body["jwks_uri"], *body["redirect_uris"]]}
    if hosts != {configuration.get("domain")}:
        return "the tool configuration's domain must be the host of its URIs"
    if not isinstance(configuration.get("target_link_uri"), str):
        return "the tool configuration's target_link_uri is required"
    if not isinstance(configuration.get("messages"), list):
        return "the tool configuration's messages are required"
    return None


_ADD_TOOL_SCRIPT = """
window.addEventListener("message", function (event) {
  if (event.data && event.data.subject === "org.imsglobal.lti.close") {
    document.getElementById("status").textContent = "registered";
  }
});
"""


class _RegistrationHandler(_Handler):
    owner: RegisteringPlatform

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path == "/.well-known/openid-configuration":
            self._json(200, self.owner.openid_configuration())
        elif split.path == "/admin/add-tool":
            url = parse_qs(split.query).get("url", [""])[0]
            frame = html.escape(self.owner.registration_link(url), quote=True)
            body = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Add a tool</title></head><body>'
                f'<h1>Add a tool</h1><p id="status">registering</p><iframe title="tool" src="{frame}"></iframe>'
                f"<script>{_ADD_TOOL_SCRIPT}</script></body></html>"
            )
            self._html(200, body.encode())
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if urlsplit(self.path).path == "/register":
            try:
                body = json.loads(self._body() or b"null")
            except ValueError:
                body = None
            status, answer = self.owner.take_registration(self.headers.get("Authorization"), body)
            self._json(status, answer)
        else:
            super().do_POST()
