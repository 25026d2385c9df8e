"""The students of an exam over the examiner's routes: created, listed page by page, imported and
downloaded as a roster, deleted; invoked in-process against PostgreSQL (through the secret) and moto."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from exam_depository.api.models.common import Problem
from exam_depository.api.models.student_summaries import StudentPage
from exam_depository.domain import codes
from exam_depository.domain.instants import rfc3339

from tests.integration.conftest import EXAM, Api, ApiResponse, Bucket

PROBLEM = "application/problem+json"


def _csv(text: str, *, bom: bool = False) -> str:
    raw = ("\ufeff" if bom else "").encode() + text.encode()
    return base64.b64encode(raw).decode()


def _import(
    api: Api, text: str | None = None, *, raw: str | None = None, content_type: str = "text/csv", bom: bool = False
) -> ApiResponse:
    return api.call(
        "import_students",
        "roster",
        raw_body=raw if raw is not None else _csv(text or "", bom=bom),
        headers={"Content-Type": content_type},
    )


def test_create_student_keeps_names_exactly_and_returns_a_grouped_upload_code(api: Api) -> None:
    # Given a student whose names carry Unicode, spaces, apostrophes and hyphens
    body = {"nickname": " z.l-2 ", "first_name": " Mary-Ann Zoë ", "last_name": "O'Brien", "email": "m@example.org"}

    # When the examiner creates it
    response = api.call("create_student", "valid", body=body)

    # Then the names are stored exactly as given (trimmed) and the code is 100 bits, grouped
    assert response.status == 201
    student = response.body
    assert (student["nickname"], student["first_name"], student["last_name"]) == ("z.l-2", "Mary-Ann Zoë", "O'Brien")
    assert student["email"] == "m@example.org"
    assert codes.normalize(student["upload_code"]) is not None
    assert len(student["upload_code"].split("-")) == 5
    # The documented fields, and nothing else (no key, no internal column)
    assert set(student) == {
        "nickname",
        "pseudonym",
        "first_name",
        "last_name",
        "email",
        "upload_code",
        "created_at",
        "email_state",
        "email_state_at",
        "email_shared",
        "from_lms",
        "left_course_at",
    }
    assert (student["email_state"], student["email_state_at"], student["email_shared"]) == (None, None, False)
    assert (student["from_lms"], student["left_course_at"]) == (False, None)


def test_a_duplicate_nickname_is_a_conflict(api: Api) -> None:
    api.create_student("first", email="same@example.org")

    response = api.call(
        "create_student", "valid", body={"first_name": "A", "last_name": "B", "nickname": "FIRST", "email": "o@x.org"}
    )

    assert response.status == 409
    assert response.headers["Content-Type"] == PROBLEM
    assert response.body["status"] == 409
    assert "nickname" in response.body["detail"]
    assert "duplicate key" not in response.body["detail"]  # no database text


def test_the_same_address_on_two_students_is_allowed_and_shown_on_both(api: Api) -> None:
    first = api.create_student("first", email="family@example.org")
    assert first["email_shared"] is False

    second = api.create_student("second", email=" Family@EXAMPLE.org ")

    assert (second["email"], second["email_shared"]) == ("Family@EXAMPLE.org", True)  # kept as written
    shown = {item["nickname"]: item["email_shared"] for item in api.call("list_students", "first_page").body["items"]}
    assert shown == {"first": True, "second": True}


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        ({"nickname": "has space", "first_name": "A", "last_name": "B"}, None),
        ({"nickname": "x" * 33, "first_name": "A", "last_name": "B"}, None),
        ({"nickname": "ok", "first_name": "   ", "last_name": "B"}, None),
        ({"nickname": "ok", "first_name": "A" * 201, "last_name": "B"}, None),
        ({"nickname": "ok", "first_name": "A", "last_name": "B", "email": "not-an-email"}, None),
        ({"nickname": "ok", "first_name": "A", "last_name": "B", "email": "a\x00@b.org"}, None),
        (None, '{"nickname": "ok", "first_name": "\\ud800", "last_name": "B"}'),
        ({"nickname": "ok", "first_name": "A"}, None),
        (None, "{not json"),
        (None, "[]"),
    ],
)
def test_invalid_student_is_422_problem(api: Api, body: dict[str, str] | None, raw: str | None) -> None:
    response = (
        api.call("create_student", "valid", body=body)
        if raw is None
        else api.call("create_student", "valid", raw_body=raw)
    )

    assert response.status == 422
    assert response.headers["Content-Type"] == PROBLEM
    assert response.body["title"] == "Invalid input"
    assert response.body["errors"]


def test_listing_pages_through_every_student_once_in_a_stable_order(api: Api) -> None:
    created = [api.create_student(f"s{i:02d}")["nickname"] for i in range(7)]

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        response = api.call("list_students", "first_page", query=query)
        assert response.status == 200
        seen += [item["nickname"] for item in response.body["items"]]
        pages += 1
        cursor = response.body["next_cursor"]
        if cursor is None:
            break

    assert seen == created
    assert pages == 3
    item = response.body["items"][0]
    assert (item["attempts_used"], item["attempts_left"], item["current"]) == (0, 5, None)


def _hand_in(api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]], nickname: str) -> None:
    """The student's file uploaded with a form and recorded."""
    code = api.call("get_student", "by_nickname", path_params={"nickname": nickname}).body["upload_code"]
    form = api.request_upload(code).body
    bucket.upload(form, b"%PDF-1.7 answers")
    assert record(bucket.notification(form["fields"]["key"], 16))["batchItemFailures"] == []


