"""Compact JWS with ES256 (RFC 7515, 7518) and JWKs (RFC 7517, 7638): plain functions, no I/O.

Signing is KMS's (signing.py); verifying needs only a public key, so anyone can check a receipt
offline with standard tools (docs/RECEIPTS.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

# A P-256 SubjectPublicKeyInfo (DER) is this header and then the point, 04 || x || y.
_P256_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
MAX_TOKEN = 8192


class NotGenuine(ValueError):
    """The text is not a receipt, or its signature does not hold: `str()` says which, for people."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    if not set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_from_spki(der: bytes) -> dict[str, str]:
    if len(der) != len(_P256_SPKI_HEADER) + 65 or not der.startswith(_P256_SPKI_HEADER) or der[26] != 0x04:
        raise ValueError("not an uncompressed P-256 public key")
    point = der[len(_P256_SPKI_HEADER) + 1 :]
    return {"kty": "EC", "crv": "P-256", "x": b64url(point[:32]), "y": b64url(point[32:])}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, no white space."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest())


def signing_input(kid: str, claims: dict[str, Any]) -> bytes:
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    return f"{_encoded(header)}.{_encoded(claims)}".encode()


def _encoded(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def compact(signed: bytes, signature: bytes) -> str:
    return f"{signed.decode()}.{b64url(signature)}"


def token_sha256(token: str) -> str:
    """What a later receipt names its predecessor by."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Parsed:
    kid: str
    claims: dict[str, Any]
    signed: bytes
    signature: bytes


def parse(token: str) -> Parsed:
    """The parts of a compact JWS of ours, or NotGenuine saying what is wrong with the text."""
    token = token.strip()
    if len(token) > MAX_TOKEN:
        raise NotGenuine("This is far longer than a receipt.")
    parts = token.split(".")
    if len(parts) != 3:
        raise NotGenuine("This is not a receipt: a receipt has three parts separated by dots.")
    try:
        header = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise NotGenuine("This is not a receipt: its parts do not decode.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise NotGenuine("This is not a receipt: its parts are not JSON objects.")
    if header.get("alg") != "ES256" or not isinstance(header.get("kid"), str) or len(signature) != 64:
        raise NotGenuine("This is not a receipt of ours: it is not signed with ES256.")
    return Parsed(header["kid"], claims, f"{parts[0]}.{parts[1]}".encode(), signature)


def signature_holds(jwk: dict[str, str], signed: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    point = b"\x04" + unb64url(jwk["x"]) + unb64url(jwk["y"])
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
