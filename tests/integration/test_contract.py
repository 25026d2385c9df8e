"""What every route of the HTTP contract keeps, whichever function answers: its sample event in
events/ reaches it, a JSON route refuses any other body with 415, and an answer that carries a
code is never cached."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import Api


def test_the_sample_event_of_every_api_function_resolves_to_its_route(api: Api, lti_keys: None) -> None:
    # The events/ files are usable with `sam local invoke -e`: each reaches its route (no "No
    # such route."), and none is a server error, in an order in which the creating ones come first.
    cases = sorted(ROOT.glob("events/*/*.json"), key=lambda path: ("create" not in path.parent.name, str(path)))
    reached = []
    for path in cases:
        if "httpMethod" not in json.loads(path.read_text()) or path.parent.name.startswith("serve_"):
            continue
        response = api.call(path.parent.name, path.stem)
        assert response.status < 500, (path, response.body)
        assert not (isinstance(response.body, dict) and response.body.get("detail") == "No such route."), path
        reached.append(path.parent.name)
    assert {"create_exam", "import_extensions", "set_extension", "request_upload", "get_download_url"} <= set(reached)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"],
)
def test_json_routes_refuse_other_bodies_with_415(api: Api, content_type: str) -> None:
    student = api.create_student()
    for function, case, path_params in (
        ("request_upload", "with_filename", {"upload_code": student["upload_code"]}),
        ("create_student", "valid", None),
    ):
        response = api.call(
            function,
            case,
            path_params=path_params,
            body={"filename": "a.pdf", "nickname": "x", "first_name": "A", "last_name": "B"},
            headers={"Content-Type": content_type, "content-type": content_type},
        )
        assert response.status == 415, (function, response.body)
        assert response.headers["Content-Type"] == "application/problem+json"


def test_answers_that_carry_codes_are_never_cached(api: Api) -> None:
    student = api.create_student()
    for response in (
        api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}),
        api.call("list_students", "first_page"),
        api.request_upload(student["upload_code"]),
        api.call("get_student", "by_nickname", path_params={"nickname": "nobody"}),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.body
        assert json.dumps(response.body)  # and a body, even for the 404
