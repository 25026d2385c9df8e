"""Sessions from the LMS as compact JWS: minted by the LTI tool through KMS (an ECC_NIST_P256 key of
their own, `LTI_SESSION_KEY_ID`, whose private half never leaves KMS), verified by the authorizer
with the key's public half, read from KMS once per execution environment. And the sessions' API key:
the one key of the usage plan LMS sessions are metered under, which the authorizer hands API Gateway
for a session and refuses when a caller presents it as `x-api-key`.

The authorizer runs before every examiner request: this module reads its settings from the
environment by hand, not through pydantic (whose import would double its cold start), and loads
joserfc only when a token is minted or verified.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from exam_depository.adapters import aws
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.sessions import SESSION_TYP, Session, claims_of, session_of

if TYPE_CHECKING:
    from exam_depository.domain.jws import PublicKey

MAX_TOKEN = 4096  # a session's claims are a few hundred bytes


def _setting(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set")
    return value


def _kms() -> Any:
    return aws.client("kms", region=_setting("AWS_REGION"), read_timeout=5)


def mint(s: Session, *, now: datetime | None = None) -> str:
    """The session as a token: ES256 through KMS, its header `typ` and the key's thumbprint;
    issued `now` (the clock's when not given)."""
    from exam_depository.domain import jws

    issued = now if now is not None else datetime.now(UTC)
    claims = claims_of(s, deployment=_setting("DEPLOYMENT_NAME"), now=issued)
    return jws.sign(session_key(), claims, _sign, typ=SESSION_TYP)


def verify(token: str, now: datetime) -> Session | None:
    """The session `token` carries, or None when it is not one of this deployment's, valid now:
    not our key's ES256 signature, another `typ`, tampered with, expired, for another audience."""
    from exam_depository.domain import jws

    if len(token) > MAX_TOKEN:
        return None
    try:
        unverified = jws.parse(token)
        header = _header(token)
        key = session_key()
        if header.get("typ") != SESSION_TYP or unverified.kid != key.kid:
            return None
        claims = jws.verify(unverified, {key.kid: key.jwk})
    except jws.NotGenuine:
        return None
    return session_of(claims, deployment=_setting("DEPLOYMENT_NAME"), now=now)


def _header(token: str) -> dict[str, Any]:
    from joserfc.util import json_b64decode

    header = json_b64decode(token.split(".", 1)[0].encode())
    return header if isinstance(header, dict) else {}


def _sign(message: bytes) -> bytes:
    """ES256 of `message` by the session key, as a JWS wants it (r || s): KMS answers DER."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        answer = _kms().sign(
            KeyId=_setting("LTI_SESSION_KEY_ID"), Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS Sign failed: {exc}", service="KMS") from exc
    r, s = decode_dss_signature(answer["Signature"])
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@functools.cache
def session_key() -> PublicKey:
    """The session key's public half and its thumbprint: read from KMS once per environment."""
    from exam_depository.domain import jws

    try:
        der = bytes(_kms().get_public_key(KeyId=_setting("LTI_SESSION_KEY_ID"))["PublicKey"])
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS GetPublicKey failed: {exc}", service="KMS") from exc
    return jws.public_key(der)


@functools.cache
def sessions_key() -> str:
    """The sessions' API key's value: `LTI_SESSIONS_KEY` where it is given as is (the local stack),
    else the secret `LTI_SESSIONS_KEY_SECRET_ARN` names (a plain string), read once per environment.
    Rotating it means a redeploy, which starts new environments."""
    given = os.environ.get("LTI_SESSIONS_KEY", "")
    if given:
        return given
    client = aws.client(
        "secretsmanager",
        region=_setting("AWS_REGION"),
        read_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 2},
    )
    try:
        value = client.get_secret_value(SecretId=_setting("LTI_SESSIONS_KEY_SECRET_ARN"))["SecretString"]
    except aws.failures() as exc:
        raise ServiceUnavailable(
            f"Secrets Manager could not give the sessions key: {exc}", service="Secrets Manager"
        ) from exc
    if not isinstance(value, str) or not value:
        raise RuntimeError("the sessions key's secret is empty")
    return value


def reset() -> None:
    """Forget the keys read (tests; the clients are `aws.reset`'s)."""
    session_key.cache_clear()
    sessions_key.cache_clear()
