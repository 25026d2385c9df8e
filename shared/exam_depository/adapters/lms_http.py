"""HTTP to learning platforms: the one guarded session of every outbound LTI call (a platform's key
set, its token endpoint, the class list, the gradebook, dynamic registration).

A platform's URLs are typed by examiners, so each request is checked before it connects: https only
(http and loopback only when LTI_ALLOW_LOOPBACK is set, for the tests' platform on 127.0.0.1, never on
AWS), and every address the host resolves to must be public — no private, loopback, link-local (the
Lambda runtime API and the instance metadata), multicast or reserved address. No redirects (a
redirect could lead past the check), short timeouts, answers over 2 MiB refused.

Residual risk: DNS may answer differently between the check and the connection (rebinding); see
docs/OPERATIONS.md.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests

from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.config import load

USER_AGENT = "ExamDepository-LTI/1"
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
MAX_ANSWER_BYTES = 2 * 1024 * 1024


class LmsUnreachable(requests.RequestException):
    """A platform's URL refused by the guard, or no usable answer from it."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


class GuardedSession(requests.Session):
    """A `requests.Session` that checks each URL, never follows a redirect, bounds time and size."""

    def __init__(self, *, allow_loopback: bool) -> None:
        super().__init__()
        self.allow_loopback = allow_loopback
        self.headers["User-Agent"] = USER_AGENT
        self.max_redirects = 0
        self.trust_env = False  # no proxy from the environment: the guard judges the real host

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        target = url.decode() if isinstance(url, bytes) else url
        check_url(target, allow_loopback=self.allow_loopback)
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        try:
            response = super().request(
                method.decode() if isinstance(method, bytes) else method, target, *args, **kwargs
            )
        except LmsUnreachable:
            raise
        except requests.RequestException as exc:
            raise LmsUnreachable(target, f"no answer ({type(exc).__name__})") from exc
        if response.is_redirect:
            response.close()
            raise LmsUnreachable(target, f"redirected ({response.status_code}); redirects are not followed")
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body.extend(chunk)
            if len(body) > MAX_ANSWER_BYTES:
                response.close()
                raise LmsUnreachable(target, f"answer over {MAX_ANSWER_BYTES} bytes")
        response._content = bytes(body)  # read whole: .json() and .text work as usual
        return response


def session() -> GuardedSession:
    """A fresh guarded session (per use: connections are not kept across platforms)."""
    return GuardedSession(allow_loopback=load(LtiSettings).allow_loopback)


def check_url(url: str, *, allow_loopback: bool) -> None:
    """Refuse a URL this tool must not call (raises `LmsUnreachable`)."""
    parts = urlsplit(url)
    if parts.scheme not in ({"https", "http"} if allow_loopback else {"https"}):
        raise LmsUnreachable(url, "only https URLs are called")
    host = parts.hostname
    if not host:
        raise LmsUnreachable(url, "no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise LmsUnreachable(url, "the host does not resolve") from exc
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if not (ip.is_global or (allow_loopback and ip.is_loopback)):
            raise LmsUnreachable(url, f"the host resolves to a non-public address ({ip})")
