"""What SES says about a message after accepting it: its event publishing's records (a
configuration set's event destination), read as one `MailEvent` each.

Two shapes arrive: EventBridge's (`source` aws.ses, a `detail-type` per event, the record in
`detail`), which the template's rule sends to the mail events queue, and SNS's (the bare record
with its `eventType`, or SNS's own envelope around it when raw delivery is off), so that an SNS
destination needs no code. The message is found by our tag `message` (its id in our table, put on
by the sender's `X-SES-MESSAGE-TAGS` header), else by SES's message id.

Events arrive at least once and in any order (a Delivery before the sender recorded the Send is
normal): what they do to a message's state is `domain.mail`'s ranking, applied by the database.
A record of another configuration set (another stack sharing the account's default bus) is
`Ignored`; one we cannot read raises ValueError, so that its queue message goes to the dead-letter
queue and a change of format is seen rather than passed over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from exam_depository.domain.characters import unstorable
from exam_depository.domain.statuses import MessageState

EventKind = Literal["send", "delivery", "bounce", "complaint", "reject", "delivery_delay"]

SOURCE = "aws.ses"
# EventBridge's detail-type of each event the configuration set publishes to it (the template's
# rule matches these six).
DETAIL_TYPES: Mapping[str, EventKind] = {
    "Email Sent": "send",
    "Email Delivered": "delivery",
    "Email Bounced": "bounce",
    "Email Complaint Received": "complaint",
    "Email Rejected": "reject",
    "Email Delivery Delayed": "delivery_delay",
}
# The record's own `eventType` (SNS, Firehose and EventBridge's `detail` alike).
EVENT_TYPES: Mapping[str, EventKind] = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "DeliveryDelay": "delivery_delay",
}
# The object beside `mail` that holds each event's own facts.
_RECORD_KEYS: Mapping[EventKind, str] = {
    "send": "send",
    "delivery": "delivery",
    "bounce": "bounce",
    "complaint": "complaint",
    "reject": "reject",
    "delivery_delay": "deliveryDelay",
}
# Our tags on every message (SES publishes them in `mail.tags`, each as a list of one value).
MESSAGE_TAG = "message"
CONFIGURATION_SET_TAG = "ses:configuration-set"
MAX_DETAIL_CHARS = 300
MAX_RECIPIENTS = 50  # one message has one recipient; a record naming more is cut, not refused
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class MailEvent:
    """One event about one message. `at` is when it happened (the event's own timestamp; the
    message's for Send and Reject, which have none); `message_id` is our tag (None when the
    message carries none that is a UUID: it is then found by `ses_message_id`); `detail` what a
    person reads in the per-student view (a bounce's diagnostic, a delay's type, a rejection's
    reason), never holding the recipient's address."""

    kind: EventKind
    at: datetime
    ses_message_id: str
    message_id: UUID | None
    recipients: tuple[str, ...]
    bounce_type: str | None = None
    bounce_sub_type: str | None = None
    detail: str | None = None
    event_id: str = ""


@dataclass(frozen=True)
class Ignored:
    """A record that is well formed but not ours (another configuration set, an identity's
    notification, which carries no configuration set)."""

    reason: str


def mail_event_of(body: Mapping[str, Any], *, configuration_set: str) -> MailEvent | Ignored:
    """The event a queue message's body states: EventBridge's event, SNS's record or SNS's
    notification around it. ValueError when it is none of them or lacks what every SES record has."""
    body = _mapping(body, "event")
    if body.get("Type") == "Notification" and "Message" in body:
        record = _mapping(_json(body["Message"]), "Message")
        return _event_of(record, _kind_of_record(record), configuration_set, _id(body.get("MessageId")))
    if "detail-type" in body or "source" in body:
        if body.get("source") != SOURCE:
            raise ValueError(f"not an SES event: {body.get('source')!r}")
        kind = DETAIL_TYPES.get(str(body.get("detail-type")))
        if kind is None:
            raise ValueError(f"an SES event we do not read: {body.get('detail-type')!r}")
        record = _mapping(body.get("detail"), "detail")
        if "eventType" in record and EVENT_TYPES.get(str(record["eventType"])) != kind:
            raise ValueError(f"detail-type {body.get('detail-type')!r} with eventType {record['eventType']!r}")
        return _event_of(record, kind, configuration_set, _id(body.get("id")))
    return _event_of(body, _kind_of_record(body), configuration_set, "")


def new_state(event: MailEvent) -> MessageState | None:
    """The state the event moves its message to (if it ranks above the message's: `domain.mail`).
    A delay moves nothing: SES goes on trying, and its Delivery or Bounce follows."""
    return _NEW_STATE[event.kind]


_NEW_STATE: Mapping[EventKind, MessageState | None] = {
    "send": "sent",
    "delivery": "delivered",
    "bounce": "bounced",
    "complaint": "complained",
    "reject": "failed",
    "delivery_delay": None,
}


def suppresses(event: MailEvent) -> Literal["bounce", "complaint"] | None:
    """Whether the event makes its address one we never mail again (until the examiner gives the
    student another): a permanent bounce (the address does not exist, or SES's suppression list
    holds it) and any complaint. A transient or undetermined bounce does not: the next message is
    sent."""
    if event.kind == "bounce" and event.bounce_type == "Permanent":
        return "bounce"
    if event.kind == "complaint":
        return "complaint"
    return None


def _kind_of_record(record: Mapping[str, Any]) -> EventKind | Ignored:
    if "eventType" not in record and "notificationType" in record:
        # An identity's feedback notification: sent without a configuration set, so without our tags.
        return Ignored("an identity notification, not the configuration set's event")
    kind = EVENT_TYPES.get(str(record.get("eventType")))
    if kind is None:
        raise ValueError(f"an SES event type we do not read: {record.get('eventType')!r}")
    return kind


