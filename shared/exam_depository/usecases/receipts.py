"""Receipts: a signed statement of what S3 holds, issued by the recorder for each submission it
records, that a student keeps and anyone can check (here, or offline with the published keys).

A receipt is a compact JWS (ES256) signed by the KMS key; its claims say which deployment, exam,
student and file, the file's size and SHA-256, the S3 version, when S3 accepted it, whether it
was late, its verification code, attempt n of N, and the SHA-256 of the student's previous
receipt: a chain, so that a dispute can show every version handed in, even after the files are
gone (docs/RECEIPTS.md).
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from exam_depository.adapters import db, signing
from exam_depository.api.models import Jwks, ReceiptCheck
from exam_depository.config import SigningSettings, load
from exam_depository.domain import codes, jws
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import status_at

JWKS_MAX_AGE_S = 300
_jwks_cache: tuple[float, Jwks] | None = None


@functools.cache
def _signing_kid() -> str:
    """The signing key's thumbprint: the public key is read from KMS once per environment."""
    return jws.thumbprint(jws.jwk_from_spki(signing.public_key_der()))


def publish_key(conn: db.Connection) -> str:
    """Make sure the signing key's public half is published (receipts must stay verifiable after
    the key is replaced); returns its kid. Once per execution environment."""
    kid = _signing_kid()
    if kid not in _published:
        jwk = jws.jwk_from_spki(signing.public_key_der())
        db.receipts.publish_receipt_key(conn, kid, jwk)
        _published.add(kid)
    return kid


_published: set[str] = set()


def claims(
    *,
    exam: str,
    nickname: str,
    submission: db.uploads.NewSubmission,
    attempt: int,
    attempts: int,
    previous: str | None,
) -> dict[str, Any]:
    """What a receipt states, without its chain link (added as it is signed)."""
    return {
        "iss": load(SigningSettings).deployment,
        "iat": int(time.time()),
        "exam": exam,
        "nickname": nickname,
        "filename": submission.filename,
        "size": submission.size_bytes,
        "sha256": submission.sha256,
        "sha256_checked_by_s3": submission.sha256_checked_by_s3,
        "s3_version": submission.version_id,
        "submitted_at": rfc3339(submission.submitted_at),
        "late": submission.late,
        "verification_code": codes.display(submission.verification_code),
        "attempt": attempt,
        "attempts": attempts,
        "previous_receipt_sha256": previous,
    }


def issue(kid: str, chains: list[list[dict[str, Any]]]) -> list[list[str]]:
    """Sign each student's receipts in order: a receipt's `previous_receipt_sha256` is set from
    the one before it in its chain (the first keeps the one it was given). Chains are signed at
    once, each a call to KMS per receipt."""

    def sign_chain(chain: list[dict[str, Any]]) -> list[str]:
        tokens: list[str] = []
        for statement in chain:
            linked = {**statement, "previous_receipt_sha256": jws.token_sha256(tokens[-1])} if tokens else statement
            signed = jws.signing_input(kid, linked)
            tokens.append(jws.compact(signed, signing.sign(signed)))
        return tokens

    if len(chains) <= 1:
        return [sign_chain(chain) for chain in chains]
    return list(_signers().map(sign_chain, chains))


@functools.cache
def _signers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix="kms-sign")


def jwks() -> Jwks:
    """Every key a receipt was signed with, from the database (no KMS call), cached a few minutes."""
    global _jwks_cache
    if _jwks_cache is None or time.monotonic() - _jwks_cache[0] > JWKS_MAX_AGE_S:
        with db.transaction() as conn:
            keys = db.receipts.receipt_keys(conn)
        _jwks_cache = (
            time.monotonic(),
            Jwks(keys=[{**jwk, "kid": kid, "use": "sig", "alg": "ES256"} for kid, jwk in keys.items()]),
        )
    return _jwks_cache[1]


NOT_AS_ISSUED = (
    "The signature holds, but this is not the text that was issued for its verification code: "
    "only the receipt exactly as issued is genuine."
)
DELETED = (
    "The signature holds, but its submission was deleted (with its exam or its student), so this text "
    "can no longer be compared with the one issued: it cannot be confirmed here."
)


def check(token: str) -> ReceiptCheck:
    """Whether a receipt is genuine, what it states, and what became of its file since.

    Genuine means: one of this deployment's keys signed it, and it is the very text issued for its
    verification code. The signature alone is not enough: ECDSA's (r, n - s) verifies as well as
    (r, s), and KMS does not normalise s, so every receipt has a twin with the same claims but
    another text, one that no chain link names (a link is the SHA-256 of the exact text).
    """
    token = token.strip()
    try:
        parsed = jws.parse(token)
    except jws.NotGenuine as exc:
        return ReceiptCheck(genuine=False, reason=str(exc))
    with db.transaction() as conn:
        keys = db.receipts.receipt_keys(conn)
        jwk = keys.get(parsed.kid)
        if jwk is None:
            return ReceiptCheck(genuine=False, reason="No key of this deployment signed it.")
        if not jws.signature_holds(jwk, parsed.signed, parsed.signature):
            return ReceiptCheck(genuine=False, reason="The signature does not match: the receipt was changed.")
        code = codes.normalize(str(parsed.claims.get("verification_code", "")))
        issued = db.receipts.issued_receipt(conn, code) if code else None
    if issued is None:
        return ReceiptCheck(genuine=False, reason=DELETED)
    if issued.receipt != token:
        return ReceiptCheck(genuine=False, reason=NOT_AS_ISSUED)
    status = status_at(issued.status, issued.expires_at, datetime.now(UTC))
    return ReceiptCheck(genuine=True, claims=parsed.claims, status=status)


def reset() -> None:
    """Forget the cached keys (tests)."""
    global _jwks_cache
    _jwks_cache = None
    _published.clear()
    _signing_kid.cache_clear()
