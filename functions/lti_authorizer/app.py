"""The API's Lambda authorizer (REQUEST, uncached): who may call a key route, and under which API
key API Gateway meters, throttles and checks the call.

- `x-api-key` sent: the key path, whatever else is sent. The key is handed back as
  `usageIdentifierKey`, and API Gateway judges it exactly as it judged the header before: a wrong
  key 403 Forbidden, its usage plan's throttle and quota. The sessions' key presented as a header
  is refused (401): it is never anyone's to send. Should Secrets Manager not give the sessions'
  key, the key path answers all the same (logged once; tried again a minute later): only that
  refusal is lost, and the sessions' key is in a usage plan of its own anyway. A session still
  needs the key (the authorizer fails: 503).
- `Authorization: Bearer <session>`: a session from the LMS, verified (ES256, the session key's
  public half); metered under the sessions' key; the route learns who calls from the context.
- Neither: allowed with no key, which API Gateway answers 403 Forbidden, as for a missing key.

It never denies by policy and logs no header. It imports neither pydantic nor the LTI library: it
runs before every examiner request, and its cold start is the examiners' wait.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from exam_depository.adapters import sessions
from exam_depository.domain.errors import ServiceUnavailable

logger = logging.getLogger("exam_depository.authorizer")
logger.setLevel(logging.INFO)

UNREADABLE_RETRY_S = 60  # after a failed read, key callers go unchecked for the sessions' key this long
_unreadable_until = 0.0
_unreadable_logged = False


class Unauthorized(Exception):
    """API Gateway answers 401 (the UNAUTHORIZED gateway response) for this exact message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items() if isinstance(value, str)}
    key = headers.get("x-api-key")
    if key is not None:
        if _is_sessions_key(key):
            logger.info("refused: the sessions' key sent as x-api-key")
            raise Unauthorized
        return _allow(event, "key", key, {"kind": "key"})
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        session = sessions.verify(token.strip(), datetime.now(UTC))
        if session is None:
            logger.info("refused: a session that is not valid")
            raise Unauthorized
        return _allow(
            event,
            session.caller_key,
            sessions.sessions_key(),
            {
                "kind": "session",
                "caller_key": session.caller_key,
                "session": session.jti,
                "platform": session.platform,
                "lti_user": session.lti_user,
                "exam": session.exam_id or "",
            },
        )
    return _allow(event, "none", None, {"kind": "none"})


def _is_sessions_key(key: str) -> bool:
    """Whether the header is the sessions' key; false when Secrets Manager cannot say (API Gateway
    checks the key all the same), without asking it again for a minute."""
    global _unreadable_until, _unreadable_logged  # per execution environment
    if time.monotonic() < _unreadable_until:
        return False
    try:
        sessions_key = sessions.sessions_key()
    except (ServiceUnavailable, RuntimeError) as exc:
        _unreadable_until = time.monotonic() + UNREADABLE_RETRY_S
        if not _unreadable_logged:
            _unreadable_logged = True
            logger.warning("the sessions' key could not be read; key callers go to API Gateway's check: %s", exc)
        return False
    return hmac.compare_digest(key.encode(), sessions_key.encode())


def _allow(event: dict[str, Any], principal: str, key: str | None, context: dict[str, str]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": context,
    }
    if key is not None:
        answer["usageIdentifierKey"] = key
    return answer
