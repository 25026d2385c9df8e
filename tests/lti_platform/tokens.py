"""id tokens as a platform signs them (through lti1p3platform's `Registration`), and the claims of
the three launches the tool receives: a learner's, a teacher's and a deep-linking request."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
from lti1p3platform.registration import Registration

from tests.lti_platform import keys

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"
AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
)


def id_token(
    claims: Mapping[str, Any],
    *,
    key: keys.KeyPair | None = None,
    kid: str | None = None,
    exp_in: int = 300,
    iat_shift: int = 0,
) -> str:
    """`claims` signed RS256 by `key` (the platform's by default) with `kid` in the header (the key's
    own by default), `iat` now + `iat_shift` and `exp` that + `exp_in` seconds (negative: expired)."""
    key = key or keys.platform()
    registration = Registration().set_platform_private_key(key.private_pem)
    issued = int(time.time()) + iat_shift
    payload = {**claims, "iat": issued, "exp": issued + exp_in}
    if kid is None:
        token: str = registration.platform_encode_and_sign(payload)
        return token
    return jwt.encode(payload, key.private_pem, algorithm="RS256", headers={"kid": kid})


def unsigned_token(claims: Mapping[str, Any], *, kid: str | None = None) -> str:
    """A token with `alg: none` (no signature): what a forger hopes a tool accepts."""
    header = {"alg": "none", "typ": "JWT", "kid": kid or keys.platform().kid}
    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + 300}
    return f"{_b64(header)}.{_b64(payload)}."


def hmac_token(claims: Mapping[str, Any], secret: str, *, kid: str | None = None) -> str:
    """A token MAC'd HS256 with `secret`: a symmetric algorithm the tool must refuse."""
    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + 300}
    return jwt.encode(payload, secret.encode(), algorithm="HS256", headers={"kid": kid or keys.platform().kid})


def _b64(value: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _common(
    *,
    issuer: str,
    client_id: str,
    deployment_id: str,
    nonce: str,
    sub: str,
    roles: list[str],
    message_type: str,
    target_link_uri: str,
    context_id: str,
    context_title: str,
) -> dict[str, Any]:
    return {
        "iss": issuer,
        "aud": client_id,
        "azp": client_id,
        "sub": sub,
        "nonce": nonce,
        CLAIM + "message_type": message_type,
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": deployment_id,
        CLAIM + "target_link_uri": target_link_uri,
        CLAIM + "roles": roles,
        CLAIM + "context": {"id": context_id, "title": context_title, "label": context_title[:20]},
    }


def learner_launch(
    *,
    issuer: str,
    client_id: str,
    deployment_id: str,
    nonce: str,
    target_link_uri: str,
    exam_id: str,
    link: str,
    sub: str = "learner-1",
    context_id: str = "course-1",
    context_title: str = "Physics 101",
    given_name: str | None = "Ann",
    family_name: str | None = "Lee",
    email: str | None = "ann.lee@example.edu",
    roles: list[str] | None = None,
    resource_link_id: str = "resource-1",
    lineitem: str | None = None,
    memberships_url: str | None = None,
) -> dict[str, Any]:
    """A resource-link launch of a learner, for the exam `exam_id` placed as link `link`."""
    claims = _common(
        issuer=issuer,
        client_id=client_id,
        deployment_id=deployment_id,
        nonce=nonce,
        sub=sub,
        roles=roles if roles is not None else [LEARNER],
        message_type="LtiResourceLinkRequest",
        target_link_uri=target_link_uri,
        context_id=context_id,
        context_title=context_title,
    )
    claims[CLAIM + "resource_link"] = {"id": resource_link_id, "title": "Hand-in"}
    claims[CLAIM + "custom"] = {"exam_id": exam_id, "link": link}
    for name, value in (("given_name", given_name), ("family_name", family_name), ("email", email)):
        if value is not None:
            claims[name] = value
    if given_name or family_name:
        claims["name"] = " ".join(part for part in (given_name, family_name) if part)
    if lineitem is not None:
        claims[AGS_CLAIM] = {
            "scope": list(AGS_SCOPES),
            "lineitems": lineitem.rsplit("/", 1)[0],
            "lineitem": lineitem,
        }
    if memberships_url is not None:
        claims[NRPS_CLAIM] = {"context_memberships_url": memberships_url, "service_versions": ["2.0"]}
    return claims


def teacher_launch(*, roles: list[str] | None = None, sub: str = "teacher-1", **fields: Any) -> dict[str, Any]:
    """A resource-link launch of an instructor (or the given staff roles)."""
    fields.setdefault("given_name", "Tom")
    fields.setdefault("family_name", "Teacher")
    fields.setdefault("email", "tom.teacher@example.edu")
    return learner_launch(roles=roles if roles is not None else [INSTRUCTOR], sub=sub, **fields)


def deep_linking_request(
    *,
    issuer: str,
    client_id: str,
    deployment_id: str,
    nonce: str,
    target_link_uri: str,
    return_url: str,
    sub: str = "teacher-1",
    roles: list[str] | None = None,
    context_id: str = "course-1",
    context_title: str = "Physics 101",
    data: str | None = "opaque-platform-data",
    accept_lineitem: bool = True,
) -> dict[str, Any]:
    """A teacher adding the tool to a course: an `LtiDeepLinkingRequest`."""
    claims = _common(
        issuer=issuer,
        client_id=client_id,
        deployment_id=deployment_id,
        nonce=nonce,
        sub=sub,
        roles=roles if roles is not None else [INSTRUCTOR],
        message_type="LtiDeepLinkingRequest",
        target_link_uri=target_link_uri,
        context_id=context_id,
        context_title=context_title,
    )
    settings: dict[str, Any] = {
        "deep_link_return_url": return_url,
        "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": False,
        "accept_lineitem": accept_lineitem,
    }
    if data is not None:
        settings["data"] = data
    claims[DL_CLAIM + "deep_linking_settings"] = settings
    claims.update({"given_name": "Tom", "family_name": "Teacher", "name": "Tom Teacher"})
    return claims
