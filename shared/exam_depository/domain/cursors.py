"""Keyset paging: a cursor is the last row's id, opaque to clients; a page is read with one row
more than it shows, which says whether another follows."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from exam_depository.domain.errors import InvalidInput


def encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned.") from exc


@dataclass(frozen=True)
class Page[Item]:
    """One page of a listing, and the cursor of the next (None on the last)."""

    items: list[Item]
    next_cursor: str | None


def after(cursor: str | None, limit: int, most: int) -> int:
    """The id a page starts after (0: the first page), once its size is checked."""
    if not 1 <= limit <= most:
        raise InvalidInput(f"limit must be between 1 and {most}.")
    return decode(cursor) if cursor else 0


def page_of[Item](rows: list[Item], limit: int, row_id: Callable[[Item], int]) -> Page[Item]:
    """The page of `rows`, read with `limit + 1`: the extra row is the next page's first."""
    next_cursor = encode(row_id(rows[limit - 1])) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)
