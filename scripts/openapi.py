"""Write functions/serve_docs/openapi.json: the OpenAPI of every handler, merged by Powertools.

Run by `make openapi`; a test fails when the committed document differs from what this makes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "functions" / "serve_docs" / "openapi.json"


def generate() -> str:
    merge = OpenAPIMerge(
        title="Exam Depository",
        version="1.0.0",
        description=(
            "Examiners run exams with an API key (header x-api-key): a window, a roster, extensions; "
            "students upload with an upload code; reviewers check files with a verification code. "
            "Every error is application/problem+json, except API Gateway's own 403 for a missing or "
            "wrong key. Instants are UTC (RFC 3339)."
        ),
        # Relative to this document: the stage root on AWS (/v1/), / locally.
        servers=[Server(url=".")],
        security_schemes={"ApiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        on_conflict="error",
    )
    # Each handler builds its resolver with build_resolver(), which discover()'s source scan does
    # not recognise: every handler module is added by name instead.
    for handler in sorted((ROOT / "functions").glob("*/app.py")):
        if "build_resolver()" in handler.read_text():
            merge.add_file(handler, resolver_name="app")
    document = json.loads(merge.get_openapi_json_schema())
    _describe_what_powertools_cannot(document["paths"])
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# API Gateway's own answer to a missing or wrong key: the one error that is not problem+json.
API_GATEWAY_FORBIDDEN: dict[str, Any] = {
    "description": "Missing or wrong API key (answered by API Gateway)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"message": {"type": "string", "example": "Forbidden"}},
                "required": ["message"],
            }
        }
    },
}


def _forbidden(own: dict[str, Any] | None) -> dict[str, Any]:
    """A key route's 403: API Gateway's own for the key, and the route's problem where it answers
    one itself (a role that may not, a key where only a session from the LMS may)."""
    if own is None or "application/problem+json" not in own.get("content", {}):
        return API_GATEWAY_FORBIDDEN
    return {
        "description": f"{own['description']}; or a missing or wrong API key (answered by API Gateway)",
        "content": {**own["content"], **API_GATEWAY_FORBIDDEN["content"]},
    }


def _describe_what_powertools_cannot(paths: dict[str, Any]) -> None:
    """Powertools documents a JSON body for every response and only the bodies it parses."""
    for operations in paths.values():
        for operation in operations.values():
            if "204" in operation.get("responses", {}):
                operation["responses"]["204"].pop("content", None)  # No Content has no body
            if operation.get("security"):
                operation["responses"]["403"] = _forbidden(operation["responses"].get("403"))
    # The import routes read their CSV bodies themselves (roster.py), so no model describes them.
    for path, example in CSV_BODIES.items():
        paths[path]["post"]["requestBody"] = {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        }


CSV_BODIES = {
    "/exams/{exam_id}/students/import": (
        "nickname,first_name,last_name,email\nmobrien,Mary-Ann,O'Brien,mary@example.org\n"
    ),
    "/exams/{exam_id}/extensions/import": (
        "nickname,due_at,cutoff_at,extra_attempts\nmobrien,2026-12-15T12:00:00+01:00,,1\n"
    ),
}


if __name__ == "__main__":
    DOCUMENT.write_text(generate())
    sys.stdout.write(f"wrote {DOCUMENT.relative_to(ROOT)}\n")
