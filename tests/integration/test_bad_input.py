"""A client's mistake, however odd, is a 4xx problem: never a 5xx, never a stack trace."""

from __future__ import annotations

import base64

import pytest

from tests.integration.conftest import Api

DEEP = "[" * 10_000 + "]" * 10_000  # 20 KB, deeper than Python's JSON parser recurses


@pytest.mark.parametrize("function", ["create_student", "request_upload", "set_accommodation"])
def test_deeply_nested_json_is_a_422_problem_not_a_500(api: Api, function: str) -> None:
    student = api.create_student()
    path = {"upload_code": student["upload_code"]} if function == "request_upload" else None
    case = {"request_upload": "with_filename", "set_accommodation": "extra_time"}.get(function, "valid")

    response = api.call(function, case, path_params=path, raw_body=DEEP)

    assert response.status == 422, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "nested too deeply" in response.body["detail"]


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1900-01-01T00:00:00Z"])
def test_an_instant_out_of_range_is_a_422_not_a_500(api: Api, instant: str) -> None:
    body = {
        "exam_id": "edge",
        "title": "Edge",
        "opens_at": instant,
        "due_at": "2999-01-01T00:00:00Z",
        "cutoff_at": "2999-01-01T00:00:00Z",
        "timezone": "UTC",
    }

    response = api.call("create_exam", "valid", body=body)

    assert response.status == 422, response.body
    assert "between 1970 and 2999" in response.body["detail"]


def test_a_validation_problem_names_the_field_and_what_is_wrong(api: Api) -> None:
    response = api.call("create_student", "valid", body={"nickname": "ok", "first_name": "", "last_name": "B"})

    assert response.status == 422
    assert response.body["type"] == "urn:exam-depository:problem:invalid-input"
    assert response.body["detail"].startswith("first_name: must not be empty")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nickname", ".", "must contain a letter or digit"),
        ("nickname", "..", "must contain a letter or digit"),
        ("first_name", "Ann\u202eeeL", "invisible formatting characters (U+202E)"),
        ("last_name", "\u2066Lee\u2069", "invisible formatting characters (U+2066, U+2069)"),
        ("email", "a\u200b@example.org", "invisible formatting characters (U+200B)"),
    ],
)
def test_names_that_would_not_show_what_they_are_are_refused(api: Api, field: str, value: str, message: str) -> None:
    body = {"nickname": "ok", "first_name": "Ann", "last_name": "Lee"} | {field: value}

    response = api.call("create_student", "valid", body=body)

    assert response.status == 422, response.body
    assert message in response.body["detail"]


def test_names_in_scripts_that_need_joiners_are_kept_exactly(api: Api) -> None:
    student = api.create_student("persian", first_name="نامه\u200cها", last_name="O'Brien-Łukasiewicz")
    assert (student["first_name"], student["last_name"]) == ("نامه\u200cها", "O'Brien-Łukasiewicz")


def test_a_roster_over_5000_rows_is_refused_by_its_rows_not_its_errors(api: Api) -> None:
    # 2,600 rows with two bad fields each: 5,200 errors, but 2,600 rows, within the limit
    text = "nickname,first_name,last_name\n" + "".join(f"bad nick {i},,\n" for i in range(2600))
    response = api.call(
        "import_students",
        "roster",
        raw_body=base64.b64encode(text.encode()).decode(),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status == 422, response.body["detail"]
    assert len({error["line"] for error in response.body["errors"]}) == 2600


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"extra_time_percent": 301}, "extra_time_percent: Input should be less than or equal to 300"),
        ({"extra_time_percent": -1}, "extra_time_percent: Input should be greater than or equal to 0"),
        ({"extra_time_percent": 10, "extra_time_minutes": 1441}, "extra_time_minutes: Input should be less than"),
        ({"extra_time_percent": 1.5}, "extra_time_percent: Input should be a valid integer"),
        ({"extra_time_percent": "ten"}, "extra_time_percent: Input should be a valid integer"),
        ({"extra_time_percent": 10, "extra_attempts": 1}, "extra_attempts: Extra inputs are not permitted"),
        ([25], "Input should be a valid dictionary"),
    ],
)
def test_an_accommodation_out_of_bounds_is_a_422_that_names_the_field(api: Api, body: object, message: str) -> None:
    api.create_student()

    response = api.call("set_accommodation", "extra_time", body=body)

    assert response.status == 422, response.body
    assert message in response.body["detail"]


@pytest.mark.parametrize(
    ("function", "case", "content_type"),
    [
        ("set_accommodation", "extra_time", "text/csv"),
        ("import_accommodations", "accommodations", "application/json"),
        ("import_accommodations", "accommodations", "text/plain"),
    ],
)
def test_an_accommodation_in_another_media_type_is_a_415(api: Api, function: str, case: str, content_type: str) -> None:
    api.create_student()

    response = api.call(function, case, raw_body='{"extra_time_percent": 10}', headers={"Content-Type": content_type})

    assert response.status == 415, response.body
    assert response.body["type"] == "urn:exam-depository:problem:unsupported-media-type"


def test_an_accommodations_file_over_5000_rows_is_a_413(api: Api) -> None:
    text = "nickname,extra_time_percent\n" + "".join(f"s{i},10\n" for i in range(5001))

    response = api.call(
        "import_accommodations",
        "accommodations",
        raw_body=base64.b64encode(text.encode()).decode(),
        headers={"Content-Type": "text/csv"},
    )

    assert response.status == 413, response.body
    assert response.body["type"] == "urn:exam-depository:problem:payload-too-large"


@pytest.mark.parametrize(
    ("function", "case", "text"),
    [
        ("import_accommodations", "accommodations", "nickname,extra_time_percent\n\x00ann,10\n"),
        ("import_extensions", "extensions", "nickname,due_at\n\x00ann,2030-01-01T12:00:00Z\n"),
        ("import_students", "roster", "nickname,first_name,last_name\nann,A\x00nn,Lee\n"),
    ],
)
def test_a_csv_with_a_nul_byte_is_a_422_not_a_500(api: Api, function: str, case: str, text: str) -> None:
    # Given a CSV that is UTF-8 but holds a NUL byte (which no PostgreSQL text may hold)
    api.create_student("ann")

    # When it is imported
    response = api.call(
        function, case, raw_body=base64.b64encode(text.encode()).decode(), headers={"Content-Type": "text/csv"}
    )

    # Then it is refused as the client's mistake, saying where
    assert response.status == 422, response.body
    assert "NUL" in response.body["detail"]