def _event_of(
    record: Mapping[str, Any], kind: EventKind | Ignored, configuration_set: str, event_id: str
) -> MailEvent | Ignored:
    if isinstance(kind, Ignored):
        return kind
    mail = _mapping(record.get("mail"), "mail")
    tags = mail.get("tags")
    tags = _mapping(tags, "mail.tags") if tags is not None else {}
    if configuration_set not in _tag_values(tags, CONFIGURATION_SET_TAG):
        return Ignored("another configuration set")
    facts = _mapping(record.get(_RECORD_KEYS[kind]), _RECORD_KEYS[kind])
    recipients = _recipients(kind, mail, facts)
    own_time = facts.get("timestamp") if kind in ("delivery", "bounce", "complaint", "delivery_delay") else None
    bounce_type = _text(facts.get("bounceType"), "bounceType") if kind == "bounce" else None
    bounce_sub_type = _optional_text(facts.get("bounceSubType")) if kind == "bounce" else None
    return MailEvent(
        kind=kind,
        at=_instant(own_time if own_time is not None else mail.get("timestamp")),
        ses_message_id=_id(mail.get("messageId"), required=True),
        message_id=_message_id(tags),
        recipients=recipients,
        bounce_type=bounce_type,
        bounce_sub_type=bounce_sub_type,
        detail=_detail(kind, facts, recipients),
        event_id=event_id,
    )


def _recipients(kind: EventKind, mail: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[str, ...]:
    """Whom the event is about, lower-cased as our addresses are kept: the recipients it names
    (a delivery's, a bounce's, a complaint's, a delay's), else the message's destination."""
    if kind == "delivery":
        named: object = facts.get("recipients")
    elif kind in ("bounce", "complaint", "delivery_delay"):
        key = {"bounce": "bouncedRecipients", "complaint": "complainedRecipients"}.get(kind, "delayedRecipients")
        listed = facts.get(key)
        if not isinstance(listed, list):
            raise ValueError(f"{key} is not a list")
        named = [_mapping(item, key).get("emailAddress") for item in listed]
    else:
        named = mail.get("destination")
    if not isinstance(named, list):
        raise ValueError("the event names no recipients")
    return tuple(_text(address, "recipient").lower() for address in named[:MAX_RECIPIENTS])


def _detail(kind: EventKind, facts: Mapping[str, Any], recipients: tuple[str, ...]) -> str | None:
    if kind == "bounce":
        listed = facts.get("bouncedRecipients") or [{}]
        diagnostic = _optional_text(_mapping(listed[0], "bouncedRecipients").get("diagnosticCode"))
        said = f"{facts.get('bounceType')}/{facts.get('bounceSubType')}"
        text = f"{said}: {diagnostic}" if diagnostic else said
    elif kind == "complaint":
        feedback = _optional_text(facts.get("complaintFeedbackType"))
        text = f"complaint: {feedback}" if feedback else "complaint"
    elif kind == "delivery_delay":
        text = f"delayed: {_optional_text(facts.get('delayType')) or 'unknown'}"
    elif kind == "reject":
        text = _optional_text(facts.get("reason")) or "rejected"
    else:
        return None
    return without_addresses(text, recipients)[:MAX_DETAIL_CHARS]


def without_addresses(text: str, addresses: tuple[str, ...]) -> str:
    """A diagnostic as the examiner and ops read it: a receiving server (or SES refusing a call)
    often quotes the address ("550 5.1.1 <ana@example.org>: user unknown"), which is kept beside
    the message, not in its detail, and never in the suppression list (kept by the address's hash
    only). Storable: no NUL, no lone surrogate."""
    for address in addresses:
        text = re.sub(re.escape(address), "(the address)", text, flags=re.IGNORECASE)
    return _storable(text)


def _message_id(tags: Mapping[str, Any]) -> UUID | None:
    values = _tag_values(tags, MESSAGE_TAG)
    try:
        return UUID(values[0]) if values else None
    except ValueError:
        return None  # not one of ours: found by SES's message id, or not at all


def _tag_values(tags: Mapping[str, Any], name: str) -> list[str]:
    values = tags.get(name)
    if not isinstance(values, list):
        return []
    return [value for value in values if isinstance(value, str)]


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} is not an object")
    return value


def _json(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("the SNS notification's Message is not text")
    return json.loads(value)  # JSONDecodeError is a ValueError


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing")
    # PostgreSQL refuses a NUL in any text, and UTF-8 cannot hold a lone surrogate (JSON can).
    if unstorable(value):
        raise ValueError(f"{name} holds a control character or a lone surrogate")
    return value


def _optional_text(value: object) -> str | None:
    """A fact that may be absent, made storable (a diagnostic is shown, never refused for what
    a receiving server put in it)."""
    if not isinstance(value, str):
        return None
    return _storable(value) or None


def _storable(text: str) -> str:
    """`text` without NULs, each lone surrogate shown as U+FFFD."""
    text = text.replace("\x00", "")
    try:
        text.encode()  # strict UTF-8 fails on a lone surrogate only
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _id(value: object, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    text = _text(value, "messageId" if required else "id")
    if len(text) > MAX_ID_CHARS:
        raise ValueError("an id longer than SES's")
    return text


def _instant(value: object) -> datetime:
    instant = datetime.fromisoformat(_text(value, "timestamp"))  # RFC 3339 with Z; ValueError otherwise
    if instant.tzinfo is None:
        raise ValueError("timestamp has no offset")
    return instant
