from __future__ import annotations

import pytest
from exam_depository.domain.errors import InvalidInput, PayloadTooLarge
from exam_depository.domain.roster import MAX_ROWS, neutralized, parse_roster, restored, roster_csv
from hypothesis import given
from hypothesis import strategies as st


def test_a_roster_with_bom_crlf_quotes_and_optional_email_parses() -> None:
    body = '\ufeffNickname , First_Name,last_name,email\r\nmob,Mary-Ann,"O\'Brien, Jr.",m@x.org\r\n\r\nzl,Zoë,Ł,\r\n'
    rows = parse_roster(body.encode())
    assert [(row.line, row.student.nickname, row.student.last_name, row.student.email) for row in rows] == [
        (2, "mob", "O'Brien, Jr.", "m@x.org"),
        (4, "zl", "Ł", None),
    ]


def test_line_numbers_count_quoted_newlines() -> None:
    body = 'nickname,first_name,last_name\na,"two\nlines",x\nbad nick,A,B\n'
    with pytest.raises(InvalidInput) as caught:
        parse_roster(body.encode())
    assert [(e["line"], e["field"]) for e in caught.value.errors or []] == [(2, "first_name"), (4, "nickname")]


def test_duplicates_in_the_file_are_reported_against_their_first_line() -> None:
    body = "nickname,first_name,last_name,email\na,A,B,x@y.org\nA,C,D,\nb,E,F,X@y.org\n"
    with pytest.raises(InvalidInput) as caught:
        parse_roster(body.encode())
    assert [e["message"] for e in caught.value.errors or []] == ["duplicate of line 2", "duplicate of line 2"]


def test_at_most_5000_rows() -> None:
    header = "nickname,first_name,last_name\n"
    assert len(parse_roster((header + "".join(f"n{i},A,B\n" for i in range(MAX_ROWS))).encode())) == MAX_ROWS
    with pytest.raises(PayloadTooLarge):
        parse_roster((header + "".join(f"n{i},A,B\n" for i in range(MAX_ROWS + 1))).encode())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nickname,first_name,last_name\n",
        b"nickname,last_name\na,b\n",
        b"nickname,first_name,last_name,age\n",
        b"nickname,first_name,last_name\na,\xff,b\n",
        b'nickname,first_name,last_name\na,"unclosed,b\n',
    ],
)
def test_unreadable_rosters_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_roster(body)


@given(st.text())
def test_a_neutralized_cell_never_starts_a_formula_and_is_restored_exactly(cell: str) -> None:
    written = neutralized(cell)
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restored(written) == cell


def test_the_roster_csv_has_a_bom_crlf_and_quotes_what_needs_quoting() -> None:
    text = roster_csv([{"nickname": "a", "first_name": "=1+1", "last_name": 'O"Brien, Jr.', "email": None}])
    assert text == '\ufeffnickname,first_name,last_name,email,upload_code,pseudonym\r\na,\'=1+1,"O""Brien, Jr.",,,\r\n'
