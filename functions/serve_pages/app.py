"""GET /, GET /verify, GET /examiner and their assets: the student's and reviewer's pages and the
examiner's console (no key to load them, no build step; the console asks for its key itself)."""

import os
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
# lti.js: the console's LMS parts (a session's landing, the deep-link picker, an exam's courses,
# registrations), loaded by examiner.js when a session lands or an exam is drawn.
SCRIPTS = ("retry.js", "i18n.js", "upload.js", "verify.js", "examiner.js", "team.js", "files.js", "mail.js", "lti.js")
# The catalogues, one per language, served flat (API Gateway's /static/{asset} is one segment):
# static/i18n/de.json is /static/i18n-de.json.
CATALOGUES = {f"i18n-{path.stem}.json": f"i18n/{path.name}" for path in sorted((STATIC / "i18n").glob("*.json"))}
ASSETS = (
    dict.fromkeys(SCRIPTS, "text/javascript") | {"app.css": "text/css"} | dict.fromkeys(CATALOGUES, "application/json")
)


@cache
def _file(name: str) -> str:
    return (STATIC / CATALOGUES.get(name, name)).read_text()


def _framing(from_a_course: bool) -> tuple[str, str]:
    """Who may frame the page and where its forms may post: nobody and nowhere, except a page opened
    from a course (`?lti=1`), which an LMS shows in its iframe and whose deep-link answer is posted
    back to the LMS. Which LMS is not known here (no database): any https origin, as a framing
    stranger finds nothing signed in there (the session lives in the frame's partitioned storage)."""
    if not from_a_course:
        return "'none'", "'none'"
    loopback = " http://localhost:* http://127.0.0.1:*" if os.environ.get("LTI_ALLOW_LOOPBACK") == "true" else ""
    return f"https:{loopback}", f"'self' https:{loopback}"


def _security_headers(connect_src: str, *, from_a_course: bool = False) -> dict[str, str]:
    # Scripts and styles from this origin only, and requests to the API and at most S3.
    frame_ancestors, form_action = _framing(from_a_course)
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect_src}; form-action {form_action}; base-uri 'none'; "
            f"frame-ancestors {frame_ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _page(name: str, connect_src: str = "'self'", *, lti_frameable: bool = False) -> Response[str]:
    # Links are relative to the stage root: /v1/ on AWS, / locally.
    stage_path = app.current_event.request_context.path or "/"
    base = stage_path[: len(stage_path) - len(app.current_event.path)] + "/"
    body = _file(name).replace("{{base}}", base)
    from_a_course = lti_frameable and app.current_event.get_query_string_value("lti") == "1"
    headers = _security_headers(connect_src, from_a_course=from_a_course)
    return Response(200, "text/html; charset=utf-8", body, headers=headers)


@app.get("/", include_in_schema=False)
def upload_page() -> Response[str]:
    # The student's browser posts the file straight to S3.
    return _page("upload.html", f"'self' {storage.upload_origin()}", lti_frameable=True)


@app.get("/verify", include_in_schema=False)
def verify_page() -> Response[str]:
    return _page("verify.html")


@app.get("/examiner", include_in_schema=False)
def examiner_console() -> Response[str]:
    # The examiner's browser posts the question paper straight to S3 (the ZIP and the roster
    # download are navigations, not requests).
    return _page("examiner.html", f"'self' {storage.upload_origin()}", lti_frameable=True)


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
