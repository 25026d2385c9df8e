"""RSA key pairs made at run time for the test platform (and a stranger who is not it): never committed."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK


@dataclass(frozen=True)
class KeyPair:
    """An RS256 key: its PEM halves, its RFC 7638 thumbprint as `kid`, and its public JWK."""

    private_pem: str
    public_pem: str
    kid: str

    @property
    def jwk(self) -> dict[str, str]:
        public = json.loads(JWK.from_pem(self.public_pem.encode()).export_public())
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


def new_key() -> KeyPair:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    kid = JWK.from_pem(public_pem.encode()).thumbprint()
    return KeyPair(private_pem=private_pem, public_pem=public_pem, kid=kid)


@functools.cache
def platform() -> KeyPair:
    """The test platform's signing key, made once per test run."""
    return new_key()


@functools.cache
def stranger() -> KeyPair:
    """Someone else's key: what a forger signs with."""
    return new_key()


def jwks(*keys: KeyPair) -> dict[str, list[dict[str, str]]]:
    """A key set as a platform publishes it at its JWKS URL."""
    return {"keys": [key.jwk for key in keys]}
