"""The LMS's state and its LTI 1.3 protocol, for the platform on loopback (`server.py` serves it).

The protocol is lti1p3platform's: the launch (`LTIAdvantageMessageLaunchAbstract`: claims, deep
linking, AGS, NRPS, signed with the platform's key, `kid` its RFC 7638 thumbprint), the access token
(`get_access_token`: the tool's client assertion verified against the tool's own JWKS URL) and the
deep-linking response (`validate_deeplinking_resp`). What lti1p3platform leaves to its host, and a
platform such as Moodle does, is done here: one deployment per registration, `redirect_uri` among the
tool's, `login_hint` a user of the course, the deep-linking response's `aud` and `nonce`, the score's
required fields and its timestamp order, bearer tokens checked for scope on every service call.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.registration import Registration

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
MEMBERSHIP_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def public_pem_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class User:
    id: str
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None

    @property
    def name(self) -> str | None:
        parts = [part for part in (self.given_name, self.family_name) if part]
        return " ".join(parts) or None


@dataclass
class Member:
    user_id: str
    roles: list[str]
    status: str = "Active"


@dataclass
class Course:
    context_id: str
    title: str
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class Tool:
    """A tool registered with this platform (by hand or by dynamic registration)."""

    client_id: str
    deployment_id: str
    login_url: str
    redirect_uris: list[str]
    jwks_url: str
    launch_url: str
    deep_linking_url: str
    name: str = "Exam Depository"
    # The tool's public keys as given to the platform by hand (an LMS's "public key" field) when
    # the platform is not to fetch them from `jwks_url` (the integration tests serve no tool).
    key_set: dict[str, Any] | None = None


@dataclass
class LineItem:
    id: str
    context_id: str
    label: str
    score_maximum: float
    resource_id: str | None = None
    tag: str | None = None
    resource_link_id: str | None = None


@dataclass
class ResourceLink:
    id: str
    context_id: str
    client_id: str
    title: str
    url: str | None
    custom: dict[str, str]
    line_item_id: str | None = None


@dataclass
class Score:
    """A score as the platform received it: the JSON as posted, and where."""

    line_item_id: str
    body: dict[str, Any]
    received_at: datetime
    path: str


@dataclass
class State:
    """Everything the platform holds, under one lock (the server answers on several threads)."""

    users: dict[str, User] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    links: dict[str, ResourceLink] = field(default_factory=dict)
    line_items: dict[str, LineItem] = field(default_factory=dict)
    scores: list[Score] = field(default_factory=list)
    score_posts: int = 0  # every POST to a scores endpoint, whatever it was answered
    # The access tokens handed out that are still honoured (a test revokes them: the next call 401).
    tokens: set[str] = field(default_factory=set)
    # Answers the score endpoint gives instead of taking a score, one per POST, first first.
    forced_score_answers: list[int] = field(default_factory=list)
    # Deep-linking requests in flight: their `data`, by which the return finds its course and user.
    deep_links: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # data -> (context, user, client)
    lock: threading.RLock = field(default_factory=threading.RLock)


def registration_of(tool: Tool, *, issuer: str, private_pem: str) -> Registration:
    """lti1p3platform's view of one tool: the platform's issuer and key, the tool's client id,
    deployment, URLs and key set URL (fetched by lti1p3platform when it verifies the tool)."""
    registration = (
        Registration()
        .set_iss(issuer)
        .set_client_id(tool.client_id)
        .set_deployment_id(tool.deployment_id)
        .set_oidc_login_url(tool.login_url)
        .set_launch_url(tool.launch_url)
        .set_deeplink_launch_url(tool.deep_linking_url)
        .set_tool_key_set_url(tool.jwks_url)
        .set_platform_private_key(private_pem)
        .set_platform_public_key(public_pem_of(private_pem))
    )
    if tool.key_set is not None:
        registration.set_tool_key_set(tool.key_set)
    return registration


class PlatformConf(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    """One request's configuration: the registration of the tool it concerns."""

    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        registration: Registration = self._registration
        return registration


@dataclass(frozen=True)
class AuthRequest:
    """The OIDC authorization request the tool's login sent the browser with (`/auth`'s query)."""

    client_id: str
    redirect_uri: str
    login_hint: str
    lti_message_hint: str
    nonce: str
    state: str

    @classmethod
    def of(cls, query: Mapping[str, str]) -> AuthRequest:
        """The request from `/auth`'s query (one value per name)."""
        return cls(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            login_hint=query["login_hint"],
            lti_message_hint=query.get("lti_message_hint", ""),
            nonce=query["nonce"],
            state=query["state"],
        )


class Launch(LTIAdvantageMessageLaunchAbstract):  # type: ignore[misc]
    """One launch: the claims set by the server, signed by lti1p3platform; `render_launch_form`
    gives back the fields the browser auto-posts to the tool."""

    def __init__(self, auth: AuthRequest, conf: PlatformConf) -> None:
        super().__init__(_Preflight(auth), conf)

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class _Preflight:
    """lti1p3platform reads the tool's authorization request from `get_data`."""

    def __init__(self, auth: AuthRequest) -> None:
        self.get_data = {
            "client_id": auth.client_id,
            "redirect_uri": auth.redirect_uri,
            "nonce": auth.nonce,
            "state": auth.state,
            "login_hint": auth.login_hint,
        }
        self.form_data: dict[str, Any] = {}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"
