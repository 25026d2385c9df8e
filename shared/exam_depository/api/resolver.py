"""The API's resolver and its one error map: every failure leaves as application/problem+json."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    _extract_field_value_from_body,
    _get_body_field_location,
    _get_embed_body,
    _handle_missing_field_value,
    _normalize_field_value,
    _request_params_to_args,
    _validate_field,
)
from aws_lambda_powertools.event_handler.openapi.compat import _normalize_errors
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from exam_depository.api.models.common import Problem
from exam_depository.domain import errors
from exam_depository.domain.instants import rfc3339
from exam_depository.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.compat import ModelField

    from exam_depository.domain.access import Caller

PROBLEM = "application/problem+json"
PROBLEM_TYPE = "urn:exam-depository:problem:"
API_KEY_SCHEME = "ApiKey"
EXAMINER: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}]
# Every answer: never sniffed into another type, never sent on as a referrer, and (unless the
# route says otherwise, as the pages do) never cached: answers carry codes and live state.
BASELINE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


_RETRY_AFTER: OpenAPIResponseHeader = {
    "description": "Seconds after which a retry may be served",
    "schema": {"type": "integer", "minimum": 1},
}


def responses(success: int, model: type[BaseModel] | None, *problems: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for a route: its success (with its model) and the problems it can answer."""
    documented: dict[int, OpenAPIResponse] = {
        status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM: {"model": Problem}}}
        for status in (*problems, 422, 503)
    }
    documented[503]["description"] = (
        "Busy (`service-busy`: every database connection is taken, or the function is at its"
        " concurrency), starting up (`service-starting`: a paused database resuming) or renewing its"
        " credentials (`service-credentials`: the database's password was just rotated), with Retry-After:"
        " nothing was done, retry then; or unavailable (`service-unavailable`, no Retry-After: a dependency"
        " failed, perhaps after part of the work was done)"
    )
    documented[503]["headers"] = {"Retry-After": _RETRY_AFTER}  # with every service- problem but service-unavailable
    documented[success] = {"description": HTTPStatus(success).phrase}
    if model is not None:
        documented[success]["content"] = {"application/json": {"model": model}}
    return documented


def problem(
    status: HTTPStatus,
    *,
    kind: str,
    title: str,
    detail: str,
    problem_errors: list[dict[str, object]] | None = None,
    extra: dict[str, object] | None = None,
    retry_after_s: int | None = None,
) -> Response[str]:
    body: dict[str, object] = {**(extra or {}), "type": PROBLEM_TYPE + kind, "title": title, "status": int(status)}
    body["detail"] = detail
    if problem_errors is not None:
        body["errors"] = problem_errors
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return Response(
        status_code=int(status), content_type=PROBLEM, body=json.dumps(body, default=_member), headers=headers
    )


def _member(value: object) -> object:
    """A problem member JSON has no type for, written as the models write it: an instant as
    RFC 3339 with `Z` (a refusal may carry the datetimes it compared), anything else as text."""
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


def parse_json(text: str) -> Any:
    """JSON from a client. A body nested deeper than Python's parser recurses is a client's
    mistake like any other malformed body (RecursionError would otherwise be a 500)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


class _JsonBodies(OpenAPIRequestValidationMiddleware):
    """Request validation that reads bodies as JSON only. Powertools also parses forms, and a
    multipart content type without a boundary escapes its parser as a ValueError (a 500)."""

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        """Powertools' validation, without reading the query, headers and cookies of a route that
        declares none of them (most of ours: path and body only). Their normalising copies cost a
        tenth of a cheap route's warm time and validate nothing when no parameter asks for them;
        the values and errors are those Powertools' handler gives, in its order."""
        dependant = app.context["_route"].dependant
        if dependant.query_params or dependant.header_params or dependant.cookie_params:
            response: Response[Any] = super().handler(app, next_middleware)
            return response
        values, errors = _request_params_to_args(dependant.path_params, app.context["_route_args"])
        if dependant.body_params:
            body_values, body_errors = _json_body_to_args(dependant.body_params, self._get_body(app))
            values.update(body_values)
            errors.extend(body_errors)
        if errors:
            raise RequestValidationError(_normalize_errors(errors))
        app.context["_route_args"] = values
        return next_middleware(app)

    def _get_body(self, app: Any) -> dict[str, Any]:
        """JSON, or no body: any other Content-Type is refused (415), as Powertools' own reading
        refuses a JSON type not written in lower case. The type is found among the event's headers
        as they are: the event's `headers` would build a lower-cased copy of every header for it."""
        content_type = _content_type(app.current_event.get("headers")).strip()
        if content_type and not content_type.startswith("application/json"):
            raise RequestUnsupportedContentType("Unsupported content type", errors=[])
        return self._parse_json_data(app)

    def _parse_json_data(self, app: Any) -> dict[str, Any]:
        text = app.current_event.decoded_body
        if not text:
            return {}
        try:
            parsed: dict[str, Any] = parse_json(text)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"The body is not valid JSON ({exc})."}]
            ) from exc
        return parsed


