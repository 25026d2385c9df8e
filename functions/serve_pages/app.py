"""GET /, GET /verify and their assets: the student and reviewer pages (no key, no build step)."""

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository import storage
from exam_depository.errors import NotFound
from exam_depository.http import build_resolver
from exam_depository.observability import logger, metrics

app = build_resolver()
STATIC = Path(__file__).parent / "static"
ASSETS = {"app.css": "text/css", "upload.js": "text/javascript", "verify.js": "text/javascript"}


@cache
def _file(name: str) -> str:
    return (STATIC / name).read_text()


def _security_headers() -> dict[str, str]:
    # Scripts and styles from this origin only; the one other place the page talks to is S3.
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {storage.upload_origin()}; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _page(name: str) -> Response[str]:
    # Links are relative to the stage root: /v1/ on AWS, / locally.
    stage_path = app.current_event.request_context.path or "/"
    base = stage_path[: len(stage_path) - len(app.current_event.path)] + "/"
    body = _file(name).replace("{{base}}", base)
    return Response(200, "text/html; charset=utf-8", body, headers=_security_headers())


@app.get("/", include_in_schema=False)
def upload_page() -> Response[str]:
    return _page("upload.html")


@app.get("/verify", include_in_schema=False)
def verify_page() -> Response[str]:
    return _page("verify.html")


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