def test_a_page_says_of_each_student_exactly_what_their_own_route_says(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given students in every state a row can show: nothing handed in, a current file with its
    # receipt, a superseded one beneath it, an extension, and a file handed in after the due time
    for nickname in ("none", "once", "twice", "extended", "late"):
        api.create_student(nickname)
    for nickname in ("once", "twice", "twice"):
        _hand_in(api, bucket, record, nickname)
    now = datetime.now(UTC)
    window = {"due_at": (now - timedelta(minutes=30)).isoformat(), "cutoff_at": (now + timedelta(hours=1)).isoformat()}
    assert api.call("update_exam", "later_due", body=window).status == 200
    extension = {"due_at": (now + timedelta(days=10)).isoformat(), "extra_attempts": 2}
    assert api.call("set_extension", "valid", path_params={"nickname": "extended"}, body=extension).status == 200
    for nickname in ("extended", "late"):
        _hand_in(api, bucket, record, nickname)

    # When the examiner lists them (a page is serialised without the response models)
    page = api.call("list_students", "first_page", query={"limit": "10"})

    # Then the page is a StudentPage, and each row is what get_student says, submissions aside
    assert page.status == 200
    assert StudentPage.model_validate(page.body).model_dump(mode="json") == page.body
    for item in page.body["items"]:
        detail = api.call("get_student", "by_nickname", path_params={"nickname": item["nickname"]}).body
        assert item == {name: value for name, value in detail.items() if name not in ("submissions", "messages")}
    rows = {item["nickname"]: item for item in page.body["items"]}
    assert rows["none"]["current"] is None
    assert rows["twice"]["attempts_used"] == 2
    assert rows["twice"]["current"]["receipt"].count(".") == 2
    assert rows["extended"]["extension"]["extra_attempts"] == 2
    assert rows["extended"]["max_attempts"] == 7
    assert (rows["extended"]["current"]["late"], rows["late"]["current"]["late"]) == (False, True)


def test_a_page_applies_the_rules_as_get_student_does_where_the_database_writes_it(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]], clean_database: str
) -> None:
    # Given what only a row's rules decide (the page's JSON is written by the database, the
    # student's by Python): a current file past its retention, more attempts used than the exam
    # now allows, an extension the exam's window has since overtaken, instants in whole seconds
    for nickname in ("expired", "overtaken"):
        api.create_student(nickname)
    for nickname in ("expired", "expired", "overtaken"):
        _hand_in(api, bucket, record, nickname)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    extension = {"due_at": soon.isoformat(), "cutoff_at": (soon + timedelta(minutes=5)).isoformat()}
    assert api.call("set_extension", "valid", path_params={"nickname": "overtaken"}, body=extension).status == 200
    with psycopg.connect(clean_database) as conn:
        conn.execute(
            """UPDATE submission SET expires_at = date_trunc('second', now()) - interval '1 minute'
               WHERE status = 'current' AND student_id = (SELECT id FROM student WHERE nickname = 'expired')"""
        )
        conn.execute(
            "UPDATE exam SET max_attempts = 1, due_at = %s, cutoff_at = %s WHERE slug = %s",
            (soon + timedelta(days=1), soon + timedelta(days=1, minutes=5), EXAM),
        )

    # When the examiner lists them
    page = api.call("list_students", "first_page", query={"limit": "10"})

    # Then each row is what get_student says: the rules hold the same in both
    assert page.status == 200
    assert StudentPage.model_validate(page.body).model_dump(mode="json") == page.body
    rows = {item["nickname"]: item for item in page.body["items"]}
    for nickname, item in rows.items():
        detail = api.call("get_student", "by_nickname", path_params={"nickname": nickname}).body
        assert item == {name: value for name, value in detail.items() if name not in ("submissions", "messages")}
    assert rows["expired"]["current"]["status"] == "expired"
    assert (rows["expired"]["attempts_used"], rows["expired"]["attempts_left"]) == (2, 0)
    assert rows["overtaken"]["due_at"] == rfc3339(soon + timedelta(days=1))
    assert rows["overtaken"]["extension"]["due_at"] == rfc3339(soon)
    assert rows["overtaken"]["current"]["status"] == "current"

    # Given a timed exam (a clock of 3 h 1 min, due in an hour with 15 minutes' grace) whose
    # students' clocks stand where only the personal window's rule decides: not started, extra time
    # that rounds up to a second, the exam's due time first, an extension beyond the clock and one before
    # its end (its shorter grace clamps the cut-off), a start to the microsecond
    now = datetime.now(UTC).replace(microsecond=0)
    api.create_exam(
        "timed",
        opens_at=(now - timedelta(hours=6)).isoformat(),
        due_at=(now + timedelta(hours=1)).isoformat(),
        cutoff_at=(now + timedelta(hours=1, minutes=15)).isoformat(),
        duration_minutes=181,
    )
    clocks = {
        # nickname: (started hours ago, extra %, extra minutes, extension's due in hours from now)
        "idle": (None, 25, 0, None),
        "rounded": (1.5, 33, 7, 9.0),
        "capped": (1.0, 0, 0, None),
        "beyond": (2.0, 50, 0, 9.0),
        "before": (2.0, 0, 30, 1.25),
        "precise": (0.123456789, 0, 0, 9.0),
    }
    with psycopg.connect(clean_database) as conn:
        for nickname, (started, percent, minutes, extended) in clocks.items():
            api.create_student(nickname, exam_id="timed")
            conn.execute(
                """UPDATE student SET started_at = %s, extra_time_percent = %s, extra_time_minutes = %s,
                                      extension_due_at = %s, extension_cutoff_at = %s
                   WHERE nickname = %s""",
                (
                    None if started is None else now - timedelta(hours=started),
                    percent,
                    minutes,
                    None if extended is None else now + timedelta(hours=extended),
                    None if extended is None else now + timedelta(hours=extended, minutes=5),
                    nickname,
                ),
            )

    # When the examiner lists them, Then each row is what get_student says
    timed = api.call("list_students", "first_page", path_params={"exam_id": "timed"}, query={"limit": "10"})
    assert StudentPage.model_validate(timed.body).model_dump(mode="json") == timed.body
    timed_rows = {item["nickname"]: item for item in timed.body["items"]}
    for nickname, item in timed_rows.items():
        detail = api.call("get_student", "by_nickname", path_params={"exam_id": "timed", "nickname": nickname}).body
        assert item == {name: value for name, value in detail.items() if name not in ("submissions", "messages")}
    assert timed_rows["idle"]["due_at"] == rfc3339(now + timedelta(hours=1))
    assert timed_rows["rounded"]["time_allowed_seconds"] == 14444 + 420  # 10,860 s × 1.33 = 14,443.8, then 7 min
    assert timed_rows["rounded"]["due_at"] == rfc3339(now - timedelta(hours=1.5) + timedelta(seconds=14864))
    assert timed_rows["capped"]["due_at"] == rfc3339(now + timedelta(hours=1))
    assert timed_rows["beyond"]["cutoff_at"] == rfc3339(now - timedelta(hours=2) + timedelta(seconds=16290, minutes=15))
    assert timed_rows["before"]["due_at"] == rfc3339(now + timedelta(hours=1.25))
    assert timed_rows["before"]["cutoff_at"] == rfc3339(now + timedelta(hours=1.25, minutes=5))
    assert timed_rows["precise"]["due_at"] == rfc3339(now - timedelta(hours=0.123456789) + timedelta(seconds=10860))


