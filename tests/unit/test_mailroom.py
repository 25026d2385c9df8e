"""The local mailroom speaks SES's delivery side exactly: SMTP to `smtplib` (as MiniStack relays),
SES's events in EventBridge's envelope that the product's own parser reads, the mailbox
simulator's outcomes, and the template's rule choosing which events are ours."""

from __future__ import annotations

import json
import smtplib
import threading
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from exam_depository.domain.mail_events import DETAIL_TYPES, Ignored, MailEvent, mail_event_of, new_state, suppresses
from samtranslator.yaml_helper import yaml_parse

from local_stack import mailroom
from local_stack.emulator import mail_events_pattern
from tests.conftest import ROOT

CONFIGURATION_SET = "exam-depository-local"
RECEIVED = datetime(2026, 12, 5, 14, 2, 7, 123000, tzinfo=UTC)


def _raw(to: str, *, configuration_set: str = CONFIGURATION_SET, message_id: uuid.UUID | None = None) -> bytes:
    """A message as the sender makes it and MiniStack relays it (its Message-ID first)."""
    message = EmailMessage()
    message["From"] = '"Exam Depository" <exams@exam-depository.test>'
    message["To"] = to
    message["Subject"] = "Prüfung Statistik: your upload link"
    message["X-SES-CONFIGURATION-SET"] = configuration_set
    message["X-SES-MESSAGE-TAGS"] = f"message={message_id or uuid.uuid4()}, kind=invitation"
    message.set_content("Hello Ana,\n.a line that starts with a dot\n")
    return b"Message-ID: <0100abc-def@email.amazonses.com>\r\n" + message.as_bytes(
        policy=message.policy.clone(linesep="\r\n")
    )


def _delivered(to: str, **kwargs: Any) -> mailroom.Delivered:
    return mailroom.Delivered("0100abc-def@email.amazonses.com", _raw(to, **kwargs), (to,), RECEIVED)


def _events(to: str, **kwargs: Any) -> list[MailEvent | Ignored]:
    events = mailroom.ses_events(_delivered(to, **kwargs), region="eu-west-1", account="000000000000", now=RECEIVED)
    return [mail_event_of(event, configuration_set=CONFIGURATION_SET) for event in events]


@pytest.mark.parametrize(
    ("address", "states"),
    [
        ("success@simulator.amazonses.com", ["sent", "delivered"]),
        ("ana@example.edu", ["sent", "delivered"]),
        ("bounce@simulator.amazonses.com", ["sent", "bounced"]),
        ("bounce+s07@simulator.amazonses.com", ["sent", "bounced"]),
        ("complaint@simulator.amazonses.com", ["sent", "delivered", "complained"]),
        ("suppressionlist@simulator.amazonses.com", ["sent", "bounced"]),
        ("ooto@simulator.amazonses.com", ["sent", "delivered"]),
    ],
)
def test_its_events_parse_as_the_product_parses_ses_s_and_follow_the_simulator(address: str, states: list[str]) -> None:
    ours = uuid.uuid4()
    events = _events(address, message_id=ours)
    assert all(isinstance(event, MailEvent) for event in events)
    parsed = [event for event in events if isinstance(event, MailEvent)]
    assert [new_state(event) for event in parsed] == states
    for event in parsed:
        assert event.message_id == ours
        assert event.ses_message_id == "0100abc-def@email.amazonses.com"
        assert event.recipients == (address,)
        assert event.at >= RECEIVED
    # A bounce from the simulator is permanent: the address is never mailed again, as on SES.
    suppressing = {suppresses(event) for event in parsed} - {None}
    assert suppressing == ({"bounce"} if "bounced" in states else {"complaint"} if "complained" in states else set())


def test_a_bounce_says_why_as_ses_does() -> None:
    (_, bounce) = _events("bounce@simulator.amazonses.com")
    assert isinstance(bounce, MailEvent)
    assert (bounce.bounce_type, bounce.bounce_sub_type) == ("Permanent", "General")
    assert "550 5.1.1 user unknown" in str(bounce.detail)
    (_, listed) = _events("suppressionlist@simulator.amazonses.com")
    assert isinstance(listed, MailEvent)
    assert listed.bounce_sub_type == "OnAccountSuppressionList"


def test_another_configuration_set_s_events_are_not_ours() -> None:
    events = _events("success@simulator.amazonses.com", configuration_set="another-stack")
    assert [type(event) for event in events] == [Ignored, Ignored]


