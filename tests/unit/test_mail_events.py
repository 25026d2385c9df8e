"""SES's events read as MailEvent: AWS's six samples in EventBridge's and SNS's shapes, what each
says (its time, recipients, bounce type, detail without the address), what moves a message's state
and what suppresses an address; another configuration set ignored; a malformed record refused."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from exam_depository.domain.mail import RANK
from exam_depository.domain.mail_events import (
    DETAIL_TYPES,
    MAX_DETAIL_CHARS,
    Ignored,
    MailEvent,
    mail_event_of,
    new_state,
    suppresses,
    without_addresses,
)

from tests.unit.ses_samples import (
    CONFIGURATION_SET,
    MESSAGE_ID,
    RECORDS,
    SES_MESSAGE_ID,
    eventbridge,
    record,
    sns_notification,
)

SHAPES = {
    "eventbridge": eventbridge,
    "sns-record": lambda found: found,
    "sns-notification": sns_notification,
}
# What each of AWS's samples says: kind, when, recipients, bounce type and subtype, detail.
EXPECTED = {
    "Send": ("send", "2016-10-14T05:02:16.645Z", None, None, None),
    "Delivery": ("delivery", "2016-10-19T23:21:04.133Z", None, None, None),
    "Bounce": (
        "bounce",
        "2017-08-05T00:41:02.669Z",
        "Permanent",
        "General",
        "Permanent/General: smtp; 550 5.1.1 user unknown",
    ),
    "Complaint": ("complaint", "2017-08-05T00:41:02.669Z", None, None, "complaint: abuse"),
    "Reject": ("reject", "2016-10-14T17:38:15.211Z", None, None, "Bad content"),
    "DeliveryDelay": (
        "delivery_delay",
        "2020-06-16T00:25:40.095Z",
        None,
        None,
        "delayed: TransientCommunicationFailure",
    ),
}


def read(body: dict[str, Any]) -> MailEvent:
    event = mail_event_of(body, configuration_set=CONFIGURATION_SET)
    assert isinstance(event, MailEvent), event
    return event


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("event_type", sorted(RECORDS))
def test_each_of_aws_samples_reads_the_same_in_every_shape(event_type: str, shape: str) -> None:
    event = read(SHAPES[shape](record(event_type)))

    kind, at, bounce_type, bounce_sub_type, detail = EXPECTED[event_type]
    assert event.kind == kind
    assert event.at == datetime.fromisoformat(at)
    assert event.at.tzinfo is not None
    assert (event.ses_message_id, event.message_id) == (SES_MESSAGE_ID, UUID(MESSAGE_ID))
    assert event.recipients == ("recipient@example.com",)
    assert (event.bounce_type, event.bounce_sub_type, event.detail) == (bounce_type, bounce_sub_type, detail)


def test_the_envelopes_ids_are_kept_to_trace_an_event() -> None:
    assert read(eventbridge(record("Delivery"), event_id="e-1")).event_id == "e-1"
    assert read(sns_notification(record("Delivery"))).event_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert read(record("Delivery")).event_id == ""


def test_every_detail_type_the_rule_sends_is_read_and_agrees_with_its_record() -> None:
    assert sorted(DETAIL_TYPES) == sorted(eventbridge(found)["detail-type"] for found in RECORDS.values())
    mismatched = eventbridge(record("Delivery"))
    mismatched["detail-type"] = "Email Bounced"
    with pytest.raises(ValueError, match="eventType"):
        read(mismatched)


@pytest.mark.parametrize(
    ("event_type", "state"),
    [
        ("Send", "sent"),
        ("Delivery", "delivered"),
        ("Bounce", "bounced"),
        ("Complaint", "complained"),
        ("Reject", "failed"),
        ("DeliveryDelay", None),
    ],
)
def test_each_event_moves_its_message_to_a_ranked_state_a_delay_to_none(event_type: str, state: str | None) -> None:
    moved = new_state(read(record(event_type)))
    assert moved == state
    assert moved is None or moved in RANK


def bounce(bounce_type: str, sub_type: str, diagnostic: str | None = "smtp; 550 5.1.1 user unknown") -> dict[str, Any]:
    found = record("Bounce")
    found["bounce"].update(bounceType=bounce_type, bounceSubType=sub_type)
    if diagnostic is None:
        del found["bounce"]["bouncedRecipients"][0]["diagnosticCode"]
    else:
        found["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = diagnostic
    return found


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (bounce("Permanent", "General"), "bounce"),
        (bounce("Permanent", "OnAccountSuppressionList", None), "bounce"),
        (bounce("Transient", "MailboxFull", "smtp; 452 4.2.2 mailbox full"), None),
        (bounce("Undetermined", "Undetermined", None), None),
        (record("Complaint"), "complaint"),
        (record("Delivery"), None),
        (record("Send"), None),
        (record("Reject"), None),
        (record("DeliveryDelay"), None),
    ],
    ids=[
        "permanent",
        "on-suppression-list",
        "transient",
        "undetermined",
        "complaint",
        "delivery",
        "send",
        "reject",
        "delay",
    ],
)
def test_only_a_permanent_bounce_or_a_complaint_suppresses_the_address(
    found: dict[str, Any], reason: str | None
) -> None:
    assert suppresses(read(eventbridge(found))) == reason


def test_a_transient_bounce_says_its_type_and_a_bounce_without_diagnostic_its_types_alone() -> None:
    assert read(bounce("Transient", "MailboxFull", "smtp; 452 4.2.2 mailbox full")).detail == (
        "Transient/MailboxFull: smtp; 452 4.2.2 mailbox full"
    )
    assert read(bounce("Permanent", "OnAccountSuppressionList", None)).detail == "Permanent/OnAccountSuppressionList"


def test_the_detail_never_holds_the_recipients_address_nor_a_nul_and_is_cut() -> None:
    quoted = bounce("Permanent", "General", "smtp; 550 5.1.1 <Recipient@Example.com>: user unknown\x00")
    assert read(quoted).detail == "Permanent/General: smtp; 550 5.1.1 <(the address)>: user unknown"
    long = bounce("Permanent", "General", "x" * 1000)
    assert len(read(long).detail or "") == MAX_DETAIL_CHARS


def test_a_lone_surrogate_in_a_detail_is_stored_as_a_replacement_character() -> None:
    # JSON can carry one ("\\ud800"); UTF-8, and so PostgreSQL, cannot: the rest of the text is kept.
    rejected = record("Reject")
    rejected["reject"]["reason"] = "Bad \udfff content"
    for found in (bounce("Transient", "General", "smtp; 451 \ud800 try later"), rejected):
        detail = read(json.loads(json.dumps(found))).detail or ""
        assert detail in ("Transient/General: smtp; 451 \ufffd try later", "Bad \ufffd content")
        detail.encode()  # storable


def test_the_senders_refusal_is_told_without_the_address() -> None:
    said = "MessageRejected: Email address is not verified. The following identities failed: Ana@Example.org"
    assert without_addresses(said, ("ana@example.org",)) == (
        "MessageRejected: Email address is not verified. The following identities failed: (the address)"
    )


def test_recipients_are_lower_cased_as_our_addresses_are_kept() -> None:
    found = record("Delivery")
    found["delivery"]["recipients"] = ["Ana@Example.ORG"]
    assert read(found).recipients == ("ana@example.org",)


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"ses:configuration-set": ["someone-elses-set"], "message": [MESSAGE_ID]}, "another configuration set"),
        ({"message": [MESSAGE_ID]}, "another configuration set"),
        (None, "another configuration set"),
    ],
    ids=["another-set", "no-set", "no-tags"],
)
def test_an_event_of_another_configuration_set_is_ignored(tags: dict[str, Any] | None, reason: str) -> None:
    found = record("Delivery")
    if tags is None:
        del found["mail"]["tags"]
    else:
        found["mail"]["tags"] = tags
    assert mail_event_of(eventbridge(found), configuration_set=CONFIGURATION_SET) == Ignored(reason)


def test_an_identitys_feedback_notification_carries_no_set_and_is_ignored() -> None:
    legacy = record("Bounce")
    legacy["notificationType"] = legacy.pop("eventType")
    del legacy["mail"]["tags"]
    assert isinstance(mail_event_of(legacy, configuration_set=CONFIGURATION_SET), Ignored)
    assert isinstance(mail_event_of(sns_notification(legacy), configuration_set=CONFIGURATION_SET), Ignored)


@pytest.mark.parametrize("tag", [["not-a-uuid"], [], "0f8e2a4c-3b1d-4e5f-9a6b-7c8d9e0f1a2b", None])
def test_a_message_tag_that_is_no_uuid_leaves_the_message_to_be_found_by_ses_id(tag: Any) -> None:
    found = record("Delivery")
    if tag is None:
        del found["mail"]["tags"]["message"]
    else:
        found["mail"]["tags"]["message"] = tag
    event = read(found)
    assert (event.message_id, event.ses_message_id) == (None, SES_MESSAGE_ID)


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    found = record("Bounce")
    target = found
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return found


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    found = record("Bounce")
    target = found
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return found


MALFORMED = {
    "not-an-object": ([1, 2], "is not an object"),
    "no-event-type": (_without(("eventType",)), "event type we do not read"),
    "unknown-event-type": (_with(("eventType",), "Open"), "event type we do not read"),
    "no-mail": (_without(("mail",)), "mail is not an object"),
    "no-message-id": (_without(("mail", "messageId")), "messageId is missing"),
    "message-id-with-nul": (_with(("mail", "messageId"), "0100\x00"), "messageId holds a control character"),
    "message-id-with-lone-surrogate": (_with(("mail", "messageId"), "0100\ud800"), "messageId holds a .* surrogate"),
    "recipient-with-lone-surrogate": (
        _with(("bounce", "bouncedRecipients"), [{"emailAddress": "ana\udc00@example.org"}]),
        "recipient holds a .* surrogate",
    ),
    "message-id-too-long": (_with(("mail", "messageId"), "x" * 201), "longer than SES's"),
    "no-bounce": (_without(("bounce",)), "bounce is not an object"),
    "no-bounce-type": (_without(("bounce", "bounceType")), "bounceType is missing"),
    "recipients-not-a-list": (_with(("bounce", "bouncedRecipients"), "recipient@example.com"), "not a list"),
    "recipient-not-text": (_with(("bounce", "bouncedRecipients"), [{"emailAddress": 7}]), "recipient is missing"),
    "time-without-offset": (_with(("bounce", "timestamp"), "2017-08-05T00:41:02"), "timestamp has no offset"),
    "time-not-a-time": (_with(("bounce", "timestamp"), "yesterday"), "Invalid isoformat"),
    "tags-not-an-object": (_with(("mail", "tags"), ["ses:configuration-set"]), "mail.tags is not an object"),
}


@pytest.mark.parametrize(("body", "message"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_record_is_a_value_error_in_every_shape(body: Any, message: str) -> None:
    shapes = [lambda found: found, sns_notification]
    if isinstance(body, dict) and body.get("eventType") in RECORDS:
        shapes.append(eventbridge)
    for shape in shapes:
        with pytest.raises(ValueError, match=message):
            mail_event_of(shape(copy.deepcopy(body)), configuration_set=CONFIGURATION_SET)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**eventbridge(record("Delivery")), "source": "aws.guardduty"}, "not an SES event"),
        ({**eventbridge(record("Delivery")), "detail-type": "Email Opened"}, "an SES event we do not read"),
        ({**eventbridge(record("Delivery")), "detail": "not an object"}, "detail is not an object"),
        ({"Type": "Notification", "Message": "not JSON"}, "Expecting value"),
        ({"Type": "Notification", "Message": json.dumps([1])}, "Message is not an object"),
        ({"Type": "Notification", "Message": 7}, "Message is not text"),
    ],
    ids=[
        "another-source",
        "an-event-we-do-not-read",
        "detail-not-an-object",
        "sns-message-not-json",
        "sns-message-not-an-object",
        "sns-message-not-text",
    ],
)
def test_an_envelope_we_cannot_read_is_a_value_error(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mail_event_of(body, configuration_set=CONFIGURATION_SET)


def test_events_in_utc_compare_with_the_databases_instants() -> None:
    assert read(record("Delivery")).at == datetime(2016, 10, 19, 23, 21, 4, 133000, tzinfo=UTC)
