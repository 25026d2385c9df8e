from __future__ import annotations

import pytest
from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.cells import neutralized, restored
from exam_depository.domain.errors import InvalidInput, PayloadTooLarge
from exam_depository.domain.roster import (
    MAX_ROWS,
    parse_accommodations,
    parse_roster,
    roster_csv,
    shared_address_warnings,
)
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


def test_a_nickname_twice_is_reported_against_its_first_line() -> None:
    body = "nickname,first_name,last_name,email\na,A,B,x@y.org\nA,C,D,\nb,E,F,X@y.org\n"
    with pytest.raises(InvalidInput) as caught:
        parse_roster(body.encode())
    assert [(e["line"], e["field"], e["message"]) for e in caught.value.errors or []] == [
        (3, "nickname", "duplicate of line 2")
    ]


def test_an_address_twice_is_allowed_and_each_later_line_warned_against_the_first() -> None:
    body = (
        "nickname,first_name,last_name,email\n"
        "ana,Ana,Lee,family@example.org\n"
        "ben,Ben,Lee,Family@EXAMPLE.org\n"
        "cy,Cy,Zhou,cy@example.org\n"
        "dan,Dan,Lee, family@example.org \n"
    )
    rows = parse_roster(body.encode())

    assert [row.student.nickname for row in rows] == ["ana", "ben", "cy", "dan"]
    assert [row.student.email for row in rows] == [
        "family@example.org",
        "Family@EXAMPLE.org",  # kept as written: mail goes to its normalized form
        "cy@example.org",
        "family@example.org",
    ]
    assert shared_address_warnings(rows, {}) == [
        {"line": 3, "field": "email", "message": "same address as line 2 (ana)"},
        {"line": 5, "field": "email", "message": "same address as line 2 (ana)"},
    ]


def test_an_address_a_student_of_the_exam_has_is_warned_but_not_the_students_own_row() -> None:
    body = "nickname,first_name,last_name,email\nana,Ana,Lee,ana@example.org\nzoe,Zoe,Lee,ANA@example.org\n"
    rows = parse_roster(body.encode())

    # ana is in the exam already (an import again): her own row is no warning; zoe's is
    assert shared_address_warnings(rows, {"ana@example.org": "ana"}) == [
        {"line": 3, "field": "email", "message": "same address as line 2 (ana)"}
    ]
    assert shared_address_warnings(rows[1:], {"ana@example.org": "ana"}) == [
        {"line": 3, "field": "email", "message": "same address as ana, already in the exam"}
    ]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        (
            "zoë@example.org",
            "The part before the @ has a character email cannot carry here (ë): use an address with only ASCII"
            " letters, digits and . _ - + before the @",
        ),
        ("ana@localhost", "The part after the @-sign is not valid. It should have a period."),
        ('"""ana lee""@example.org"', "Quoting the part before the @-sign is not allowed here."),  # a CSV cell
        ("ana@[192.0.2.1]", "A bracketed IP address after the @-sign is not allowed here."),
        (
            "Ana Lee <ana@example.org>",
            "A display name and angle brackets around the email address are not permitted here.",
        ),
        ("ana@example..org", "An email address cannot have two periods in a row."),
        ("ana", "An email address must have an @-sign."),
    ],
    ids=["unicode-local-part", "no-period", "quoted", "ip-address", "display-name", "two-periods", "no-at"],
)
def test_an_address_mail_cannot_go_to_is_refused_with_its_line_and_a_sentence(email: str, message: str) -> None:
    body = f"nickname,first_name,last_name,email\nok,A,B,ok@example.org\nzl,Zoë,Ł,{email}\n"
    with pytest.raises(InvalidInput) as caught:
        parse_roster(body.encode())
    assert caught.value.errors == [{"line": 3, "field": "email", "message": message}]


def test_a_unicode_domain_is_kept_as_written_and_sent_to_in_punycode() -> None:
    (row,) = parse_roster("nickname,first_name,last_name,email\nana,Ana,Lee,Ana@München.de\n".encode())

    assert row.student.email == "Ana@München.de"
    assert normalized_address("Ana@München.de") == "ana@xn--mnchen-3ya.de"
    assert normalized_address(" Ana.Smith+Exams@Example.ORG ".strip()) == "ana.smith+exams@example.org"


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
        "\ufeffnickname,first_name,last_name,email,email_state,upload_code,pseudonym,started_at,due_at,cutoff_at,"
        "extra_time_percent,extra_time_minutes,from_lms,left_course_at\r\n"
        'a,\'=1+1,"O""Brien, Jr.",,,,,,,,,,,\r\n'
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


def test_the_email_state_column_is_downloaded_and_read_back_as_nothing() -> None:
    downloaded = roster_csv(
        [
            {
                "nickname": "a",
                "first_name": "Ann",
                "last_name": "Lee",
                "email": "ann@example.org",
                "email_state": "bounced",
            },
            {"nickname": "b", "first_name": "Bo", "last_name": "Ng", "email": None, "email_state": None},
        ]
    )
    header, first, second = downloaded.removeprefix("\ufeff").splitlines()[:3]
    assert header.split(",")[3:6] == ["email", "email_state", "upload_code"]
    assert first.split(",")[3:5] == ["ann@example.org", "bounced"]
    assert second.split(",")[3:5] == ["", ""]

    rows = parse_roster(downloaded.encode())
    assert [(row.student.nickname, row.student.email) for row in rows] == [("a", "ann@example.org"), ("b", None)]
    assert "email_state" not in type(rows[0].student).model_fields  # read, and ignored: a state is the server's


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
