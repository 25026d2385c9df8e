"""A search of an exam's roster: the text an examiner typed, as the terms every match must hold.

A student matches when each term is part of its nickname, first name, last name or email,
compared case- and accent-insensitively; PostgreSQL's `unaccent` compares them
(`adapters.db.student_pages.student_page`), so that the names and the terms are folded alike."""

from __future__ import annotations

import re

from exam_depository.domain.errors import InvalidQuery

MAX_SEARCH_LENGTH = 100
# Control characters, and lone surrogates: no name holds them (`domain.inputs` refuses them), and
# PostgreSQL cannot take a NUL in text.
_UNSEARCHABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def search_terms(text: str) -> list[str]:
    """The whitespace-separated terms of a search text of 1 to 100 characters once trimmed."""
    trimmed = text.strip()
    if not 1 <= len(trimmed) <= MAX_SEARCH_LENGTH:
        raise InvalidQuery(f"q must be 1 to {MAX_SEARCH_LENGTH} characters once trimmed (it has {len(trimmed)}).")
    terms = trimmed.split()  # tabs and line breaks pasted from a spreadsheet separate terms too
    if any(_UNSEARCHABLE.search(term) for term in terms):
        raise InvalidQuery("q must not contain control characters.")
    return terms