def test_its_envelope_is_eventbridge_s() -> None:
    (send, delivery) = mailroom.ses_events(
        _delivered("success@simulator.amazonses.com"), region="eu-west-1", account="000000000000", now=RECEIVED
    )
    assert (send["source"], send["detail-type"], delivery["detail-type"]) == (
        "aws.ses",
        "Email Sent",
        "Email Delivered",
    )
    assert send["time"] == "2026-12-05T14:02:07Z"
    assert send["detail"]["mail"]["timestamp"] == "2026-12-05T14:02:07.123Z"
    assert send["detail"]["mail"]["tags"]["kind"] == ["invitation"]
    assert send["detail"]["mail"]["tags"]["ses:configuration-set"] == [CONFIGURATION_SET]
    assert send["detail"]["mail"]["commonHeaders"]["subject"] == "Prüfung Statistik: your upload link"
    assert send["id"] != delivery["id"]


@pytest.fixture
def mailbox(tmp_path: Path) -> Any:
    received: list[mailroom.Delivered] = []
    server = mailroom.Mailbox(tmp_path / "mailbox", received.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, received
    server.shutdown()
    server.server_close()


def test_its_mailbox_speaks_smtp_to_smtplib_and_keeps_what_a_recipient_gets(mailbox: Any) -> None:
    server, received = mailbox
    raw = _raw("ana@example.edu")
    # As MiniStack relays: sendmail with the message as text and SES's envelope sender.
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        refused = smtp.sendmail('"Exam Depository" <exams@exam-depository.test>', ["ana@example.edu"], raw.decode())
    assert refused == {}
    (delivered,) = received
    assert delivered.raw == raw  # byte for byte, the dot-stuffed line unstuffed
    assert delivered.recipients == ("ana@example.edu",)
    assert delivered.ses_message_id == "0100abc-def@email.amazonses.com"
    stored = (server.folder / "1.eml").read_bytes()
    assert b"X-SES-" not in stored.upper()
    assert stored.replace(b"\r\n", b"\n").endswith(b"\n.a line that starts with a dot\n")
    facts = json.loads((server.folder / "1.json").read_text())
    assert facts["tags"]["kind"] == ["invitation"]
    assert facts["configuration_set"] == CONFIGURATION_SET
    assert facts["recipients"] == ["ana@example.edu"]


def test_its_mailbox_refuses_data_before_an_envelope_and_counts_on_after_a_restart(
    mailbox: Any, tmp_path: Path
) -> None:
    server, received = mailbox
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.docmd("DATA")[0] == 503
        assert smtp.docmd("RCPT", "TO:<ana@example.edu>")[0] == 503
        assert smtp.docmd("NOOP")[0] == 250
        assert smtp.docmd("VRFY", "ana")[0] == 502
        smtp.sendmail("exams@exam-depository.test", ["ana@example.edu"], _raw("ana@example.edu"))
    again = mailroom.Mailbox(tmp_path / "mailbox", received.append)
    try:
        assert again.keep("exams@exam-depository.test", ("ben@example.edu",), _raw("ben@example.edu")).recipients
    finally:
        again.server_close()
    assert sorted(path.name for path in server.folder.glob("*.eml")) == ["1.eml", "2.eml"]


def test_without_ses_headers_drops_their_folded_lines_only() -> None:
    raw = (
        b"To: a@b.cd\r\nX-SES-MESSAGE-TAGS: message=1,\r\n kind=receipt\r\nSubject: x\r\n y\r\n\r\nX-SES-Body: kept\r\n"
    )
    assert mailroom.without_ses_headers(raw) == b"To: a@b.cd\r\nSubject: x\r\n y\r\n\r\nX-SES-Body: kept\r\n"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text()))


def test_the_template_s_rule_matches_what_the_mailroom_publishes_by_the_set_it_names(template: dict[str, Any]) -> None:
    """The routing is EventBridge's by the rule's pattern (scanner.deliver asks the emulator's
    TestEventPattern; the e2e tests see the events arrive): here, that the pattern asks for what
    the mailroom's events carry, where they carry it, and for every event type the product reads."""
    pattern = mail_events_pattern(template, CONFIGURATION_SET)
    (event, *_) = mailroom.ses_events(
        _delivered("complaint@simulator.amazonses.com"), region="eu-west-1", account="123456789012", now=RECEIVED
    )
    assert pattern["source"] == [event["source"]]
    assert set(pattern["detail-type"]) == set(DETAIL_TYPES)
    assert set(mailroom.DETAIL_TYPES.values()) < set(pattern["detail-type"])
    assert pattern["detail"] == {"mail": {"tags": {"ses:configuration-set": [CONFIGURATION_SET]}}}
    assert event["detail"]["mail"]["tags"]["ses:configuration-set"] == [CONFIGURATION_SET]
    # The template names the set from its parameters; the local stack substitutes its own.
    rule = template["Resources"]["MailEventsRule"]["Properties"]["EventPattern"]
    assert rule["detail"]["mail"]["tags"]["ses:configuration-set"] == [
        {"Fn::If": ["NamedConfigurationSet", {"Ref": "ConfigurationSetName"}, {"Ref": "AWS::StackName"}]}
    ]
