"""The API's Lambda authorizer (REQUEST, uncached): who may call a key route, and under which API
key API Gateway meters, throttles and checks the call.

- `x-api-key` sent: the key path, whatever else is sent. The key is handed back as
  `usageIdentifierKey`, and API Gateway judges it exactly as it judged the header before: a wrong
  key 403 Forbidden, its usage plan's throttle and quota. The sessions' key presented as a header
  is refused (401): it is never anyone's to send.
- `Authorization: Bearer <session>`: a session from the LMS, verified (ES256, the session key's
  public half); metered under the sessions' key; the route learns who calls from the context.
- Neither: allowed with no key, which API Gateway answers 403 Forbidden, as for a missing key.

It never denies by policy and logs no header. It imports neither pydantic nor the LTI library: it
runs before every examiner request, and its cold start is the examiners' wait.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from exam_depository.adapters import sessions

logger = logging.getLogger("exam_depository.authorizer")
logger.setLevel(logging.INFO)


class Unauthorized(Exception):
    """API Gateway answers 401 (the UNAUTHORIZED gateway response) for this exact message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items() if isinstance(value, str)}
    key = headers.get("x-api-key")
    if key is not None:
        if hmac.compare_digest(key.encode(), sessions.sessions_key().encode()):
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
