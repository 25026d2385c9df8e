"""Schemathesis against the local stack: every route of /openapi.json, generated inputs valid and
invalid, over real HTTP. No 5xx, and every error is problem+json."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local_stack.keys import mint
from tests.conftest import FIGURES, ROOT
from tests.e2e.conftest import Stack

GATEWAY_UNKNOWN = {"message": "Missing Authentication Token"}
CASES = "schemathesis cases sent to the local stack"
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The committed document, which GET /openapi.json serves (checked below) and a unit test keeps
# equal to what the handlers generate.
DOCUMENT = ROOT / "functions/serve_docs/openapi.json"
schema = schemathesis.openapi.from_path(DOCUMENT)


def test_the_stack_serves_the_document_under_test(stack: Stack) -> None:
    assert requests.get(f"{stack.api}/openapi.json", timeout=10).json() == json.loads(DOCUMENT.read_text())


@pytest.fixture(scope="module")
def fuzzing_key(stack: Stack) -> str:
    """An examiner key of its own, minted while the stack runs: what it creates and deletes is
    its own, never the other tests' exam."""
    return mint(stack.local_dir / "secrets.json")["value"]


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error_and_every_error_is_a_problem(
    case: Case[Any], stack: Stack, fuzzing_key: str
) -> None:
    response = case.call(base_url=stack.api, headers={"x-api-key": fuzzing_key}, timeout=30)
    FIGURES[CASES] = FIGURES.get(CASES, 0) + 1

    assert response.status_code < 500, (case.as_curl_command(), response.text)
    assert stack.key not in response.text  # no route returns an API key
    assert fuzzing_key not in response.text
    if response.status_code >= 400 and not _from_api_gateway(response):
        assert response.headers.get("content-type") == ["application/problem+json"], response.text
        problem = response.json()
        assert {"type", "title", "status", "detail"} <= problem.keys()
        assert problem["status"] == response.status_code
    # Against the document: the status is one it lists, the body matches its schema. (Rejecting
    # unknown query parameters is not asked: the API ignores them, as most do.)
    case.validate_response(response, checks=CONFORMANCE)


def _from_api_gateway(response: schemathesis.Response) -> bool:
    """API Gateway's own 403: no key or a wrong one, or a method outside the contract."""
    return response.status_code == 403 and response.json() in ({"message": "Forbidden"}, GATEWAY_UNKNOWN)
