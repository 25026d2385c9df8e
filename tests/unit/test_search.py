"""A roster search's terms, and the cursors that page through one search only, by tables of cases."""

from __future__ import annotations

import pytest
from exam_depository.domain import cursors
from exam_depository.domain.errors import InvalidInput, InvalidQuery
from exam_depository.domain.search import search_terms


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("muller", ["muller"]),
        ("  Müller  ", ["Müller"]),
        ("ann lee", ["ann", "lee"]),
        ("ann\tlee\n", ["ann", "lee"]),  # pasted from a spreadsheet
        ("a" * 100, ["a" * 100]),
        (" " * 50 + "a" * 100 + " " * 50, ["a" * 100]),  # the bound counts what is left once trimmed
        ("o'brien  mary-ann", ["o'brien", "mary-ann"]),
        ("x", ["x"]),
    ],
)
def test_a_search_is_its_whitespace_separated_terms(text: str, terms: list[str]) -> None:
    assert search_terms(text) == terms


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "1 to 100 characters"),
        ("   \t ", "1 to 100 characters"),
        ("a" * 101, "(it has 101)"),
        ("ann\x00lee", "control characters"),
        ("ann\x7f", "control characters"),
        ("\ud800", "control characters"),
    ],
    ids=["empty", "blank", "too long", "a NUL", "a DEL", "a lone surrogate"],
)
def test_a_search_out_of_bounds_is_refused_as_a_bad_query(text: str, says: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        search_terms(text)
    assert says in refused.value.detail
    assert refused.value.status == 400


UNFILTERED = cursors.scope_of({"status": None, "search": None})
MULLER = cursors.scope_of({"status": None, "search": ["muller"]})


def test_a_cursor_is_bound_to_the_filters_of_its_listing() -> None:
    # An unfiltered listing's cursor is what it always was
    assert UNFILTERED == ""
    assert cursors.encode(41) == "aWQ6NDE"
    assert cursors.after(cursors.encode(41), 10, 500) == 41
    # A search's or a filter's cursor serves the same search and filter only
    scopes = [
        MULLER,
        cursors.scope_of({"status": None, "search": ["Muller"]}),
        cursors.scope_of({"status": None, "search": ["mul", "ler"]}),
        cursors.scope_of({"status": "late", "search": ["muller"]}),
        cursors.scope_of({"status": "late", "search": None}),
    ]
    assert len(set(scopes)) == len(scopes)
    assert "" not in scopes
    for scope in scopes:
        cursor = cursors.encode(41, scope)
        assert cursors.after(cursor, 10, 500, scope) == 41
        for other in {"", *scopes} - {scope}:
            with pytest.raises(InvalidQuery, match="another search or filter"):
                cursors.after(cursor, 10, 500, other)
    with pytest.raises(InvalidQuery):
        cursors.after(cursors.encode(41), 10, 500, MULLER)


@pytest.mark.parametrize("cursor", ["bm9wZQ", "aWQ6", "aWQ6eDpmZg", "!!!", "aWQ6NDE6"])
def test_a_cursor_the_api_never_returned_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        cursors.after(cursor, 10, 500, MULLER)


def test_the_next_cursor_carries_the_scope_of_its_page() -> None:
    page = cursors.page_of([1, 2, 3], 2, lambda row: row, MULLER)
    assert page.items == [1, 2]
    assert page.next_cursor is not None
    assert cursors.after(page.next_cursor, 2, 500, MULLER) == 2
    assert cursors.page_of([1, 2], 2, lambda row: row, MULLER).next_cursor is None
