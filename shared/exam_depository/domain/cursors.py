"""Keyset paging: a cursor is the last row's id, opaque to clients; a page is read with one row
more than it shows, which says whether another follows. A filtered listing's cursor also carries
a digest of its filters (its scope): the next page is read with the same ones, or refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from exam_depository.domain.errors import InvalidInput, InvalidQuery

SCOPE_LENGTH = 16  # hex digits of the filters' digest: 64 bits, to tell one search from another
_SCOPE = re.compile(f"[0-9a-f]{{{SCOPE_LENGTH}}}")


def scope_of(filters: dict[str, object]) -> str:
    """What a cursor is bound to: a short digest of a listing's filters; "" when none is set."""
    if all(value is None for value in filters.values()):
        return ""
    text = json.dumps(filters, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:SCOPE_LENGTH]


def encode(last_id: int, scope: str = "") -> str:
    text = f"id:{last_id}:{scope}" if scope else f"id:{last_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, scope: str = "") -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value, *scoped = text.split(":")
        given_scope = scoped[0] if len(scoped) == 1 else ""
        if kind != "id" or not value.isdigit() or len(scoped) > 1 or (scoped and not _SCOPE.fullmatch(given_scope)):
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned.") from exc
    if given_scope != scope:
        raise InvalidQuery(
            "This cursor belongs to a listing with another search or filter: ask for the first page "
            "(no cursor) with the new one."
        )
    return int(value)


@dataclass(frozen=True)
class Page[Item]:
    """One page of a listing, and the cursor of the next (None on the last)."""

    items: list[Item]
    next_cursor: str | None


def after(cursor: str | None, limit: int, most: int, scope: str = "") -> int:
    """The id a page starts after (0: the first page), once its size is checked and its cursor
    found to be of a listing with the same filters (`scope`)."""
    if not 1 <= limit <= most:
        raise InvalidInput(f"limit must be between 1 and {most}.")
    return decode(cursor, scope) if cursor else 0


def page_of[Item](rows: list[Item], limit: int, row_id: Callable[[Item], int], scope: str = "") -> Page[Item]:
    """The page of `rows`, read with `limit + 1`: the extra row is the next page's first."""
    next_cursor = encode(row_id(rows[limit - 1]), scope) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)
