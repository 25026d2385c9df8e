"""GET /, GET /verify, GET /examiner and their assets: the student's and reviewer's pages and the
examiner's console (no key to load them, no build step; the console asks for its key itself)."""

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.adapters import (
    snapstart,  # noqa: F401  # registers the SnapStart hooks
    storage,
)
from exam_depository.api.resolver import build_resolver
from exam_depository.domain.errors import NotFound
from exam_depository.observability import logger, metrics

app = build_resolver()
STATIC = Path(__file__).parent / "static"
# retry.js: the pages' one way through a busy or starting service, loaded before each page's own;
# i18n.js: the student's and reviewer's words in the reader's language, after it.
# team.js: the console's members, invitations and audit log, loaded by examiner.js when first opened.
# files.js: the console's accepted types, malware checks and release, loaded by examiner.js once signed in.
# mail.js: the console's codes by email, addresses and the emails' states, loaded with files.js.
# A page and its scripts may come from caches up to 5 minutes apart: its interface stays, or it is
# given a new name.
SCRIPTS = ("retry.js", "i18n.js", "upload.js", "verify.js", "examiner.js", "team.js", "files.js", "mail.js")
# The catalogues, one per language, served flat (API Gateway's /static/{asset} is one segment):
# static/i18n/de.json is /static/i18n-de.json.
CATALOGUES = {f"i18n-{path.stem}.json": f"i18n/{path.name}" for path in sorted((STATIC / "i18n").glob("*.json"))}
ASSETS = (
    dict.fromkeys(SCRIPTS, "text/javascript") | {"app.css": "text/css"} | dict.fromkeys(CATALOGUES, "application/json")
)


@cache
def _file(name: str) -> str:
    return (STATIC / CATALOGUES.get(name, name)).read_text()


def _security_headers(connect_src: str) -> dict[str, str]:
    # Scripts and styles from this origin only, and requests to the API and at most S3.
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect_src}; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _page(name: str, connect_src: str = "'self'") -> Response[str]:
    # Links are relative to the stage root: /v1/ on AWS, / locally.
    stage_path = app.current_event.request_context.path or "/"
    base = stage_path[: len(stage_path) - len(app.current_event.path)] + "/"
    body = _file(name).replace("{{base}}", base)
    return Response(200, "text/html; charset=utf-8", body, headers=_security_headers(connect_src))


@app.get("/", include_in_schema=False)
def upload_page() -> Response[str]:
    # The student's browser posts the file straight to S3.
    return _page("upload.html", f"'self' {storage.upload_origin()}")


@app.get("/verify", include_in_schema=False)
def verify_page() -> Response[str]:
    return _page("verify.html")


@app.get("/examiner", include_in_schema=False)
def examiner_console() -> Response[str]:
    # The examiner's browser posts the question paper straight to S3 (the ZIP and the roster
    # download are navigations, not requests).
    return _page("examiner.html", f"'self' {storage.upload_origin()}")


@app.get("/static/<asset>", include_in_schema=False)
def asset(asset: str) -> Response[str]:
    if asset not in ASSETS:
        raise NotFound("No such file.")
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(200, f"{ASSETS[asset]}; charset=utf-8", _file(asset), headers=headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