def _json_body_to_args(
    required_params: list[ModelField], received_body: dict[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Powertools' `_request_body_to_args` for a body read as JSON, which holds no UploadFile. Its
    `_normalize_field_value` walks each field's type to see whether it takes a sequence (a twentieth
    of a cheap route's warm time), and the answer changes nothing but a list: only a list asks.
    The values and errors are those Powertools' function gives, in its order."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    received_body, field_alias_omitted = _get_embed_body(
        field=required_params[0], required_params=required_params, received_body=received_body
    )
    for field in required_params:
        loc = _get_body_field_location(field, field_alias_omitted)
        value = _extract_field_value_from_body(field, received_body, loc, errors)
        if value is None:
            _handle_missing_field_value(field, values, errors, loc)
            continue
        if isinstance(value, list):
            value = _normalize_field_value(value=value, field_info=field.field_info)
        values[field.name] = _validate_field(field=field, value=value, loc=loc, existing_errors=errors)
    return values, errors


def _content_type(headers: Mapping[str, str] | None) -> str:
    """The Content-Type header, whatever its case; of two, the later (as a lower-cased copy keeps it)."""
    found = ""
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            found = value
    return found


class _ProxyEvent(APIGatewayProxyEvent):
    """The REST event with its header views made once: Powertools builds a lower-cased copy of
    the headers on every read (validation, compression, our own reads read them several times a
    request). Nothing changes an event's headers while it is resolved."""

    @cached_property
    def headers(self) -> dict[str, str]:
        return super().headers

    @cached_property
    def multi_value_headers(self) -> dict[str, list[str]]:
        return super().multi_value_headers


class _Answer(ResponseBuilder[Any]):
    """Powertools' response builder, which reads the request's headers for `Accept-Encoding` on
    every answer: only an answer its route or itself asks to compress can be compressed, so the
    others skip that read (the result is False either way)."""

    @staticmethod
    def _has_compression_enabled(route_compression: bool, response_compression: bool | None, event: Any) -> bool:
        if not route_compression and not response_compression:
            return False
        return ResponseBuilder._has_compression_enabled(route_compression, response_compression, event)


class _ThisRequest(threading.local):
    event: Any = None
    lambda_context: Any = None


_this_request = _ThisRequest()


class ApiResolver(APIGatewayRestResolver):
    """The REST resolver with the baseline headers on every answer, errors included.

    Powertools keeps the request being resolved in class attributes of its BaseRouter, shared by
    every resolver of the process. Lambda resolves one request at a time, but the local gateway
    and the tests resolve several at once on threads, and one request then read another's event
    (its body, its examiner's key id). Here the request is the thread's own."""

    @property
    def current_event(self) -> Any:
        return _this_request.event

    @current_event.setter
    def current_event(self, value: Any) -> None:
        _this_request.event = value

    @property
    def lambda_context(self) -> Any:
        return _this_request.lambda_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        _this_request.lambda_context = value

    def _to_proxy_event(self, event: dict[str, Any]) -> Any:
        proxy = _ProxyEvent(event, self._json_body_deserializer)
        _this_request.event = proxy
        return proxy

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        _this_request.lambda_context = context
        result = super().resolve(event, context)
        headers = result.setdefault("multiValueHeaders", {})
        for name, value in BASELINE_HEADERS.items():
            headers.setdefault(name, [value])
        if result.get("body") is None:
            # API Gateway REST answers a proxy result whose body is null with a 502 (a 204 has "").
            result["body"] = ""
        return result


def _validation_detail(details: list[dict[str, object]]) -> str:
    """One sentence naming what is wrong, for people and for pages that show `detail`."""
    parts = []
    for item in details[:3]:
        location = [str(part) for part in cast(list[object], item["location"]) if part not in ("body", "query", "path")]
        parts.append(f"{'.'.join(location) + ': ' if location else ''}{item['message']}")
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    if not parts:
        return "The request does not match the API."
    sentence = "; ".join(parts) + more
    # A message may end its own sentence (the body's JSON error does): one full stop, not two.
    return sentence if sentence.endswith(".") else sentence + "."


# What a client is told for each reason a dependency could not serve (the pages retry busy,
# starting and credentials after Retry-After, and show the detail of unavailable for a change): the
# problem type is service-<reason>.
_UNAVAILABLE = {
    "busy": ("Service busy", "Many requests at once; retry after the seconds in Retry-After."),
    "starting": ("Service starting up", "The database is starting up; retry after the seconds in Retry-After."),
    "credentials": (
        "Service renewing its credentials",
        "The service is renewing its credentials; retry after the seconds in Retry-After.",
    ),
    "unavailable": (
        "Service unavailable",
        "A dependency is unavailable; a change asked for may be made already: check before trying again.",
    ),
}


def build_resolver() -> ApiResolver:
    """A resolver with request validation and the error map; one per function module."""
    app = ApiResolver(enable_validation=True)
    app._request_validation_middleware = _JsonBodies()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ untyped
    app._response_builder_class = _Answer
    app.configure_openapi(
        title="Exam Depository",
        version="1.0.0",
        # Plain data, validated only when a document is generated (make openapi): importing
        # Powertools' OpenAPI models for the typed form cost ~90 ms of every cold start.
        security_schemes=cast(Any, {API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "x-api-key"}}),
    )

    @app.exception_handler(errors.DomainError)
    def domain_error(exc: errors.DomainError) -> Response[str]:
        logger.info("Request refused", extra={"status": int(exc.status), "reason": exc.kind})
        return problem(
            exc.status,
            kind=exc.kind,
            title=exc.title,
            detail=exc.detail,
            problem_errors=exc.errors,
            extra=exc.extra,
            retry_after_s=exc.retry_after_s,
        )

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        # Loaded on the first refusal, not at import: the input models' module is most of a
        # read-only route's own init, and its words for an error are all this handler needs.
        from exam_depository.domain.input_model import readable

        details: list[dict[str, object]] = [
            {"location": list(error.get("loc", ())), "message": readable(error)} for error in exc.errors()
        ]
        logger.info("Request refused", extra={"status": 422, "reason": "validation"})
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            kind=errors.InvalidInput.kind,
            title="Invalid input",
            detail=_validation_detail(details),
            problem_errors=details,
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_body(_: RequestUnsupportedContentType) -> Response[str]:
        logger.info("Request refused", extra={"status": 415, "reason": "content type"})
        return problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            kind=errors.UnsupportedMediaType.kind,
            title="Unsupported media type",
            detail="Send the body as application/json.",
        )

    @app.exception_handler(NotFoundError)
    def no_route(_: NotFoundError) -> Response[str]:
        return problem(HTTPStatus.NOT_FOUND, kind=errors.NotFound.kind, title="Not found", detail="No such route.")

    @app.exception_handler(errors.ServiceUnavailable)
    def unavailable(exc: errors.ServiceUnavailable) -> Response[str]:
        logger.warning("Dependency unavailable", extra={"cause": str(exc), "reason": exc.reason})
        title, detail = _UNAVAILABLE[exc.reason]
        return problem(
            HTTPStatus.SERVICE_UNAVAILABLE,
            kind=f"service-{exc.reason}",
            title=title,
            detail=detail,
            # Retry-After says "nothing was done, send it again then" to a client that reads no
            # body: only a full or resuming database, or one refusing the password, refused before
            # the work began. Another failure may come after a commit (an export row made, then
            # its queue failed).
            retry_after_s=exc.retry_after_s if exc.reason != "unavailable" else None,
        )

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[str]:
        logger.exception("Unhandled error")
        return problem(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            kind="internal-error",
            title="Internal error",
            detail="Something went wrong on our side.",
        )

    return app


