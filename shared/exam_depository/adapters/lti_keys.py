"""KMS: the LTI tool's RS256 key (`RSA_2048`, `SIGN_VERIFY`), whose private half never leaves KMS.

Platforms verify what the tool signs (a deep-linking response, the client assertion of an access
token request) with the keys published at `/lti/jwks.json`: the current key and, during a rotation,
the previous ones. KMS answers an RSASSA-PKCS1-v1_5 signature as the JWS wants it (unlike ECDSA's DER,
see `signing.py`), so the token is the signing input and that signature. Each public key is read
once per execution environment. Errors leave this module as `ServiceUnavailable`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from exam_depository.adapters import aws
from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.config import load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


def published() -> tuple[str, ...]:
    """The tool's keys in its key set: the one that signs now, then those of before a rotation."""
    settings = load(LtiSettings)
    if not settings.tool_key_id:
        raise ValueError("LTI_TOOL_KEY_ID is not set: the tool has no signing key")
    return (settings.tool_key_id, *(key for key in settings.previous_tool_key_ids if key != settings.tool_key_id))


MAX_MESSAGE = 4096  # what KMS signs as a RAW message; a deep-linking response is about 1.5 KB


def client() -> KMSClient:
    region = load(LtiSettings).region
    if region is None:
        raise ValueError("AWS_REGION is not set: where KMS is called")
    kms: KMSClient = aws.client("kms", region=region, read_timeout=5)
    return kms


def reset() -> None:
    """Forget the public keys read from KMS (tests; the client is `aws.reset`'s)."""
    public_jwk.cache_clear()


def sign_rs256(claims: Mapping[str, object], *, kid: str) -> str:
    """A compact JWS of `claims`, RS256, signed by the current tool key through KMS."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode("ascii")
    if len(signing_input) > MAX_MESSAGE:
        raise ValueError(f"KMS signs at most {MAX_MESSAGE} bytes; this message has {len(signing_input)}")
    try:
        answer = client().sign(
            KeyId=published()[0],
            Message=signing_input,
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS Sign failed: {exc}", service="KMS") from exc
    return f"{signing_input.decode('ascii')}.{_b64(bytes(answer['Signature']))}"


def current_kid() -> str:
    """The `kid` of the key that signs now: its RFC 7638 thumbprint."""
    return public_jwk(published()[0])["kid"]


def tool_jwks() -> dict[str, list[dict[str, str]]]:
    """The tool's key set: the current key first, then each previous one still published."""
    return {"keys": [public_jwk(key_id) for key_id in published()]}


@functools.cache
def public_jwk(key_id: str) -> dict[str, str]:
    """The public JWK of one KMS key, read once per execution environment."""
    # cryptography loads only where a key is read (the JWKS, the first signature).
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        der = bytes(client().get_public_key(KeyId=key_id)["PublicKey"])
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS GetPublicKey failed: {exc}", service="KMS") from exc
    key = load_der_public_key(der)
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"the LTI tool key {key_id} is not an RSA key")
    numbers = key.public_numbers()
    jwk = {"e": _b64(_unsigned(numbers.e)), "kty": "RSA", "n": _b64(_unsigned(numbers.n))}
    thumbprint = _b64(hashlib.sha256(_json(jwk)).digest())  # RFC 7638: the required members, sorted
    return {**jwk, "alg": "RS256", "use": "sig", "kid": thumbprint}


def _unsigned(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def _json(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
