"""The receipts' published keys, and the receipt issued for a verification code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg
import psycopg.sql
import psycopg.types.json

from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.statuses import ScanState, SubmissionStatus

if TYPE_CHECKING:
    from exam_depository.domain.jws import PublicKey


def publish_receipt_key(conn: Connection, kid: str, jwk: dict[str, str]) -> None:
    conn.execute(
        "INSERT INTO receipt_key (kid, jwk) VALUES (%s, %s) ON CONFLICT (kid) DO NOTHING",
        (kid, psycopg.types.json.Jsonb(jwk)),
    )


def ensure_published(conn: Connection, key: PublicKey) -> str:
    """Make sure the signing key's public half is published (receipts and checkpoints must stay
    verifiable after the key is replaced); returns its kid. Once per execution environment."""
    if key.kid not in _published:
        publish_receipt_key(conn, key.kid, key.jwk)
        _published.add(key.kid)
    return key.kid


_published: set[str] = set()


def forget_published() -> None:
    """Publish again at the next signature (tests: a database emptied since)."""
    _published.clear()


def receipt_keys(conn: Connection) -> dict[str, dict[str, str]]:
    rows = conn.execute("SELECT kid, jwk FROM receipt_key ORDER BY created_at").fetchall()
    return {row["kid"]: row["jwk"] for row in rows}


@dataclass(frozen=True)
class IssuedReceipt:
    receipt: str | None  # the exact text issued (None for a submission of the first edition)
    status: SubmissionStatus
    expires_at: datetime
    scan: ScanState | None  # its malware scan now (None: not scanned)


def issued_receipt(conn: Connection, verification_code: str) -> IssuedReceipt | None:
    """The receipt issued for a verification code and its submission's status; None once the
    submission is deleted (with its exam or its student)."""
    with conn.cursor(row_factory=rows_of(IssuedReceipt)) as cur:
        return cur.execute(
            "SELECT receipt, status, expires_at, scan FROM submission WHERE verification_code = %s",
            (verification_code,),
        ).fetchone()
