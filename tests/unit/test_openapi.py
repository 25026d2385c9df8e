"""openapi.json is generated from the handlers, never edited by hand, and covers the contract."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from scripts.openapi import DOCUMENT, generate
from tests.contract import EXAMINER_ROUTES, OPEN_ROUTES

CONTRACT = {(method, path) for path, method in EXAMINER_ROUTES | OPEN_ROUTES}


def test_the_committed_document_is_what_the_handlers_generate() -> None:
    assert DOCUMENT.read_text() == generate(), "run `make openapi` and commit the result"


def test_the_document_is_valid_openapi_3_and_lists_every_route_with_problem_errors() -> None:
    document = json.loads(DOCUMENT.read_text())
    validate(document)

    operations = {(method, path): op for path, item in document["paths"].items() for method, op in item.items()}
    assert set(operations) == CONTRACT
    for (method, path), operation in operations.items():
        examiner = (path, method) in EXAMINER_ROUTES
        assert (operation.get("security") == [{"ApiKey": []}]) is examiner, (method, path)
        problems = [status for status in operation["responses"] if status.startswith(("4", "5"))]
        assert problems, (method, path)
        for status in problems:
            # API Gateway's own 403 for the key is the one answer that is not problem+json; a key
            # route that refuses a caller itself (a role, a key where a session must call) says so too.
            content = set(operation["responses"][status]["content"])
            if examiner and status == "403":
                assert content in ({"application/json"}, {"application/problem+json", "application/json"})
            else:
                assert content == {"application/problem+json"}, (method, path, status)
        assert ("403" in operation["responses"]) is examiner, (method, path)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    schemas = set(document["components"]["schemas"])
    assert {"StudentIn", "ExamIn", "ExtensionIn", "AccommodationIn", "PaperRequest", "Started", "Timing"} <= schemas
