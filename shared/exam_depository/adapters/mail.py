"""SES: a rendered message as MIME bytes, sent by v1 SendRawEmail, and SES's answers as the sender's
four kinds of failure.

The configuration set and the message's tags travel in the `X-SES-CONFIGURATION-SET` and
`X-SES-MESSAGE-TAGS` headers, which SES reads and strips before delivery; not as API parameters,
which would replace the headers'. The tag `message` (our message's id) comes back in every event
SES publishes about the message: it is how an event finds its row even when the sender died
before it recorded SES's MessageId.

SES takes no idempotency token: a call it accepted cannot be told from a new one. The client
therefore never retries a send (botocore's retries would resend an accepted message whose answer
was lost); the sender decides what is tried again. For the same reason a call whose request left
and whose answer never came (the read timed out, the connection closed, SES answered 5xx) is
`Unanswered`, not `Unavailable`: SES may have taken the message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate
from typing import TYPE_CHECKING
from uuid import UUID

from exam_depository.adapters import aws
from exam_depository.config import MailSettings, load
from exam_depository.domain.messages import Rendered
from exam_depository.domain.statuses import MessageKind

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient

THROTTLED_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"})
# What SES says about this one message (its content, its recipient): sending it again cannot help.
REFUSED_CODES = frozenset({"MessageRejected", "InvalidParameterValue"})
DAILY_QUOTA_MESSAGE = "Daily message quota"
QUOTA_MAX_AGE_S = 60.0
SEND_TIMEOUT_S = 10
CONNECT_TIMEOUT_S = 3


class Throttled(Exception):
    """SES refused the call for the rate (`daily` False: retry in a second) or the day's quota
    (`daily` True: nothing more is sent for hours)."""

    def __init__(self, message: str, *, daily: bool) -> None:
        super().__init__(message)
        self.daily = daily


class Refused(Exception):
    """SES refused this message itself (MessageRejected, InvalidParameterValue): final."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Unavailable(Exception):
    """SES could not be used by this deployment just now (access denied, a configuration set or a
    sender not verified, sending paused, no answer): every message waits."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Unanswered(Exception):
    """The request left and no answer came (the read timed out, the connection closed) or SES
    answered with its own failure (5xx): SES may have accepted the message, and a second call
    could send it twice."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Quota:
    max_send_rate: float  # messages a second
    max_24_hour_send: float
    sent_last_24_hours: float


def mime(
    rendered: Rendered,
    *,
    sender: str,
    sender_name: str,
    to: str,
    message_id: UUID,
    kind: MessageKind,
    configuration_set: str,
) -> bytes:
    """The message as SES sends it: the text and HTML parts as alternatives, in a
    multipart/mixed with the attachments when there are any; a subject or name with umlauts
    encoded by RFC 2047; CRLF line ends; nothing but ASCII."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((sender_name, sender))
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    # RFC 3834: a message no person wrote; vacation responders stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    if configuration_set:
        message["X-SES-CONFIGURATION-SET"] = configuration_set
    message["X-SES-MESSAGE-TAGS"] = f"message={message_id}, kind={kind}"
    # Quoted-printable: the whole message stays 7-bit ASCII, as every relay on the way accepts.
    message.set_content(rendered.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in rendered.attachments:
        maintype, subtype = attachment.media_type.split("/", 1)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    # Last: making the message multipart moves every Content-* header into its first part.
    message["Content-Language"] = rendered.language
    return message.as_bytes(policy=SMTP)


def client(region: str) -> SESClient:
    ses: SESClient = aws.client(
        "ses",
        region=region,
        read_timeout=SEND_TIMEOUT_S,
        connect_timeout=CONNECT_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": 1},
    )
    return ses


def send_raw(raw: bytes, *, source: str, to: str) -> str:
    """Send `raw` to `to`; SES's MessageId. Raises Throttled, Refused, Unavailable (SES did not
    take it) or Unanswered (SES may have taken it)."""
    settings = load(MailSettings)
    try:
        answer = client(_region(settings)).send_raw_email(Source=source, Destinations=[to], RawMessage={"Data": raw})
    except aws.failures() as exc:
        raise _failure(exc) from exc
    return str(answer["MessageId"])


def send_quota() -> Quota:
    """The account's rate and day's quota (GetSendQuota), asked at most once a minute per
    execution environment."""
    now = time.monotonic()
    with _quota_lock:
        if _quota_cache and now - _quota_cache[0][0] < QUOTA_MAX_AGE_S:
            return _quota_cache[0][1]
    settings = load(MailSettings)
    try:
        answer = client(_region(settings)).get_send_quota()
    except aws.failures() as exc:
        failure = _failure(exc)
        if isinstance(failure, Unanswered):  # asking sends nothing: no answer is just unavailable
            raise Unavailable(str(failure), code=failure.code) from exc
        raise failure from exc
    quota = Quota(
        max_send_rate=float(answer.get("MaxSendRate", 1.0)),
        max_24_hour_send=float(answer.get("Max24HourSend", 200.0)),
        sent_last_24_hours=float(answer.get("SentLast24Hours", 0.0)),
    )
    with _quota_lock:
        _quota_cache[:] = [(now, quota)]
    return quota


_quota_lock = threading.Lock()
_quota_cache: list[tuple[float, Quota]] = []  # (monotonic time asked, Quota), at most one


def reset() -> None:
    """Forget the cached quota (tests)."""
    with _quota_lock:
        _quota_cache.clear()


def _region(settings: MailSettings) -> str:
    if settings.region is None:
        raise Unavailable("mail is not configured: no AWS_REGION", code="NotConfigured")
    return settings.region


def _failure(exc: Exception) -> Throttled | Refused | Unavailable | Unanswered:
    from botocore.exceptions import ClientError, HTTPClientError

    if isinstance(exc, HTTPClientError):
        # The request was sent (ReadTimeoutError, ConnectionClosedError and the like); a failure
        # before it left (EndpointConnectionError, ConnectTimeoutError, no credentials) is not one.
        return Unanswered(f"SES did not answer: {exc}", code=type(exc).__name__)
    if not isinstance(exc, ClientError):
        return Unavailable(f"SES could not be reached: {exc}", code=type(exc).__name__)
    error = exc.response.get("Error", {})
    code, text = str(error.get("Code", "")), str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status >= 500 and code not in THROTTLED_CODES:
        return Unanswered(f"{code}: {text}", code=code or "Unknown")
    if code in THROTTLED_CODES:
        return Throttled(f"{code}: {text}", daily=DAILY_QUOTA_MESSAGE in text)
    if code in REFUSED_CODES:
        return Refused(f"{code}: {text}", code=code)
    return Unavailable(f"{code}: {text}", code=code or "Unknown")
