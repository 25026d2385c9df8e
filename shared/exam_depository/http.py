"""The API's resolver and its one error map: every failure leaves as application/problem+json."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from exam_depository import errors
from exam_depository.models import Problem
from exam_depository.observability import logger

PROBLEM = "application/problem+json"
API_KEY_SCHEME = "ApiKey"

_STATUS: dict[type[errors.DomainError], HTTPStatus] = {
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.LimitReached: HTTPStatus.CONFLICT,
    errors.TooManyOpenForms: HTTPStatus.TOO_MANY_REQUESTS,
    errors.Gone: HTTPStatus.GONE,
    errors.InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
}
EXAMINER: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}]


def responses(success: int, model: type[BaseModel] | None, *problems: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for a route: its success (with its model) and the problems it can answer."""
    documented: dict[int, OpenAPIResponse] = {
        status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM: {"model": Problem}}}
        for status in (*problems, 422, 503)
    }
    documented[success] = {"description": HTTPStatus(success).phrase}
    if model is not None:
        documented[success]["content"] = {"application/json": {"model": model}}
    return documented


def problem(
    status: HTTPStatus, title: str, detail: str, problem_errors: list[dict[str, object]] | None = None
) -> Response[str]:
    body: dict[str, object] = {
        "type": f"urn:exam-depository:problem:{status.phrase.lower().replace(' ', '-')}",
        "title": title,
        "status": int(status),
        "detail": detail,
    }
    if problem_errors is not None:
        body["errors"] = problem_errors
    headers = {"Retry-After": "5"} if status == HTTPStatus.SERVICE_UNAVAILABLE else None
    return Response(status_code=int(status), content_type=PROBLEM, body=json.dumps(body), headers=headers)


class _JsonBodies(OpenAPIRequestValidationMiddleware):
    """Request validation that reads bodies as JSON only. Powertools also parses forms, and a
    multipart content type without a boundary escapes its parser as a ValueError (a 500)."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type", "").strip().lower()
        if content_type and not content_type.startswith("application/json"):
            raise RequestUnsupportedContentType("Unsupported content type", errors=[])
        body: dict[str, Any] = super()._get_body(app)
        return body


def build_resolver() -> APIGatewayRestResolver:
    """A resolver with request validation and the error map; one per function module."""
    app = APIGatewayRestResolver(enable_validation=True)
    app._request_validation_middleware = _JsonBodies()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ untyped
    app.configure_openapi(
        title="Exam Depository",
        version="1.0.0",
        # Plain data, validated only when a document is generated (make openapi): importing
        # Powertools' OpenAPI models for the typed form costs ~30 ms of every cold start.
        security_schemes=cast(Any, {API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "x-api-key"}}),
    )

    @app.exception_handler(errors.DomainError)
    def domain_error(exc: errors.DomainError) -> Response[str]:
        status = _STATUS[type(exc)]
        logger.info("Request refused", extra={"status": int(status), "reason": exc.title})
        return problem(status, exc.title, exc.detail, exc.errors)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        details = [
            {"location": list(error.get("loc", ())), "message": error.get("msg", "invalid")} for error in exc.errors()
        ]
        logger.info("Request refused", extra={"status": 422, "reason": "validation"})
        return problem(HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid input", "The request does not match the API.", details)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_body(_: RequestUnsupportedContentType) -> Response[str]:
        logger.info("Request refused", extra={"status": 415, "reason": "content type"})
        return problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", "Send the body as application/json."
        )

    @app.exception_handler(NotFoundError)
    def no_route(_: NotFoundError) -> Response[str]:
        return problem(HTTPStatus.NOT_FOUND, "Not found", "No such route.")

    @app.exception_handler(errors.ServiceUnavailable)
    def unavailable(exc: errors.ServiceUnavailable) -> Response[str]:
        logger.warning("Dependency unavailable", extra={"cause": str(exc)})
        return problem(
            HTTPStatus.SERVICE_UNAVAILABLE, "Service unavailable", "A dependency is unavailable; retry shortly."
        )

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[str]:
        logger.exception("Unhandled error")
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error", "Something went wrong on our side.")

    return app


def request_body_bytes(app: APIGatewayRestResolver) -> bytes:
    """The raw request body; API Gateway base64-encodes the binary media types (text/csv)."""
    event = app.current_event
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(event.body)
    return event.body.encode("utf-8")
