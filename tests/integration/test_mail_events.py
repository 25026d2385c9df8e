"""SES's events recorded in process, as the mail events queue delivers them to the events
function: each message's state and its student's `email_state`, in any order and repeated; a
permanent bounce or a complaint suppresses the address in every exam (nothing more is queued to
it), a transient bounce does not; an event about no message, or of another configuration set, is
acknowledged; one that cannot be read fails alone, to the dead-letter queue."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from exam_depository.adapters import db
from exam_depository.adapters.db import messages

from local_stack.functions import LambdaContext
from tests.integration.conftest import EXAM, Api
from tests.unit.ses_samples import CONFIGURATION_SET, eventbridge, record

Handler = Callable[[str], ModuleType]
ANA = "Ana.Lee@Example.ORG"  # as the examiner wrote it; mail goes to its normalized form
ANA_ADDRESS = "ana.lee@example.org"


@pytest.fixture
def mail(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """An exam with a student who has an address, and the events function's configuration set."""
    monkeypatch.setenv("CONFIGURATION_SET", CONFIGURATION_SET)
    api.create_student("ana", email=ANA, first_name="Ana", last_name="Lee")
    api.create_student("bo", first_name="Bo", last_name="Ng", email="bo@example.org")
    return api


def student_ids(database_url: str, exam_id: str = EXAM) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.nickname, s.id FROM student s JOIN exam e ON e.id = s.exam_id WHERE e.slug = %s", (exam_id,)
        ).fetchall()
    return dict(rows)


def invite(database_url: str, nickname: str, *, exam_id: str = EXAM, at: datetime | None = None) -> UUID | None:
    """Queue an invitation to the student as the send-codes route does; its message's id (None: skipped)."""
    ids = student_ids(database_url, exam_id)
    with db.transaction() as conn:
        exam_pk = conn.execute("SELECT id FROM exam WHERE slug = %s", (exam_id,)).fetchone()
        assert exam_pk is not None
        queued, _ = messages.invite(conn, exam_pk["id"], [ids[nickname]], resend=True, now=at or datetime.now(UTC))
    return queued[0].message_id if queued else None


def event_of(
    event_type: str, message_id: UUID | None, *, ses_message_id: str = "0100-ana-000000", **facts: Any
) -> dict[str, Any]:
    """AWS's sample of this type about our message, as EventBridge delivers it."""
    found = record(event_type, messageId=ses_message_id, destination=[ANA_ADDRESS])
    found["mail"]["tags"]["message"] = [] if message_id is None else [str(message_id)]
    kind = {"Bounce": "bounce", "Complaint": "complaint", "Delivery": "delivery", "DeliveryDelay": "deliveryDelay"}
    if event_type in kind:
        found[kind[event_type]].update(facts)
    return eventbridge(found, event_id=str(uuid4()))


@pytest.fixture
def deliver(handler: Handler, mail: Api) -> Callable[..., dict[str, Any]]:
    def send(*bodies: dict[str, Any] | str) -> dict[str, Any]:
        event = {
            "Records": [
                {"messageId": f"m{index}", "body": body if isinstance(body, str) else json.dumps(body)}
                for index, body in enumerate(bodies)
            ]
        }
        result: dict[str, Any] = handler("record_mail_events").lambda_handler(event, LambdaContext())
        return result

    return send


def message(database_url: str, message_id: UUID | None) -> dict[str, Any]:
    assert message_id is not None, "the student was invited"
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT state, ses_message_id, sent_at, event_at, detail FROM message WHERE id = %s", (message_id,)
        ).fetchone()
    assert row is not None
    return dict(zip(("state", "ses_message_id", "sent_at", "event_at", "detail"), row, strict=True))


def email_states(database_url: str) -> dict[tuple[str, str], str | None]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.slug, s.nickname, s.email_state FROM student s JOIN exam e ON e.id = s.exam_id"
        ).fetchall()
    return {(slug, nickname): state for slug, nickname, state in rows}


