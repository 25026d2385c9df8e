"""KMS: the receipts' signing key, an asymmetric ECC_NIST_P256 key whose private half never
leaves KMS. The recorder signs receipts with it, and the audit log's checkpoints are signed with it
(usecases/checkpoints.py); KMS hashes the message (ES256). Its public key is read once per
execution environment; nothing else calls KMS (verification uses the published public keys).

KMS answers an ECDSA signature as DER; a JWS (RFC 7518) wants the two 32-byte integers side by
side: `raw_signature` converts. Errors leave this module as `ServiceUnavailable`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydantic import Field

from exam_depository.adapters import aws
from exam_depository.config import EnvSettings, load
from exam_depository.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from exam_depository.domain.jws import PublicKey

P256_BYTES = 32


class SigningSettings(EnvSettings):
    """The recorder's: which KMS key signs receipts, and whose receipts they are."""

    key_id: str = Field(alias="RECEIPT_KEY_ID", min_length=1)  # an id, ARN or alias of the KMS key
    region: str = Field(alias="AWS_REGION", min_length=1)
    deployment: str = Field(alias="DEPLOYMENT_NAME", min_length=1)  # the receipts' issuer


def client() -> KMSClient:
    kms: KMSClient = aws.client("kms", region=load(SigningSettings).region, read_timeout=5)
    return kms


def reset() -> None:
    """Forget the public key read from KMS (tests; the client is `aws.reset`'s)."""
    public_key_der.cache_clear()
    signing_key.cache_clear()


MAX_MESSAGE = 4096  # what KMS signs as a RAW message; a receipt's signing input is about 1 KB


def sign(message: bytes) -> bytes:
    """ES256 of `message`, as a JWS wants it (r || s, 64 bytes)."""
    if len(message) > MAX_MESSAGE:
        raise ValueError(f"KMS signs at most {MAX_MESSAGE} bytes; this message has {len(message)}")
    try:
        answer = client().sign(
            KeyId=load(SigningSettings).key_id,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm="ECDSA_SHA_256",
        )
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS Sign failed: {exc}") from exc
    return raw_signature(answer["Signature"])


@functools.cache
def public_key_der() -> bytes:
    """The key's public half (DER SubjectPublicKeyInfo), read once per execution environment."""
    try:
        return bytes(client().get_public_key(KeyId=load(SigningSettings).key_id)["PublicKey"])
    except aws.failures() as exc:
        raise ServiceUnavailable(f"KMS GetPublicKey failed: {exc}") from exc


@functools.cache
def signing_key() -> PublicKey:
    """The signing key's public half and its thumbprint: read from KMS once per environment."""
    # `domain.jws` loads the JOSE library and cryptography: imported only where a key is used.
    from exam_depository.domain import jws

    return jws.public_key(public_key_der())


def raw_signature(der: bytes) -> bytes:
    """DER `SEQUENCE { INTEGER r, INTEGER s }` -> r || s, each left-padded to 32 bytes."""
    if len(der) < 8 or der[0] != 0x30:
        raise ValueError("not a DER ECDSA signature")
    position = 2 if der[1] < 0x80 else 3  # a P-256 signature's sequence is shorter than 128 bytes
    integers = []
    for _ in range(2):
        if der[position] != 0x02:
            raise ValueError("not a DER ECDSA signature")
        length = der[position + 1]
        value = der[position + 2 : position + 2 + length].lstrip(b"\x00")
        if len(value) > P256_BYTES:
            raise ValueError("not a P-256 signature")
        integers.append(value.rjust(P256_BYTES, b"\x00"))
        position += 2 + length
    return integers[0] + integers[1]
