"""GET /docs (Swagger UI, self-hosted) and GET /openapi.json (generated from the handlers)."""

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.api.resolver import build_resolver
from exam_depository.domain.errors import NotFound
from exam_depository.observability import logger, metrics

app = build_resolver()
HERE = Path(__file__).parent
# Swagger UI's own files, as Powertools ships them: no CDN.
SWAGGER = Path(swagger_ui.__file__).parent
ASSETS = {
    "swagger-ui.css": (SWAGGER / "swagger-ui.min.css", "text/css"),
    "swagger-ui-bundle.js": (SWAGGER / "swagger-ui-bundle.min.js", "text/javascript"),
    "init.js": (HERE / "init.js", "text/javascript"),
}
DOCS_CSP = (
    # Swagger UI sets style attributes, hence 'unsafe-inline' for styles on this page only.
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@cache
def _read(path: Path) -> str:
    return path.read_text()


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(200, "application/json", _read(HERE / "openapi.json"))


@app.get("/docs", include_in_schema=False)
def docs_page() -> Response[str]:
    return Response(
        200, "text/html; charset=utf-8", _read(HERE / "docs.html"), headers={"Content-Security-Policy": DOCS_CSP}
    )


@app.get("/docs/<asset>", include_in_schema=False)
def docs_asset(asset: str) -> Response[str]:
    if asset not in ASSETS:
        raise NotFound("No such file.")
    path, media_type = ASSETS[asset]
    return Response(200, f"{media_type}; charset=utf-8", _read(path), headers={"Cache-Control": "public, max-age=3600"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
