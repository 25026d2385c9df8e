"""Receipts as compact JWS (RFC 7515) with ES256, through the JOSE library joserfc: the public
key as a JWK and its RFC 7638 thumbprint, the token around a signature made elsewhere, and the
check against the published keys. Plain functions, no I/O.

Signing is KMS's (signing.py): the compact serialization is written here (RFC 7515, 7.1: the
base64url of the header's JSON and of the claims', joined by a dot, is what a `signer` signs, and
its signature follows after another dot), in the bytes joserfc wrote when it built them (its
header's JSON, compact). Verifying needs only a public key, so anyone can check a receipt offline
with the same library (docs/RECEIPTS.md).

Importing this module loads joserfc and cryptography (tens of milliseconds): receipts.py imports
it only where a receipt is signed or checked, so the functions that do neither never pay for it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.util import json_b64decode

ALGORITHM = "ES256"
CURVE = "P-256"
MAX_TOKEN = 8192


class NotGenuine(ValueError):
    """The text is not a receipt, or its signature does not hold: `str()` says which, for people."""


@dataclass(frozen=True)
class PublicKey:
    kid: str  # the key's RFC 7638 thumbprint
    jwk: dict[str, str]  # kty, crv, x, y: what the database keeps and jwks.json publishes


def public_key(spki_der: bytes) -> PublicKey:
    """KMS's public key (a DER SubjectPublicKeyInfo) as a JWK, named by its thumbprint."""
    key = ECKey.import_key(spki_der)  # ValueError for anything that is not a public key
    if key.is_private or key.curve_name != CURVE:
        raise ValueError(f"not a {CURVE} public key")
    jwk = key.as_dict()
    return PublicKey(key.thumbprint(), {name: str(jwk[name]) for name in ("kty", "crv", "x", "y")})


def sign(key: PublicKey, claims: Mapping[str, Any], signer: Callable[[bytes], bytes], *, typ: str = "JWT") -> str:
    """The compact JWS of `claims` under `key`'s kid, signed by `signer` (ES256: r || s, 64 bytes,
    as KMS's signature converts to); `typ` says which kind of token it is (a receipt is a plain
    JWT, an audit log's checkpoint `audit-checkpoint+jwt`). The claims' JSON is compact and in
    UTF-8, as the receipts issued so far (joserfc would escape non-ASCII nicknames and file names).
    Written here rather than by joserfc's `serialize_compact`, whose registry and header checks
    were half of each receipt's own time; `key` is a P-256 key (`public_key` checks it)."""
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    signing_input = _header(key.kid, typ) + b"." + _base64url(payload)
    return (signing_input + b"." + _base64url(signer(signing_input))).decode("ascii")


@functools.lru_cache(maxsize=16)
def _header(kid: str, typ: str) -> bytes:
    """The protected header, base64url: the same for every token of a key and kind."""
    return _base64url(json.dumps({"alg": ALGORITHM, "kid": kid, "typ": typ}, separators=(",", ":")).encode())


def _base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def token_sha256(token: str) -> str:
    """What a later receipt names its predecessor by."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Unverified:
    token: str
    kid: str


def parse(token: str) -> Unverified:
    """Text that has a receipt's shape, or NotGenuine saying, for people, what is wrong with it.
    Nothing is verified yet: that needs the published keys (`verify`)."""
    token = token.strip()
    if len(token) > MAX_TOKEN:
        raise NotGenuine("This is far longer than a receipt.")
    parts = token.split(".")
    if len(parts) != 3:
        raise NotGenuine("This is not a receipt: a receipt has three parts separated by dots.")
    try:
        header, claims = json_b64decode(parts[0].encode()), json_b64decode(parts[1].encode())
    except (ValueError, RecursionError) as exc:  # binascii, Unicode and JSON errors are ValueErrors
        raise NotGenuine("This is not a receipt: its parts do not decode.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise NotGenuine("This is not a receipt: its parts are not JSON objects.")
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        raise NotGenuine("This is not a receipt of ours: it is not signed with ES256.")
    return Unverified(token, kid)


def verify(receipt: Unverified, keys: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The claims of a receipt that the key its kid names (of `keys`, JWKs by kid) signed, or
    NotGenuine. joserfc decides: ES256 only (never `none`, nor HS256 with a public key as the
    secret), the header's parameters, the signature."""
    jwk = keys.get(receipt.kid)
    if jwk is None:
        raise NotGenuine("No key of this deployment signed it.")
    try:
        return jwt.decode(receipt.token, _published_key(jwk["crv"], jwk["x"], jwk["y"]), algorithms=[ALGORITHM]).claims
    except JoseError as exc:
        raise NotGenuine("The signature does not match: the receipt was changed.") from exc


@functools.lru_cache(maxsize=64)
def _published_key(crv: str, x: str, y: str) -> ECKey:
    """A published key as joserfc's object, made once per environment: a warm check then costs
    what the old hand-written one did (importing a key is a quarter of a check)."""
    return ECKey.import_key({"kty": "EC", "crv": crv, "x": x, "y": y})
