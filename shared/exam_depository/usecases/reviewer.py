"""What a reviewer does, or anyone who holds a code or a receipt: look up what a verification code
stands for, download that file, check a receipt, and read the keys receipts are signed with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.receipts
import exam_depository.adapters.db.verifications  # noqa: F401
from exam_depository.adapters import db, storage
from exam_depository.config import RulesSettings, load
from exam_depository.domain import codes
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.errors import Gone, NotFound
from exam_depository.domain.filenames import attachment_disposition, served_content_type
from exam_depository.domain.instants import rfc3339
from exam_depository.domain.rules import status_at
from exam_depository.domain.scans import download_refusal, served
from exam_depository.domain.statuses import ScanState, SubmissionStatus

NO_SUBMISSION = "No submission has this verification code."


def verify(verification_code: str) -> db.verifications.VerifiedSubmission:
    """What was handed in under this code (`views.verification` shows it, without names when the
    exam is anonymous)."""
    code = codes.normalize(verification_code)
    if code is None:
        raise NotFound(NO_SUBMISSION)
    with db.transaction() as conn:
        row = db.verifications.submission_by_code(conn, code)
    if row is None:
        raise NotFound(NO_SUBMISSION)
    return row


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


def download_link(verification_code: str, *, request_id: str | None = None) -> Link:
    """A short-lived link to the current file of a verification code. Each link issued is an
    audit event of its exam (the code is no secret once used), in the transaction that read the
    row: no link without its event. Presigning is local signing, after the commit."""
    code = codes.normalize(verification_code)
    if code is None:
        raise NotFound(NO_SUBMISSION)
    now = datetime.now(UTC)
    ttl = load(RulesSettings).download_url_ttl_s
    expires_at = now.replace(microsecond=0) + timedelta(seconds=ttl)
    with db.transaction() as conn:
        row = db.verifications.submission_by_code(conn, code)
        if row is None:
            raise NotFound(NO_SUBMISSION)
        status = status_at(row.status, row.expires_at, now)
        if not served(status, row.stands_in) or now >= row.expires_at:
            raise Gone(f"This file is {status}; only the current submission can be downloaded.")
        if row.object_deleted_at is not None:
            # The reconcile job found the file missing from S3: a link would only give a 404.
            raise Gone("This file is no longer stored; the student can upload it again.")
        # The malware gate: a threat never, a file still being scanned not yet (the bucket's
        # policy refuses a threat's bytes too, so a bug here cannot serve one).
        refusal = download_refusal(row.scan, row.scan_released_at, row.scan_detail)
        if refusal is not None:
            raise refusal
        issued = Event(
            Actor(REVIEWER, None, request_id),
            AuditAction.VERIFICATION_LINK_ISSUED,
            f"verification:{codes.display(code)}",
            after={"pseudonym": row.pseudonym, "expires_at": rfc3339(expires_at)},
            subjects=(row.pseudonym,),
        )
        db.audit.append(conn, row.exam_pk, [issued])
    url = storage.presign_download(
        row.object_key,
        row.version_id,
        attachment_disposition(_download_name(row.filename, row.found_type)),
        served_content_type(row.content_type),
        ttl,
    )
    return Link(url=url, expires_at=expires_at)


REVIEWER = "reviewer"  # the audit log's actor for whoever holds a verification code


def _download_name(filename: str, found_type: str | None) -> str:
    """The name the link saves the file under: the student's, with the extension of what its
    bytes are where the name says otherwise (`content_types.served_filename`)."""
    if found_type is None:
        return filename  # an exam of any type: its bytes were not identified
    # Here: only a file whose bytes were identified loads the kinds' table.
    from exam_depository.domain.content_types import served_filename

    return served_filename(filename, found_type)


# --- receipts ---------------------------------------------------------------------------------

JWKS_MAX_AGE_S = 300
_jwks_cache: tuple[float, list[dict[str, str]]] | None = None


def jwks() -> list[dict[str, str]]:
    """Every key a receipt was signed with, from the database (no KMS call), cached a few minutes."""
    global _jwks_cache
    if _jwks_cache is None or time.monotonic() - _jwks_cache[0] > JWKS_MAX_AGE_S:
        with db.transaction() as conn:
            keys = db.receipts.receipt_keys(conn)
        _jwks_cache = (
            time.monotonic(),
            [{**jwk, "kid": kid, "use": "sig", "alg": "ES256"} for kid, jwk in keys.items()],
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


@dataclass(frozen=True)
class Verdict:
    """Whether a receipt is genuine; why not, or what it states and what became of its file."""

    genuine: bool
    reason: str | None = None
    claims: dict[str, Any] | None = None
    status: SubmissionStatus | None = None
    scan: ScanState | None = None


def check_receipt(token: str) -> Verdict:
    """Whether a receipt is genuine, what it states, and what became of its file since.

    Genuine means: one of this deployment's keys signed it, and it is the very text issued for its
    verification code. The signature alone is not enough: ECDSA's (r, n - s) verifies as well as
    (r, s), and KMS does not normalise s, so every receipt has a twin with the same claims but
    another text, one that no chain link names (a link is the SHA-256 of the exact text).
    """
    # The JOSE library and cryptography load here, not at the cold start of every reviewer route.
    from exam_depository.domain import jws

    token = token.strip()
    try:
        unverified = jws.parse(token)  # text that cannot be a receipt costs no database round trip
    except jws.NotGenuine as exc:
        return Verdict(genuine=False, reason=str(exc))
    with db.transaction() as conn:
        try:
            stated = jws.verify(unverified, db.receipts.receipt_keys(conn))
        except jws.NotGenuine as exc:
            return Verdict(genuine=False, reason=str(exc))
        code = codes.normalize(str(stated.get("verification_code", "")))
        issued = db.receipts.issued_receipt(conn, code) if code else None
    if issued is None:
        return Verdict(genuine=False, reason=DELETED)
    if issued.receipt != token:
        return Verdict(genuine=False, reason=NOT_AS_ISSUED)
    status = status_at(issued.status, issued.expires_at, datetime.now(UTC))
    return Verdict(genuine=True, claims=stated, status=status, scan=issued.scan)


def reset() -> None:
    """Forget the cached keys (tests)."""
    global _jwks_cache
    _jwks_cache = None
