"""Write functions/serve_docs/openapi.json: the OpenAPI of every handler, merged by Powertools.

Run by `make openapi`; a test fails when the committed document differs from what this makes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "functions" / "serve_docs" / "openapi.json"


def generate() -> str:
    merge = OpenAPIMerge(
        title="Exam Depository",
        version="1.0.0",
        description=(
            "Examiners manage students with an API key (header x-api-key); students upload with an "
            "upload code; reviewers check files with a verification code. Every error is "
            "application/problem+json, except API Gateway's own 403 for a missing or wrong key."
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
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(generate())
    sys.stdout.write(f"wrote {DOCUMENT.relative_to(ROOT)}\n")
