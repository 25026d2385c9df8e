"""A session from the LMS: what a teacher's launch hands the console so that it can call the
examiner routes without an API key. It names the teacher's examiner identity (`lti:<uuid>`), never
a role: every route still reads the caller's role from the database, so a member removed meanwhile
is refused at once. Signed elsewhere (adapters/sessions.py); these are its claims, read and written
as plain data.

A session is checked whole or not at all: `session_of` answers None for anything that is off, and
the authorizer answers 401 for None, whatever the reason (the reason is nobody's business but ours).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

SESSION_TYP = "lti-session+jwt"
LEEWAY = timedelta(seconds=30)  # clocks of KMS's signer and the authorizer's host may differ a little
MAX_HOURS = 12
_CALLER_KEY = re.compile(r"lti:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Session:
    caller_key: str  # the teacher's examiner_key.api_key_id: lti:<lti_user.public_id>
    exam_id: str | None  # the linked exam the launch opened; None for a deep-linking choice
    deep_link: UUID | None  # the deep-linking request waiting for the teacher's choice
    platform: str  # the registration's issuer
    lti_user: str  # the platform's user id (sub)
    name: str | None  # for the page's header
    course: str | None  # for the page's header and the picker
    jti: str
    expires_at: datetime


def issuer_of(deployment: str) -> str:
    return f"{deployment}/lti"


def audience_of(deployment: str) -> str:
    return f"{deployment}/api"


def claims_of(s: Session, *, deployment: str, now: datetime) -> dict[str, object]:
    """The JWT claims of `s`, issued at `now` by this deployment's tool for its API."""
    return {
        "iss": issuer_of(deployment),
        "aud": audience_of(deployment),
        "sub": s.caller_key,
        "exam": s.exam_id,
        "dl": None if s.deep_link is None else str(s.deep_link),
        "platform": s.platform,
        "lti_user": s.lti_user,
        "name": s.name,
        "course": s.course,
        "jti": s.jti,
        "iat": int(now.timestamp()),
        "exp": int(s.expires_at.timestamp()),
    }


def session_of(claims: Mapping[str, object], *, deployment: str, now: datetime) -> Session | None:
    """The session these verified claims describe, or None: another issuer or audience, expired
    (beyond the leeway), issued in the future, living longer than a session may, a subject that is
    not an LTI identity, or a claim of the wrong type."""
    expires_at = _valid_until(claims, deployment=deployment, now=now)
    sub, platform, lti_user, jti = (claims.get(name) for name in ("sub", "platform", "lti_user", "jti"))
    texts = {name: claims.get(name) for name in ("exam", "dl", "name", "course")}
    if expires_at is None or not isinstance(sub, str) or not _CALLER_KEY.fullmatch(sub):
        return None
    if not (isinstance(platform, str) and isinstance(lti_user, str) and isinstance(jti, str) and jti):
        return None
    if not all(value is None or isinstance(value, str) for value in texts.values()):
        return None
    optional = {name: value if isinstance(value, str) else None for name, value in texts.items()}
    try:
        deep_link = None if optional["dl"] is None else UUID(optional["dl"])
    except ValueError:
        return None
    return Session(
        caller_key=sub,
        exam_id=optional["exam"],
        deep_link=deep_link,
        platform=platform,
        lti_user=lti_user,
        name=optional["name"],
        course=optional["course"],
        jti=jti,
        expires_at=expires_at,
    )


def _valid_until(claims: Mapping[str, object], *, deployment: str, now: datetime) -> datetime | None:
    """When a session of this deployment's issuer for its API expires, if it is valid `now`."""
    if claims.get("iss") != issuer_of(deployment) or claims.get("aud") != audience_of(deployment):
        return None
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_instant(exp) or not _is_instant(iat):
        return None
    expires_at = datetime.fromtimestamp(cast("int", exp), UTC)
    issued_at = datetime.fromtimestamp(cast("int", iat), UTC)
    if expires_at + LEEWAY <= now or issued_at - LEEWAY > now or expires_at - issued_at > timedelta(hours=MAX_HOURS):
        return None
    return expires_at


def _is_instant(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**40