def caller(app: APIGatewayRestResolver) -> Caller:
    """Who calls an examiner route: the id (never the value) of the API key API Gateway checked,
    or the teacher a session from an LMS names (the authorizer's context says which), and API
    Gateway's id of the request (the audit log's "from where"). Every examiner route requires a
    key or a session, so API Gateway always sets one."""
    context = app.current_event.request_context
    request_id = context.request_id or None
    # Imported here: the examiner's use cases have loaded domain.access at init; a student's or a
    # reviewer's function, which never asks who calls, does not load its roles and dataclasses.
    from exam_depository.domain.access import Caller, LtiVia

    authorizer = context.authorizer.raw_event or {}
    if authorizer.get("kind") == "session":
        # A session without its identity is a misconfigured authorizer: never another caller.
        if not authorizer.get("caller_key"):
            raise RuntimeError("the authorizer passed a session without its caller_key")
        via = LtiVia(
            str(authorizer.get("platform", "")), str(authorizer.get("lti_user", "")), str(authorizer.get("session", ""))
        )
        return Caller(str(authorizer["caller_key"]), request_id, via=via)
    key_id = context.identity.api_key_id
    if not key_id:
        raise RuntimeError("an examiner route was called without an API key id: is its ApiKeyRequired set?")
    return Caller(key_id, request_id)


def wants_csv(app: APIGatewayRestResolver) -> bool:
    """Whether the Accept header names text/csv, and does not refuse it (q=0)."""
    for media_range in (app.current_event.headers.get("accept") or "").lower().split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        refused = any(_REFUSED.fullmatch(parameter) for parameter in parameters)
        if media_type == "text/csv" and not refused:
            return True
    return False


_REFUSED = re.compile(r"q\s*=\s*0(\.0{0,3})?")  # a weight of 0: "not acceptable" (RFC 9110)


CSV_TYPES = ("text/csv", "application/csv")


def request_csv(app: APIGatewayRestResolver) -> bytes:
    """The raw CSV body of an import route; API Gateway base64-encodes it (a binary media type)."""
    content_type = app.current_event.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise errors.UnsupportedMediaType("Send the file as text/csv.")
    event = app.current_event
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(event.body)
    return event.body.encode("utf-8")