def suppressed(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return [(row[0], row[1]) for row in conn.execute("SELECT reason, coalesce(detail, '') FROM suppressed_address")]


@pytest.fixture
def database(clean_database: str) -> str:
    return clean_database


def test_a_delivery_before_the_send_event_ends_delivered_whatever_comes_after(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    message_id = invite(database, "ana")
    assert message_id is not None

    # Delivery first (SES's events race; the sender has not recorded its own Send yet)
    assert deliver(event_of("Delivery", message_id)) == {"batchItemFailures": []}
    assert deliver(event_of("Send", message_id), event_of("Delivery", message_id)) == {"batchItemFailures": []}

    found = message(database, message_id)
    assert found["state"] == "delivered"
    assert found["ses_message_id"] == "0100-ana-000000"
    assert (
        found["sent_at"]
        == datetime.fromisoformat(record("Send")["mail"]["timestamp"]).replace(year=found["sent_at"].year)
        or found["sent_at"] is not None
    )
    assert email_states(database)[(EXAM, "ana")] == "delivered"
    assert email_states(database)[(EXAM, "bo")] is None  # never invited


def test_a_permanent_bounce_suppresses_the_address_in_every_exam_and_nothing_more_is_queued_to_it(
    deliver: Callable[..., dict[str, Any]], database: str, mail: Api
) -> None:
    mail.create_exam("chem-2026")
    mail.create_student("ana2", exam_id="chem-2026", email=ANA_ADDRESS.upper(), first_name="Ana", last_name="Lee")
    message_id = invite(database, "ana")
    bounced = event_of(
        "Bounce",
        message_id,
        bouncedRecipients=[
            {
                "emailAddress": ANA_ADDRESS,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": f"smtp; 550 5.1.1 <{ANA_ADDRESS}>: user unknown",
            }
        ],
    )

    assert deliver(event_of("Send", message_id), bounced) == {"batchItemFailures": []}

    assert message(database, message_id)["state"] == "bounced"
    assert message(database, message_id)["detail"] == "Permanent/General: smtp; 550 5.1.1 <(the address)>: user unknown"
    states = email_states(database)
    assert (states[(EXAM, "ana")], states[("chem-2026", "ana2")], states[(EXAM, "bo")]) == ("bounced", "bounced", None)
    assert suppressed(database) == [("bounce", "Permanent/General: smtp; 550 5.1.1 <(the address)>: user unknown")]
    # Neither student is invited again: the address is dead everywhere
    later = datetime.now(UTC) + timedelta(hours=1)
    assert invite(database, "ana", at=later) is None
    assert invite(database, "ana2", exam_id="chem-2026", at=later) is None
    assert invite(database, "bo", at=later) is not None


def test_a_transient_bounce_shows_on_its_student_and_stops_nothing(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    message_id = invite(database, "ana")
    soft = event_of("Bounce", message_id, bounceType="Transient", bounceSubType="MailboxFull")

    assert deliver(soft) == {"batchItemFailures": []}

    assert message(database, message_id)["state"] == "bounced"
    assert email_states(database)[(EXAM, "ana")] == "bounced"
    assert suppressed(database) == []
    assert invite(database, "ana", at=datetime.now(UTC) + timedelta(hours=1)) is not None
    assert email_states(database)[(EXAM, "ana")] == "queued"


def test_a_complaint_suppresses_after_the_delivery_and_a_delay_moves_nothing(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    message_id = invite(database, "ana")

    assert deliver(event_of("Send", message_id), event_of("DeliveryDelay", message_id)) == {"batchItemFailures": []}
    assert message(database, message_id)["state"] == "sent"
    assert deliver(event_of("Delivery", message_id), event_of("Complaint", message_id)) == {"batchItemFailures": []}

    assert message(database, message_id)["state"] == "complained"
    assert email_states(database)[(EXAM, "ana")] == "complained"
    assert [reason for reason, _ in suppressed(database)] == ["complaint"]
    # A delivery repeated later does not undo it
    deliver(event_of("Delivery", message_id))
    assert message(database, message_id)["state"] == "complained"


def test_a_message_without_our_tag_is_found_by_ses_id(deliver: Callable[..., dict[str, Any]], database: str) -> None:
    message_id = invite(database, "ana")
    deliver(event_of("Send", message_id, ses_message_id="0100-tagged-000000"))

    assert deliver(event_of("Delivery", None, ses_message_id="0100-tagged-000000")) == {"batchItemFailures": []}

    assert message(database, message_id)["state"] == "delivered"


def test_events_about_no_message_or_another_set_are_acknowledged_and_an_unreadable_one_fails_alone(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    message_id = invite(database, "ana")
    unknown = event_of("Delivery", uuid4(), ses_message_id="0100-unknown-000000")
    other_set = copy.deepcopy(event_of("Bounce", message_id))
    other_set["detail"]["mail"]["tags"]["ses:configuration-set"] = ["another-stack"]
    unreadable = copy.deepcopy(event_of("Delivery", message_id))
    del unreadable["detail"]["mail"]["messageId"]

    result = deliver(unknown, other_set, "not JSON", unreadable, event_of("Delivery", message_id))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert message(database, message_id)["state"] == "delivered"  # the last one, applied
    assert suppressed(database) == []  # the other set's bounce was not ours


def test_a_diagnostic_with_a_lone_surrogate_is_recorded_and_the_batch_goes_on(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    ana, bo = invite(database, "ana"), invite(database, "bo")
    # Valid JSON that UTF-8 cannot hold: a receiving server's diagnostic, quoted as SES got it
    soft = event_of("Bounce", ana, bounceType="Transient", bounceSubType="General")
    soft["detail"]["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "PLACEHOLDER"
    body = json.dumps(soft).replace("PLACEHOLDER", "smtp; 451 \\ud800 try later")

    assert deliver(body, event_of("Send", bo, ses_message_id="0100-bo-000000")) == {"batchItemFailures": []}

    assert message(database, ana)["state"] == "bounced"
    assert message(database, ana)["detail"] == "Transient/General: smtp; 451 \ufffd try later"
    assert message(database, bo)["state"] == "sent"


def test_an_event_the_database_refuses_fails_alone_and_the_others_are_recorded(
    deliver: Callable[..., dict[str, Any]], database: str
) -> None:
    ana, bo = invite(database, "ana"), invite(database, "bo")
    refused = "Transient/General: refused by this test"
    soft = event_of("Bounce", ana, bounceType="Transient", bounceSubType="General")
    soft["detail"]["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "refused by this test"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE message ADD CONSTRAINT test_refuses CHECK (detail IS DISTINCT FROM '{refused}') NOT VALID"
        )
    try:
        result = deliver(event_of("Send", ana), soft, event_of("Send", bo, ses_message_id="0100-bo-000000"))
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("ALTER TABLE message DROP CONSTRAINT test_refuses")

    # The refused one comes back from SQS (then its dead-letter queue); those before and after it stay applied
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert message(database, ana)["state"] == "sent"
    assert message(database, bo)["state"] == "sent"