@pytest.mark.parametrize("query", [{"limit": "501"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "bm9wZQ"}])
def test_listing_refuses_bad_paging_with_422(api: Api, query: dict[str, str]) -> None:
    response = api.call("list_students", "first_page", query=query)

    assert response.status == 422
    assert response.headers["Content-Type"] == PROBLEM


SEARCHED = [
    # nickname, first name, last name, email
    ("hmuller", "Hans", "Müller", "hans@example.org"),
    ("zl", "Zoë", "Łukasiewicz", None),
    ("mobrien", "Mary-Ann", "O'Brien", "mary-ann.obrien@example.org"),
    ("ann.lee", "Ann", "Lee", "a.lee@uni.example"),
    ("MULL3", "Kim", "Park", None),
    ("jdupont", "Jérôme", "Dupont", "JEROME.D@example.FR"),
    ("olga", "Ольга", "Смирнова", None),
]


def _search(api: Api, q: str, **query: str) -> ApiResponse:
    return api.call("list_students", "first_page", query={"q": q, **query})


def _found(api: Api, q: str, **query: str) -> list[str]:
    response = _search(api, q, **query)
    assert response.status == 200, response.body
    assert StudentPage.model_validate(response.body).model_dump(mode="json") == response.body
    return [item["nickname"] for item in response.body["items"]]


