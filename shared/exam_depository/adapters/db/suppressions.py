"""The addresses that must not be mailed again (a permanent bounce or a complaint, as SES's events
told `messages.apply_event`), kept by the SHA-256 of their normalized form: whether some are, and
ops lifting one (the ledger's statements ask it in SQL: `messages.suppressed`). Apart from
`messages` so that the functions that add students, which refuse a suppressed address, load
neither the ledger nor `domain.mail`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from exam_depository.adapters.db.transactions import Connection


def address_key(address: str) -> str:
    """How a suppressed address is kept: the SHA-256 of its normalized form, as the SQL's
    `encode(sha256(convert_to(email_address, 'UTF8')), 'hex')`."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Suppression:
    reason: Literal["bounce", "complaint"]
    since: datetime
    detail: str | None  # SES's diagnostic, the address cut out


def suppression(conn: Connection, address: str) -> Suppression | None:
    """Why nothing is sent to this (normalized) address, or None when it may be mailed."""
    return suppressions(conn, [address]).get(address)


def suppressions(conn: Connection, addresses: Iterable[str]) -> dict[str, Suppression]:
    """Why nothing is sent to each of these (normalized) addresses that may not be mailed."""
    by_key = {address_key(address): address for address in addresses}
    if not by_key:
        return {}
    rows = conn.execute(
        "SELECT address_sha256, reason, since, detail FROM suppressed_address WHERE address_sha256 = ANY(%s)",
        (list(by_key),),
    ).fetchall()
    return {by_key[row.pop("address_sha256")]: Suppression(**row) for row in rows}


def lift_suppression(conn: Connection, address: str) -> bool:
    """Mail may go to this (normalized) address again: ops' act, after the address's owner fixed
    what bounced. False when it was not suppressed."""
    lifted = conn.execute("DELETE FROM suppressed_address WHERE address_sha256 = %s", (address_key(address),))
    return lifted.rowcount > 0
