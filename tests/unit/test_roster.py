from __future__ import annotations

import pytest
from exam_depository.domain.cells import neutralized, restored
from exam_depository.domain.errors import InvalidInput, PayloadTooLarge
from exam_depository.domain.roster import MAX_ROWS, parse_accommodations, parse_roster, roster_csv
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
    assert text == (
        "\ufeffnickname,first_name,last_name,email,upload_code,pseudonym,started_at,due_at,cutoff_at,"
        "extra_time_percent,extra_time_minutes\r\n"
        'a,\'=1+1,"O""Brien, Jr.",,,,,,,,\r\n'
    )


def test_a_roster_download_imports_back_its_clock_and_accommodation_columns_ignored() -> None:
    downloaded = roster_csv(
        [
            {
                "nickname": "a",
                "first_name": "Ann",
                "last_name": "Lee",
                "email": None,
                "upload_code": "7K3M-Q9TX-2WFD-8HNB-C4RZ",
                "pseudonym": "anon-7K3QX2",
                "started_at": "2026-12-14T08:02:00Z",
                "due_at": "2026-12-14T11:47:00Z",
                "cutoff_at": "2026-12-14T12:02:00Z",
                "extra_time_percent": "25",
                "extra_time_minutes": "0",
            }
        ]
    )
    (row,) = parse_roster(downloaded.encode())
    assert (row.line, row.student.nickname, row.student.first_name, row.student.email) == (2, "a", "Ann", None)


# --- accommodations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\ufeffnickname,extra_time_percent\r\nann,25\r\n", [(2, "ann", 25, 0)]),
        (
            "Extra_Time_Minutes , NICKNAME,extra_time_percent\n30,ann,0\n,bob,50\n",
            [(2, "ann", 0, 30), (3, "bob", 50, 0)],
        ),
        ("nickname,extra_time_percent\n\nann,0\n,\n\nbob,300\n", [(3, "ann", 0, 0), (6, "bob", 300, 0)]),
        ("nickname,extra_time_percent,extra_time_minutes\nann, 10 ,1440\n", [(2, "ann", 10, 1440)]),
    ],
    ids=["bom-crlf", "any-order-and-case", "blank-lines-skipped", "both-and-spaces"],
)
def test_accommodations_by_csv_parse_by_line(body: str, expected: list[tuple[int, str, int, int]]) -> None:
    rows, errors = parse_accommodations(body.encode())
    assert errors == []
    assert [
        (r.line, r.nickname, r.accommodation.extra_time_percent, r.accommodation.extra_time_minutes) for r in rows
    ] == expected


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("ann,-1,0", "extra_time_percent", "greater than or equal to 0"),
        ("ann,301,0", "extra_time_percent", "less than or equal to 300"),
        ("ann,1.5,0", "extra_time_percent", "valid integer"),
        ("ann,,0", "extra_time_percent", "is required"),
        ("ann,twenty,0", "extra_time_percent", "valid integer"),
        ("ann,25,1441", "extra_time_minutes", "less than or equal to 1440"),
        ("ann,25,-5", "extra_time_minutes", "greater than or equal to 0"),
        ("ann,25,30,1", None, "expected 3 fields, found 4"),
        ("ann", None, "expected 3 fields, found 1"),
    ],
)
def test_a_bad_accommodation_row_is_named_by_line_and_field(row: str, field: str | None, message: str) -> None:
    body = f"nickname,extra_time_percent,extra_time_minutes\nok,10,0\n{row}\n"
    rows, errors = parse_accommodations(body.encode())
    assert [r.nickname for r in rows] == ["ok"]
    (error,) = errors
    assert (error["line"], error.get("field")) == (3, field)
    assert message in str(error["message"])


def test_a_nickname_twice_is_a_duplicate_of_its_first_line_whatever_its_case() -> None:
    rows, errors = parse_accommodations(b"nickname,extra_time_percent\nann,25\nbob,10\nANN,50\n")
    assert [r.nickname for r in rows] == ["ann", "bob"]
    assert errors == [{"line": 4, "field": "nickname", "message": "duplicate of line 2"}]


def test_malformed_csv_ends_the_rows_with_an_error_on_its_line() -> None:
    rows, errors = parse_accommodations(b'nickname,extra_time_percent\nann,25\nbob,"10\n')
    assert [r.nickname for r in rows] == ["ann"]
    assert [(e["line"], str(e["message"]).startswith("malformed CSV")) for e in errors] == [(3, True)]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nickname\nann\n",
        b"nickname,extra_time\nann,25\n",
        b"nickname,extra_time_percent,extra_attempts\nann,25,1\n",
        b"nickname,extra_time_percent,Nickname\nann,25,ann\n",
        b"nickname,extra_time_percent\n\n",
        b"nickname,extra_time_percent\nann,\xff\n",
        b'"nickname,extra_time_percent\n',
    ],
    ids=["empty", "no-percent", "unknown-column", "extension-column", "twice", "no-rows", "not-utf8", "bad-header"],
)
def test_an_accommodations_file_that_cannot_be_read_is_invalid_at_once(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_accommodations(body)


def test_at_most_5000_accommodations_at_once() -> None:
    header = "nickname,extra_time_percent\n"
    rows, _ = parse_accommodations((header + "".join(f"n{i},25\n" for i in range(MAX_ROWS))).encode())
    assert len(rows) == MAX_ROWS
    with pytest.raises(PayloadTooLarge):
        parse_accommodations((header + "".join(f"n{i},25\n" for i in range(MAX_ROWS + 1))).encode())