def test_a_search_finds_students_by_any_part_of_nickname_names_or_email_in_any_case_and_accent(api: Api) -> None:
    # Given a roster whose names carry accents, other scripts and mixed case
    for nickname, first, last, email in SEARCHED:
        api.create_student(nickname, first_name=first, last_name=last, **({"email": email} if email else {}))

    # Then each search finds the students every one of its terms is part of, folded alike
    assert _found(api, "muller") == ["hmuller"]
    assert _found(api, "MULLER") == ["hmuller"]
    assert _found(api, "Müller") == ["hmuller"]
    assert _found(api, "müll") == ["hmuller", "MULL3"]  # a last name and a nickname
    assert _found(api, "zoe") == ["zl"]
    assert _found(api, "ZOË łuk") == ["zl"]
    assert _found(api, "jerome") == ["jdupont"]
    assert _found(api, "example.fr") == ["jdupont"]  # part of the email, in another case
    assert _found(api, "o'brien") == ["mobrien"]
    assert _found(api, "ann lee") == ["ann.lee"]  # each term in another field
    assert _found(api, "  ann\tuni.example ") == ["ann.lee"]
    assert _found(api, "ann") == ["mobrien", "ann.lee"]  # "Mary-Ann" too
    assert _found(api, "ann park") == []  # every term must be found
    assert _found(api, "ольга") == ["olga"]
    assert _found(api, "%") == []  # no wildcard: the text is looked for as it is
    assert _found(api, "_") == []
    # And a term never spans two fields
    assert _found(api, "hansmüller") == []


def test_a_search_served_before_its_migration_ran_is_a_503_the_pages_retry(api: Api, database_url: str) -> None:
    # Given a deployment whose new functions are served before the migration step created unaccent
    api.create_student("hmuller", first_name="Hans", last_name="Müller")
    with psycopg.connect(database_url, autocommit=True) as migration:
        migration.execute("DROP EXTENSION unaccent")
        try:
            # Then the search is "starting", to retry, not a 500; the roster itself still answers
            refused = api.call("list_students", "first_page", query={"q": "muller"})
            assert refused.status == 503
            assert refused.body["type"] == "urn:exam-depository:problem:service-starting"
            assert refused.headers["Retry-After"] == "5"
            assert api.call("list_students", "first_page").status == 200
        finally:
            migration.execute("CREATE EXTENSION unaccent")
    # And once it ran, the same request is served
    assert _found(api, "muller") == ["hmuller"]


