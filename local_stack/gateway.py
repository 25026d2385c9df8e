"""A small API Gateway: HTTP request -> REST proxy event -> handler -> HTTP response."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_stack.functions import FunctionPool, LambdaContext, Route, Throttled
from local_stack.keys import KeyTable

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
# Codes are credentials: the access log shows their first four characters only.
_CODE_IN_PATH = re.compile(r"(/(?:submissions|verifications)/[^/\s?]{4})[^/\s?]*")


def redact_codes(line: str) -> str:
    return _CODE_IN_PATH.sub(r"\1…", line)


@dataclass(frozen=True)
class Allowed:
    """What an authorizer allowed: its context, and the key API Gateway meters the call under."""

    context: dict[str, str]
    key: str | None


class Gateway:
    """`concurrency`: how many instances each function may run at once (functions.concurrency_limits;
    a function not named has no cap); `gateway_responses`: the template's (functions.gateway_responses),
    whose INTEGRATION_FAILURE answers an invocation Lambda throttles."""

    def __init__(
        self,
        routes: list[Route],
        keys: KeyTable,
        binary_media_types: list[str],
        stage: str = "local",
        *,
        concurrency: dict[str, int | None] | None = None,
        gateway_responses: dict[str, tuple[int, dict[str, str], bytes]] | None = None,
    ) -> None:
        self.routes = routes
        # The routes a request can match, by method and first path segment, in the given order
        # (literal segments before parameters): a request tries only these, not all of them. A
        # route whose first segment is a parameter could match any: it is in each of its
        # method's lists, and alone in the list for a segment no route names.
        self._open_first: dict[str, list[Route]] = {}
        self._routes_of: dict[tuple[str, str], list[Route]] = {}
        for route in routes:
            first = _first_segment(route.resource)
            if "{" in first:
                self._open_first.setdefault(route.method, []).append(route)
                for (method, _), listed in self._routes_of.items():
                    if method == route.method:
                        listed.append(route)
            else:
                listed = self._routes_of.setdefault((route.method, first), list(self._open_first.get(route.method, ())))
                listed.append(route)
        self.keys = keys
        self.binary_media_types = binary_media_types
        self.stage = stage
        limits = concurrency or {}
        functions = {route.function for route in routes} | {route.authorizer for route in routes if route.authorizer}
        self.pools = {function: FunctionPool(function, limits.get(function)) for function in functions}
        responses = gateway_responses or {}
        # API Gateway's defaults, which the template's responses replace.
        self.throttled = responses.get("INTEGRATION_FAILURE", _gateway_error(500, "Internal server error"))
        self.unauthorized = responses.get("UNAUTHORIZED", _gateway_error(401, "Unauthorized"))
        self.authorizer_failed = responses.get("AUTHORIZER_FAILURE", _gateway_error(500, None))

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path = unquote(url.path) or "/"
        candidates = self._routes_of.get((method, _first_segment(path)))
        for route in self._open_first.get(method, ()) if candidates is None else candidates:
            params = route.match(method, path)
            if params is None:
                continue
            authorized: dict[str, str] | None = None
            if route.authorizer is not None:
                verdict = self._authorize(route, params, path=path, query=url.query, headers=headers)
                if not isinstance(verdict, Allowed):
                    return verdict
                authorized, key = verdict.context, verdict.key
            else:
                key = headers.get("x-api-key", "")
            key_id = self.keys.key_id(key or "") if route.api_key_required else None
            if route.api_key_required and key_id is None:
                return _gateway_error(403, "Forbidden")
            event = self._event(route, params, path=path, query=url.query, headers=headers, body=body, key_id=key_id)
            if authorized is not None:
                event["requestContext"]["authorizer"] = authorized
            request_id = event["requestContext"]["requestId"]
            try:
                result = self.pools[route.function].invoke(event, LambdaContext(route.function, request_id))
            except Throttled:
                # Every instance the function may have is busy: Lambda refuses (429), and API
                # Gateway answers its INTEGRATION_FAILURE response.
                return _with_request_id(self.throttled, request_id)
            except Exception:
                # What API Gateway answers when the function fails: the client gets an answer;
                # the function's log has the error, and the terminal shows it too.
                print(f"{route.function} failed:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                return _with_request_id(_gateway_error(502, "Internal server error"), request_id)
            return _with_request_id(_http_response(result), request_id)
        # What API Gateway answers for a path or method it does not know.
        return _gateway_error(403, "Missing Authentication Token")

    def _authorize(
        self, route: Route, params: dict[str, str], *, path: str, query: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes] | Allowed:
        """Run the route's Lambda authorizer as API Gateway runs an uncached REQUEST authorizer:
        its answer (the response to send), or what it allowed: its context (strings, with the
        principalId, as `requestContext.authorizer`) and the key API Gateway then checks
        (`usageIdentifierKey`: None, and a key route answers 403 Forbidden)."""
        assert route.authorizer is not None
        event = self._event(route, params, path=path, query=query, headers=headers, body=b"", key_id=None)
        method_arn = f"arn:aws:execute-api:local:000000000000:local/{self.stage}/{route.method}{path}"
        request = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{name: event[name] for name in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
            **{name: event[name] for name in ("queryStringParameters", "multiValueQueryStringParameters")},
            **{name: event[name] for name in ("pathParameters", "stageVariables", "requestContext")},
        }
        request_id = event["requestContext"]["requestId"]
        try:
            answer = self.pools[route.authorizer].invoke(request, LambdaContext(route.authorizer, request_id))
        except Exception as exc:
            # A function that raises exactly "Unauthorized" is API Gateway's 401; anything else
            # (a throttled or failing authorizer) its AUTHORIZER_FAILURE.
            failed = self.unauthorized if str(exc) == "Unauthorized" else self.authorizer_failed
            return _with_request_id(failed, request_id)
        effects = {
            statement.get("Effect")
            for statement in answer.get("policyDocument", {}).get("Statement", [])
            if any(_policy_matches(resource, method_arn) for resource in _listed(statement.get("Resource")))
        }
        if "Deny" in effects:
            return _with_request_id(
                _gateway_error(403, "User is not authorized to access this resource with an explicit deny"), request_id
            )
        if "Allow" not in effects:
            return _with_request_id(_gateway_error(403, "User is not authorized to access this resource"), request_id)
        context = {name: str(value) for name, value in (answer.get("context") or {}).items()}
        context["principalId"] = str(answer.get("principalId", ""))
        key = answer.get("usageIdentifierKey")
        return Allowed(context, key if isinstance(key, str) else None)

    def _event(
        self,
        route: Route,
        params: dict[str, str],
        *,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        key_id: str | None,
    ) -> dict[str, Any]:
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True) if query else ():
            multi_query.setdefault(name, []).append(value)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        binary = content_type in self.binary_media_types
        request_id = _request_id()
        now = time.time()
        identity: dict[str, Any] = {
            "sourceIp": headers.get("x-forwarded-for", "127.0.0.1"),
            "userAgent": headers.get("user-agent"),
        }
        if key_id is not None:
            # As API Gateway does: the id of the key it checked names the examiner (for a session,
            # the sessions' key, whose value the function is not shown).
            identity |= {"apiKey": headers.get("x-api-key"), "apiKeyId": key_id}
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": route.method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource,
                "httpMethod": route.method,
                # No stage prefix locally: the URL the browser sees is the path itself.
                "path": path,
                "stage": self.stage,
                "requestId": request_id,
                "requestTime": _request_time(int(now)),
                "requestTimeEpoch": int(now * 1000),
                "identity": identity,
                "accountId": "000000000000",
                "apiId": "local",
                "protocol": "HTTP/1.1",
            },
            "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", "replace")) if body else None,
            "isBase64Encoded": binary and bool(body),
        }


def _request_id() -> str:
    """A random (version 4) UUID as text, as uuid.uuid4() gives, without building a UUID object
    (a fifth of the gateway's own time per request went to it)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# The last second formatted, and its text: requests come many to a second.
_last_request_time: tuple[int, str] = (-1, "")


def _request_time(second: int) -> str:
    global _last_request_time
    last = _last_request_time  # one read: another thread may replace it meanwhile
    if last[0] != second:
        last = _last_request_time = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return last[1]


# The last second's HTTP date (RFC 9110's IMF-fixdate, as http.server writes it), and its text.
_last_http_date: tuple[int, str] = (-1, "")


def _http_date() -> str:
    global _last_http_date
    second = int(time.time())
    last = _last_http_date  # one read: another thread may replace it meanwhile
    if last[0] != second:
        last = _last_http_date = (second, formatdate(second, usegmt=True))
    return last[1]


def _first_segment(path: str) -> str:
    """The first segment of a path: exams of /exams/{exam_id}/students, the empty one of /."""
    return path[1:].partition("/")[0]


def _with_request_id(response: tuple[int, dict[str, str], bytes], request_id: str) -> tuple[int, dict[str, str], bytes]:
    """As API Gateway answers: the request's id, which its log lines carry as `correlation_id`."""
    status, headers, payload = response
    return status, {**headers, "x-amzn-RequestId": request_id}, payload


def _policy_matches(resource: str, arn: str) -> bool:
    """An IAM policy's Resource against an ARN: `*` any run of characters, `?` any one, every other
    character itself (a `[0]` in a path is not a character class, as fnmatch would read it)."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)
    return re.fullmatch(pattern, arn, flags=re.DOTALL) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [item for item in value or [] if isinstance(item, str)]


def _gateway_error(status: int, message: str | None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()


def _http_response(result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    # Each cookie on a header line of its own, as API Gateway sends them (cookies joined by commas
    # on one line are one cookie to a browser): the server writes the value as it is.
    headers = {
        name: (f"\r\n{name}: " if name.lower() == "set-cookie" else ",").join(values)
        for name, values in (result.get("multiValueHeaders") or {}).items()
    }
    headers.update(result.get("headers") or {})
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, payload


# Headers the server writes itself, whatever the function answered.
_HOP_BY_HOP = frozenset(("content-length", "connection"))


def serve(gateway: Gateway, host: str, port: int, access_log: Any) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "exam-depository-local"
        # Buffered: status, headers and body leave in one write when the request is done. Written
        # apart, the body waits for the client to acknowledge the headers (Nagle's algorithm
        # against a delayed ACK): 40 ms a request on a keep-alive connection.
        wbufsize = -1
        _server = f"Server: {server_version} {BaseHTTPRequestHandler.sys_version}\r\n"

        def _dispatch(self) -> None:
            # As parsed (http.server strips each line's end): no per-header policy pass.
            headers = {name.lower(): value for name, value in self.headers.raw_items()}
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
                return
            body = self.rfile.read(length) if length else b""
            status, out_headers, payload = gateway.handle(self.command, self.path, headers, body)
            self._send(status, out_headers, payload)

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            if self.request_version == "HTTP/0.9":  # no status line, no headers: http.server's way
                self.send_response(status)
                self.end_headers()
            else:
                # What send_response, send_header and end_headers write, built as one text: a
                # call and an encoding per header were a tenth of the gateway's time.
                self.log_request(status)
                reason = self.responses[status][0] if status in self.responses else ""
                head = [f"{self.protocol_version} {status} {reason}\r\n{self._server}Date: {_http_date()}\r\n"]
                head += [f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() not in _HOP_BY_HOP]
                head.append(f"Content-Length: {len(payload)}\r\n\r\n")
                self.wfile.write("".join(head).encode("latin-1", "strict"))
            if self.command != "HEAD":
                self.wfile.write(payload)

        # The methods browsers and clients send, found without __getattr__ (a failed lookup first).
        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway, which answers what API Gateway answers for a
            # method no route has (TRACE, PROPFIND...), instead of http.server's 501.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            access_log.write(redact_codes(f"{self.address_string()} {format % args}") + "\n")
            access_log.flush()

    class Server(ThreadingHTTPServer):
        # The default listen backlog of 5 resets connections when a class uploads at once.
        request_queue_size = 128
        daemon_threads = True

    return Server((host, port), Handler)