def test_a_search_pages_with_its_cursor_and_combines_with_the_status_filter(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given 12 students, 7 of them named Müller, 3 of whom handed in
    for n in range(12):
        last = "Müller" if n % 2 == 0 or n == 11 else "Schmidt"
        api.create_student(f"s{n:02d}", first_name="Eva", last_name=last)
    for nickname in ("s00", "s04", "s05"):
        _hand_in(api, bucket, record, nickname)
    mullers = ["s00", "s02", "s04", "s06", "s08", "s10", "s11"]

    # When the examiner pages through a search, 3 at a time
    seen, cursor, pages = [], None, 0
    while True:
        page = _search(api, "MULLER", limit="3", **({"cursor": cursor} if cursor else {}))
        assert page.status == 200, page.body
        seen += [item["nickname"] for item in page.body["items"]]
        pages += 1
        cursor = page.body["next_cursor"]
        if cursor is None:
            break

    # Then every match comes once, in the roster's order, and only they
    assert (seen, pages) == (mullers, 3)
    # And the search narrows the status filter: who of them handed in, who has not yet
    assert _found(api, "muller", status="handed_in") == ["s00", "s04"]
    assert _found(api, "muller", status="none") == ["s02", "s06", "s08", "s10", "s11"]
    assert _found(api, "schmidt", status="handed_in") == ["s05"]
    handed_in = _search(api, "muller", status="handed_in", limit="1")
    follow = _search(api, "muller", status="handed_in", limit="1", cursor=handed_in.body["next_cursor"])
    assert [item["nickname"] for item in follow.body["items"]] == ["s04"]


@pytest.mark.parametrize(
    ("q", "says"),
    [("", "1 to 100"), ("   ", "1 to 100"), ("x" * 101, "(it has 101)"), ("ann\x00", "control characters")],
    ids=["empty", "blank", "too long", "a NUL"],
)
def test_a_search_out_of_bounds_is_a_400_problem(api: Api, q: str, says: str) -> None:
    response = _search(api, q)

    assert response.status == 400
    assert response.headers["Content-Type"] == PROBLEM
    assert Problem.model_validate(response.body).type == "urn:exam-depository:problem:invalid-query"  # as documented
    assert says in response.body["detail"]
    assert _found(api, "x" * 100) == []  # the longest allowed is searched


def test_a_cursor_serves_only_the_search_and_filter_it_came_from(api: Api) -> None:
    # Given a page of a search, of the whole roster and of a filter, each followed by another
    for n in range(4):
        api.create_student(f"s{n}", last_name="Müller")
    cursors = {
        ("muller", None): _search(api, "muller", limit="1").body["next_cursor"],
        (None, None): api.call("list_students", "first_page", query={"limit": "1"}).body["next_cursor"],
        (None, "none"): api.call("list_students", "first_page", query={"limit": "1", "status": "none"}).body[
            "next_cursor"
        ],
    }
    assert all(cursors.values())

    # When a cursor is used with another search or filter, then it is refused with a 400 problem
    for (q, status), cursor in cursors.items():
        for other_q, other_status in (("mull", None), ("muller", "none"), (None, None), (None, "handed_in")):
            if (other_q, other_status) == (q, status):
                continue
            query = {"limit": "1", "cursor": cursor}
            query |= {"q": other_q} if other_q else {}
            query |= {"status": other_status} if other_status else {}
            response = api.call("list_students", "first_page", query=query)
            assert response.status == 400, (q, status, other_q, other_status, response.body)
            assert Problem.model_validate(response.body).type == "urn:exam-depository:problem:invalid-query"
    # And with its own, it reads the next page
    assert [
        item["nickname"] for item in _search(api, "muller", limit="1", cursor=cursors["muller", None]).body["items"]
    ] == ["s1"]


def test_the_csv_download_is_the_whole_roster_and_refuses_a_search(api: Api) -> None:
    api.create_student("hmuller", last_name="Müller")

    response = api.call("list_students", "roster_csv", query={"q": "muller"})

    assert response.status == 400
    assert response.headers["Content-Type"] == PROBLEM
    assert "whole roster" in response.body["detail"]


def test_get_and_delete_unknown_student_are_404(api: Api) -> None:
    for function in ("get_student", "delete_student"):
        response = api.call(function, "by_nickname", path_params={"nickname": "nobody"})
        assert response.status == 404
        assert response.headers["Content-Type"] == PROBLEM


def test_delete_student_removes_its_rows_and_files(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given a student with a recorded file and a second student who must be untouched
    student = api.create_student("leaving")
    other = api.create_student("staying")
    for who in (student, other):
        form = api.request_upload(who["upload_code"]).body
        bucket.upload(form, b"%PDF answers")
        record(bucket.notification(form["fields"]["key"], 12))
    assert len(bucket.keys()) == 2

    # When the examiner deletes the first
    response = api.call("delete_student", "by_nickname", path_params={"nickname": "LEAVING"})

    # Then it, its upload code and its file are gone; the other is intact
    assert response.status == 204
    assert api.call("get_student", "by_nickname", path_params={"nickname": "leaving"}).status == 404
    assert api.request_upload(student["upload_code"]).status == 404
    assert len(bucket.keys()) == 1
    assert api.call("get_student", "by_nickname", path_params={"nickname": "staying"}).body["attempts_used"] == 1


def test_one_students_view_holds_every_upload_and_its_current_file_downloads_by_code(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given a student who handed in twice, the second time late
    api.create_student("twice")
    _hand_in(api, bucket, record, "twice")
    now = datetime.now(UTC)
    window = {"due_at": (now - timedelta(minutes=1)).isoformat(), "cutoff_at": (now + timedelta(hours=1)).isoformat()}
    assert api.call("update_exam", "later_due", body=window).status == 200
    _hand_in(api, bucket, record, "twice")

    # When the console shows the student
    detail = api.call("get_student", "by_nickname", path_params={"nickname": "twice"})

    # Then every upload is there with what a row shows: status, late, kept until, code, receipt
    assert detail.status == 200
    first, second = detail.body["submissions"]
    assert [(first["status"], first["late"]), (second["status"], second["late"])] == [
        ("superseded", False),
        ("current", True),
    ]
    assert detail.body["current"] == second
    assert datetime.fromisoformat(second["expires_at"]) > now  # kept until
    assert all(
        item["receipt"].count(".") == 2 and codes.normalize(item["verification_code"]) for item in (first, second)
    )
    # And the current file downloads through its verification code, the superseded one is gone (410)
    link = api.call("get_download_url", "by_code", path_params={"verification_code": second["verification_code"]})
    assert link.status == 200
    assert "url" in link.body
    gone = api.call("get_download_url", "by_code", path_params={"verification_code": first["verification_code"]})
    assert (gone.status, gone.headers["Content-Type"]) == (410, PROBLEM)


def _regenerate(api: Api, nickname: str, exam_id: str = EXAM) -> ApiResponse:
    return api.call("regenerate_upload_code", "by_nickname", path_params={"exam_id": exam_id, "nickname": nickname})


def test_a_regenerated_upload_code_replaces_the_old_one_which_finds_no_one_from_then_on(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given a student whose code leaked, with a form issued on it and not yet used, and another student
    student = api.create_student("leaked")
    other = api.create_student("other")
    old = student["upload_code"]
    issued = api.request_upload(old).body

    # When the examiner regenerates the code (no body; any case of the nickname)
    response = _regenerate(api, "LEAKED")

    # Then the answer is the student with a new code, which its own route now shows
    assert response.status == 201, response.body
    assert response.headers["Content-Type"] == "application/json"
    regenerated = response.body
    assert set(regenerated) == set(student)
    assert {k: v for k, v in regenerated.items() if k != "upload_code"} == {
        k: v for k, v in student.items() if k != "upload_code"
    }
    new = regenerated["upload_code"]
    assert codes.normalize(new) is not None
    assert codes.normalize(new) != codes.normalize(old)
    assert api.call("get_student", "by_nickname", path_params={"nickname": "leaked"}).body["upload_code"] == new
    # And the old code finds no one on either of a student's routes, in any of its spellings
    for spelling in (old, old.lower(), old.replace("-", "")):
        assert api.request_upload(spelling).status == 404
        status = api.call("get_upload_status", "by_code", path_params={"upload_code": spelling})
        assert (status.status, status.headers["Content-Type"]) == (404, PROBLEM)
    # And the new one works, and the other student's code is untouched
    assert api.call("get_upload_status", "by_code", path_params={"upload_code": new}).status == 200
    assert (
        api.call("get_student", "by_nickname", path_params={"nickname": "other"}).body["upload_code"]
        == (other["upload_code"])
    )

    # And the form issued with the old code before still records: the object's key names the upload
    assert old.replace("-", "") not in issued["fields"]["key"]
    bucket.upload(issued, b"%PDF-1.7 issued before")
    assert record(bucket.notification(issued["fields"]["key"], 22))["batchItemFailures"] == []
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": new}).body
    assert progress["current"]["upload_id"] == issued["upload_id"]
    assert progress["attempts_used"] == 1
    # And one issued with the new code records too
    form = api.request_upload(new).body
    bucket.upload(form, b"%PDF-1.7 issued after")
    assert record(bucket.notification(form["fields"]["key"], 21))["batchItemFailures"] == []
    detail = api.call("get_student", "by_nickname", path_params={"nickname": "leaked"}).body
    assert [item["upload_id"] for item in detail["submissions"]] == [issued["upload_id"], form["upload_id"]]
    assert detail["current"]["upload_id"] == form["upload_id"]


def test_regenerating_the_code_of_an_unknown_student_or_exam_is_a_404(api: Api) -> None:
    api.create_student("known")

    for nickname, exam_id in (("nobody", EXAM), ("known", "no-such-exam")):
        response = _regenerate(api, nickname, exam_id)
        assert response.status == 404
        assert response.headers["Content-Type"] == PROBLEM


def test_import_creates_every_row_and_reports_existing_ones(api: Api) -> None:
    api.create_student("mobrien", email="mary-ann.obrien@example.org")

    response = _import(
        api,
        "nickname,first_name,last_name,email\r\n"
        "mobrien,Mary-Ann,O'Brien,mary-ann.obrien@example.org\r\n"
        'zoe.l,Zoë,"Łukasiewicz, Jr.",\r\n'
        "\r\n"
        'jp_2,"Jean\nPierre",de la Fontaine,jp@example.org\r\n',
        bom=True,
    )

    assert response.status == 422  # "Jean\nPierre" has a control character in a name
    assert response.body["errors"] == [
        {"line": 5, "field": "first_name", "message": response.body["errors"][0]["message"]}
    ]

    response = _import(
        api,
        "nickname,first_name,last_name,email\n"
        "mobrien,Mary-Ann,O'Brien,mary-ann.obrien@example.org\n"
        'zoe.l,Zoë,"Łukasiewicz, Jr.",\n'
        "jp_2,Jean Pierre,de la Fontaine,jp@example.org\n",
        bom=True,
    )
    assert response.status == 201
    assert [s["nickname"] for s in response.body["created"]] == ["zoe.l", "jp_2"]
    assert response.body["created"][0]["last_name"] == "Łukasiewicz, Jr."
    assert [s["nickname"] for s in response.body["existing"]] == ["mobrien"]

    again = _import(api, 'nickname,first_name,last_name\nzoe.l,Zoë,"Łukasiewicz, Jr."\n')
    assert again.status == 200
    assert again.body == {"created": [], "existing": [response.body["created"][0]], "warnings": []}


def test_an_import_with_shared_addresses_creates_every_row_and_warns_of_each_by_line(api: Api) -> None:
    api.create_student("mobrien", email="mary-ann.obrien@example.org")

    response = _import(
        api,
        "nickname,first_name,last_name,email\n"
        "mobrien,Mary-Ann,O'Brien,mary-ann.obrien@example.org\n"
        "sis,Siobhan,O'Brien,Mary-Ann.OBrien@Example.org\n"
        "ana,Ana,Lee,family@example.org\n"
        "ben,Ben,Lee,FAMILY@example.org\n",
    )

    assert response.status == 201, response.body
    assert [s["nickname"] for s in response.body["created"]] == ["sis", "ana", "ben"]
    assert response.body["warnings"] == [
        {"line": 3, "field": "email", "message": "same address as line 2 (mobrien)"},
        {"line": 5, "field": "email", "message": "same address as line 4 (ana)"},
    ]
    # A later import naming an address a student already has says whose
    alone = _import(api, "nickname,first_name,last_name,email\ncy,Cy,Lee,family@EXAMPLE.org\n")
    assert alone.body["warnings"] == [{"line": 2, "field": "email", "message": alone.body["warnings"][0]["message"]}]
    assert alone.body["warnings"][0]["message"] in (
        "same address as ana, already in the exam",
        "same address as ben, already in the exam",
    )


def test_an_address_mail_cannot_go_to_is_refused_at_import_with_its_line(api: Api) -> None:
    response = _import(api, "nickname,first_name,last_name,email\nok,A,B,ok@example.org\nzl,Zoë,Ł,zoë@example.org\n")

    assert response.status == 422
    assert response.body["errors"] == [
        {
            "line": 3,
            "field": "email",
            "message": "The part before the @ has a character email cannot carry here (ë): use an address with only"
            " ASCII letters, digits and . _ - + before the @",
        }
    ]
    assert api.call("list_students", "first_page").body["items"] == []


def test_import_with_bad_rows_lists_each_by_line_and_creates_nothing(api: Api) -> None:
    response = _import(
        api,
        "nickname,first_name,last_name\ngood,Ann,Lee\nbad nick,Bob,Ray\ngood,Ann,Lee\nshort,,Ray\ntoomany,A,B,C\n",
    )

    assert response.status == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [(e["line"], e.get("field"), e["message"]) for e in response.body["errors"]] == [
        (3, "nickname", "use 1 to 32 letters, digits, '.', '_' or '-' (no spaces)"),
        (4, "nickname", "duplicate of line 2"),
        (5, "first_name", "must not be empty"),
        (6, None, "expected 3 fields, found 4"),
    ]
    assert api.call("list_students", "first_page").body["items"] == []


def test_import_clashing_with_another_student_creates_nothing(api: Api) -> None:
    api.create_student("taken")

    response = _import(api, "nickname,first_name,last_name\nfresh,New,One\ntaken,Someone,Else\n")

    assert response.status == 409
    assert response.body["errors"] == [
        {"line": 3, "field": "nickname", "message": "nickname already used by another student"}
    ]
    assert [s["nickname"] for s in api.call("list_students", "first_page").body["items"]] == ["taken"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (_csv(""), "text/csv", 422),
        (_csv("nickname,first_name\nx,y\n"), "text/csv", 422),
        (_csv("nickname,first_name,last_name\n"), "text/csv", 422),
        (base64.b64encode(b"nickname,first_name,last_name\nzoe,Zo\xeb,L\n").decode(), "text/csv", 422),
        (_csv("nickname,first_name,last_name\na,b,c\n"), "application/json", 415),
        (_csv("nickname,first_name,last_name\n" + "".join(f"n{i},A,B\n" for i in range(5001))), "text/csv", 413),
    ],
    ids=["empty", "bad-header", "no-rows", "not-utf8", "wrong-type", "5001-rows"],
)
def test_import_refuses_bad_files_with_a_problem(api: Api, body: str, content_type: str, status: int) -> None:
    response = _import(api, raw=body, content_type=content_type)

    assert response.status == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert api.call("list_students", "first_page").body["items"] == []


def test_import_of_5000_rows_creates_them_all(api: Api) -> None:
    text = "nickname,first_name,last_name\n" + "".join(f"n{i},A,B\n" for i in range(5000))

    response = _import(api, text)

    assert response.status == 201
    assert len(response.body["created"]) == 5000


ROSTER = [
    ("mobrien", "Mary-Ann", "O'Brien", "mary-ann.obrien@example.org"),
    ("zl", "Zoë", "Łukasiewicz, Jr.", None),
    ("wang", "王", "小明", None),
    ("amira", "أميرة", "الحسن", None),
    ("olga", "Ольга", "Смирнова", None),
    ("priya", "प्रिया", "शर्मा", None),
    ("formula1", '=HYPERLINK("http://evil.example","click")', "+1", "=x@example.org"),
    ("formula2", "-2+3", "@SUM(A1:A2)", None),
    ("formula3", "'=quoted", "'@at", None),
]


def test_the_roster_downloads_as_csv_with_codes_safe_in_a_spreadsheet_and_imports_back(api: Api) -> None:
    # Given a roster with names in several scripts and values a spreadsheet would run
    for nickname, first, last, email in ROSTER:
        api.create_student(nickname, first_name=first, last_name=last, **({"email": email} if email else {}))

    # When the examiner downloads it
    response = api.call("list_students", "roster_csv")

    # Then it is UTF-8 with a BOM, every student with its code, and no cell starts a formula
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="physics-2026-12-roster.csv"'
    text = response.body
    assert text.startswith(
        "\ufeffnickname,first_name,last_name,email,email_state,upload_code,pseudonym,started_at,due_at,cutoff_at,"
        "extra_time_percent,extra_time_minutes,from_lms,left_course_at\r\n"
    )
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))[1:]
    assert len(rows) == len(ROSTER)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    codes_by_nickname = {row[0]: row[5] for row in rows}
    listed = api.call("list_students", "first_page", query={"limit": "500"}).body["items"]
    assert codes_by_nickname == {student["nickname"]: student["upload_code"] for student in listed}

    # And imported into another exam, it gives the same students, names exactly as they were
    api.create_exam("resit")
    imported = api.call(
        "import_students",
        "roster",
        path_params={"exam_id": "resit"},
        raw_body=base64.b64encode(text.encode()).decode(),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status == 201, imported.body
    created = {(s["nickname"], s["first_name"], s["last_name"], s["email"]) for s in imported.body["created"]}
    assert created == set(ROSTER)
    assert not {s["upload_code"] for s in imported.body["created"]} & set(codes_by_nickname.values())
    # with pseudonyms of their own: the column is read back as it was written, and ignored
    assert not {s["pseudonym"] for s in imported.body["created"]} & {row[6] for row in rows}


def test_the_same_nickname_may_be_in_two_exams_as_two_students(api: Api) -> None:
    api.create_exam("other")
    first = api.create_student("ann")
    second = api.create_student("ann", exam_id="other")

    assert first["upload_code"] != second["upload_code"]
    assert (
        api.call("create_student", "valid", body={"nickname": "ANN", "first_name": "A", "last_name": "B"}).status == 409
    )
