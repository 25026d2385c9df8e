"""The sender against PostgreSQL, moto's SQS and moto's SES (v1 SendRawEmail), in-process.

SQS's side is played as Lambda's poller plays it: a batch received from the mail queue is handed
to the function, the messages it did not report as failed are deleted, the failed ones stay with
the visibility the function gave them. A crash is a `Killed` (a BaseException, which nothing in the
function catches) raised at the exact step, followed by what a real death leaves: the connection
gone, the batch delivered again, SES's events, the sweep. SES's answers that moto never gives
(throttling, the day's quota) come from a botocore Stubber on the sender's own client.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import Parser
from email.policy import default
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.stub import Stubber
from exam_depository import config
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import db, mail, queues
from exam_depository.domain import codes
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.mail_events import MailEvent, mail_event_of
from exam_depository.usecases import sending
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import SESBackend, ses_backends
from moto.sqs.models import sqs_backends

from local_stack.delivery import poller_event
from local_stack.functions import LambdaContext, sample_event
from tests.faults import closed_port, printed_metric
from tests.files import pdf_with_text, windows_program
from tests.integration.conftest import EXAM, REGION, Api, Bucket

SENDER = "exams@exam-depository.test"
CONFIGURATION_SET = "exam-depository-test"
UPLOAD_PAGE = "https://exams.example/v1/"
VERIFY_PAGE = "https://exams.example/v1/verify"
MAIL_QUEUE = "mail"
QUEUE_VISIBILITY_S = 360


class Killed(BaseException):
    """The sender's process dies at this point (nothing after it runs, nothing catches it)."""


@dataclass
class Outbox:
    """The mail queue as Lambda's poller uses it, SES as moto keeps what it accepted, and the
    ledger's rows."""

    handler: ModuleType
    database_url: str
    queue_url: str

    def receive(self) -> dict[str, Any]:
        """The next batch of the mail queue (up to 10 messages), as the function's event."""
        answer = boto3.client("sqs", region_name=REGION).receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        return poller_event(
            answer.get("Messages", []),
            queue_arn=f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:{MAIL_QUEUE}",
            region=REGION,
        )

    def deliver(self, event: dict[str, Any]) -> list[str]:
        """Invoke the function with a batch and delete what it did not fail; the failed ids."""
        result = self.handler.lambda_handler(event, LambdaContext())
        failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
        sqs = boto3.client("sqs", region_name=REGION)
        for record in event["Records"]:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        return failed

    def sweep(self, **event: Any) -> dict[str, Any]:
        return dict(self.handler.lambda_handler({"sweep": True, **event}, LambdaContext()))

    def sent(self) -> list[EmailMessage]:
        """What SES accepted, parsed as a mail program would."""
        return [
            Parser(policy=default).parsestr(raw.raw_data)
            for raw in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        ]

    def ses_ids(self) -> list[str]:
        return [raw.id for raw in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages]

    def visible_in_s(self) -> list[float]:
        """For each message of ours in the mail queue, the seconds until SQS delivers it again."""
        now_ms = time.time() * 1000
        return sorted((message.visible_at - now_ms) / 1000 for message in self._queued(sweep_requests=False))

    def sweep_requests_in_s(self) -> list[float]:
        """For each sweep request in the mail queue, the seconds until SQS delivers it."""
        now_ms = time.time() * 1000
        return sorted((message.delayed_until - now_ms) / 1000 for message in self._queued(sweep_requests=True))

    def sweep_requests_fall_due(self) -> None:
        """The sweep requests' delay is over (SQS delivers them from now)."""
        for message in self._queued(sweep_requests=True):
            message.delayed_until = 0.0

    def _queued(self, *, sweep_requests: bool) -> list[Any]:
        queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[MAIL_QUEUE]
        return [m for m in queue._messages if (json.loads(m.body) == {"sweep": True}) == sweep_requests]

    def rows(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=psycopg.rows.dict_row) as conn:
            return conn.execute(
                """SELECT m.id, m.state, m.attempts, m.ses_message_id, m.detail, m.address, m.claimed_at,
                          m.enqueued_at, m.sent_at, s.nickname, s.upload_code, s.email_state
                     FROM message m JOIN student s ON s.id = m.student_id ORDER BY s.nickname, m.queued_at"""
            ).fetchall()

    def sql(self, statement: str, params: Any = None) -> None:
        with psycopg.connect(self.database_url) as conn:
            conn.execute(statement, params)


def tag_of(message: EmailMessage) -> str:
    tags = dict(pair.strip().split("=") for pair in str(message["X-SES-MESSAGE-TAGS"]).split(","))
    return tags["message"]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.fixture
def outbox(
    aws: None, clean_database: str, monkeypatch: pytest.MonkeyPatch, handler: Callable[[str], ModuleType]
) -> Iterator[Outbox]:
    """Mail on: a verified sending domain, the mail queue, the sender's settings; the account's
    rate raised from moto's 1 a second to 50 (as a production account may have it), so that the
    tests' own SENDING_RATE_PER_SECOND decides; the shared pace starting now."""
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(
        QueueName=MAIL_QUEUE, Attributes={"VisibilityTimeout": str(QUEUE_VISIBILITY_S)}
    )["QueueUrl"]
    boto3.client("ses", region_name=REGION).verify_domain_identity(Domain=SENDER.split("@")[1])
    moto_quota = SESBackend.get_send_quota

    def production_quota(backend: SESBackend) -> Any:
        quota = moto_quota(backend)
        quota.max_send_rate = 50
        return quota

    monkeypatch.setattr(SESBackend, "get_send_quota", production_quota)
    for name, value in {
        "SENDER_ADDRESS": SENDER,
        "SENDER_NAME": "Exam Depository",
        "CONFIGURATION_SET": CONFIGURATION_SET,
        "SENDING_RATE_PER_SECOND": "50",
        "UPLOAD_PAGE_URL": UPLOAD_PAGE,
        "VERIFY_PAGE_URL": VERIFY_PAGE,
        "MAIL_QUEUE_URL": queue_url,
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    mail.reset()
    new_environment()
    outbox = Outbox(handler("send_messages"), clean_database, queue_url)
    outbox.sql("UPDATE mail_pace SET next_at = now()")
    yield outbox
    outbox.sql("UPDATE mail_pace SET next_at = now()")  # a test's future slots wait for no other test
    mail.reset()


def new_environment() -> None:
    """What follows runs in a new Lambda environment: none of the sweep requests this process
    sent is remembered."""
    queues._sweep_due_at = None


def students_with_addresses(api: Api, count: int, *, without: int = 0) -> dict[str, str]:
    """`count` students with an address of their own (unique to the test: suppression is
    per deployment) and `without` students without one: nickname -> address."""
    run = uuid.uuid4().hex[:8]
    addresses = {f"s{index:02d}": f"s{index:02d}.{run}@example.org" for index in range(count)}
    for nickname, address in addresses.items():
        api.create_student(nickname, email=address)
    for index in range(without):
        api.create_student(f"n{index:02d}")
    return addresses


def send_codes(api: Api, **body: Any) -> dict[str, Any]:
    response = api.call("student_mail", "send_codes", body=body)
    assert response.status == 202, response.body
    return dict(response.body)


def send_event(outbox: Outbox, message_id: str, ses_message_id: str, address: str) -> MailEvent:
    """SES's Send event for one of our messages, as EventBridge delivers it."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Email Sent",
        "source": "aws.ses",
        "account": DEFAULT_ACCOUNT_ID,
        "time": now[:19] + "Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventType": "Send",
            "mail": {
                "timestamp": now,
                "source": f"Exam Depository <{SENDER}>",
                "sendingAccountId": DEFAULT_ACCOUNT_ID,
                "messageId": ses_message_id,
                "destination": [address],
                "tags": {"ses:configuration-set": [CONFIGURATION_SET], "message": [message_id], "kind": ["invitation"]},
            },
            "send": {},
        },
    }
    event = mail_event_of(json.loads(json.dumps(body)), configuration_set=CONFIGURATION_SET)
    assert isinstance(event, MailEvent)
    with db.transaction() as conn:
        db.messages.apply_event(conn, event)
    return event


def an_hour_passes(outbox: Outbox) -> None:
    """Every message's times move an hour into the past: the sweep's grace is over."""
    outbox.sql(
        """UPDATE message SET queued_at = queued_at - interval '1 hour', enqueued_at = enqueued_at - interval '1 hour',
                              claimed_at = claimed_at - interval '1 hour', sent_at = sent_at - interval '1 hour'"""
    )


# --- the usual path ---------------------------------------------------------------------------


def test_each_invitation_goes_once_to_its_student_and_a_redelivered_batch_sends_nothing(
    api: Api, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    addresses = students_with_addresses(api, 3, without=1)
    assert send_codes(api)["queued"] == 3
    batch = outbox.receive()
    assert len(batch["Records"]) == 3

    assert outbox.deliver(batch) == []

    sent = outbox.sent()
    rows = outbox.rows()
    assert sorted(str(message["To"]) for message in sent) == sorted(addresses.values())
    assert sorted(tag_of(message) for message in sent) == sorted(str(row["id"]) for row in rows)
    for row in rows:
        (message,) = [message for message in sent if tag_of(message) == str(row["id"])]
        assert str(message["To"]) == addresses[row["nickname"]]
        assert f"{UPLOAD_PAGE}#code={codes.display(row['upload_code'])}" in text_of(message).splitlines()
        assert row["upload_code"] not in str(message["Subject"])
        assert message["X-SES-CONFIGURATION-SET"] == CONFIGURATION_SET
        assert (row["state"], row["attempts"], row["email_state"]) == ("sent", 1, "sent")
    assert sorted(row["ses_message_id"] for row in rows) == sorted(outbox.ses_ids())
    assert printed_metric(capsys.readouterr().out, "MailSent") == 3

    # SQS delivers the same batch again (at least once): every message is settled, nothing is sent.
    assert outbox.deliver(batch) == []
    assert len(outbox.sent()) == 3
    assert [row["attempts"] for row in outbox.rows()] == [1, 1, 1]


def test_two_environments_given_the_same_batch_at_once_send_each_message_once(api: Api, outbox: Outbox) -> None:
    students_with_addresses(api, 6)
    send_codes(api)
    batch = outbox.receive()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def environment() -> None:
        try:
            start.wait()
            outbox.handler.lambda_handler(batch, LambdaContext())
        except BaseException as error:  # reported below, on the test's thread
            failures.append(error)

    threads = [threading.Thread(target=environment) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    tags = [tag_of(message) for message in outbox.sent()]
    assert len(tags) == 6
    assert len(set(tags)) == 6
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 1)}


def test_every_sender_takes_its_slots_from_one_pace(outbox: Outbox) -> None:
    firsts: list[datetime] = []

    def environment() -> None:
        with db.statement() as conn:
            firsts.append(db.sending.slots(conn, 10, 0.5))  # 20 s of slots

    threads = [threading.Thread(target=environment) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # The second environment's slots begin where the first's end, whichever came first.
    assert abs(firsts[1] - firsts[0]) == timedelta(seconds=20)


def test_ten_messages_at_five_a_second_from_two_environments_take_at_least_1_8_seconds(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDING_RATE_PER_SECOND", "5")
    config.reset()
    students_with_addresses(api, 10)
    send_codes(api)
    ids = [row["id"] for row in outbox.rows()]
    from exam_depository.usecases import sending

    started = datetime.now(UTC)
    threads = [threading.Thread(target=sending.send_batch, args=(half,)) for half in (ids[:5], ids[5:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    rows = outbox.rows()
    assert len(outbox.sent()) == 10
    assert {row["state"] for row in rows} == {"sent"}
    # Ten slots at 5 a second: the last is 9/5 s after the first, which is no earlier than the start.
    assert max(row["sent_at"] for row in rows) - started >= timedelta(seconds=1.8)


# --- SES's answers ----------------------------------------------------------------------------

QUOTA = {"Max24HourSend": 50000.0, "MaxSendRate": 50.0, "SentLast24Hours": 0.0}


def stubbed_ses() -> Stubber:
    """The sender's own SES client, answering what the test adds (moto never throttles)."""
    stubber = Stubber(mail.client(REGION))
    stubber.add_response("get_send_quota", QUOTA)
    return stubber


def test_a_message_throttled_twice_is_sent_at_the_third_call(
    api: Api, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    for _ in range(2):
        stubber.add_client_error("send_raw_email", "Throttling", "Maximum sending rate exceeded.", 400)
    stubber.add_response(
        "send_raw_email", {"MessageId": "0100018c2f7e1a2b-3c4d5e6f-0000-0000-0000-000000000000-000000"}
    )

    with stubber:
        assert outbox.deliver(batch) == []
        stubber.assert_no_pending_responses()

    (row,) = outbox.rows()
    assert (row["state"], row["attempts"]) == ("sent", 1)
    assert row["ses_message_id"] == "0100018c2f7e1a2b-3c4d5e6f-0000-0000-0000-000000000000-000000"
    printed = capsys.readouterr().out
    assert printed_metric(printed, "MailThrottled") == 2
    assert printed_metric(printed, "MailSent") == 1


def test_a_rate_throttled_three_times_gives_the_batch_back_soon(api: Api, outbox: Outbox) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    for _ in range(3):
        stubber.add_client_error("send_raw_email", "Throttling", "Maximum sending rate exceeded.", 400)

    with stubber:
        failed = outbox.deliver(batch)

    assert sorted(failed) == sorted(record["messageId"] for record in batch["Records"])
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("queued", 0)}
    assert all(25 < seconds <= 30 for seconds in outbox.visible_in_s())


def test_the_days_quota_gives_the_batch_back_for_fifteen_minutes(
    api: Api, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    students_with_addresses(api, 3)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    stubber.add_client_error("send_raw_email", "Throttling", "Daily message quota exceeded.", 400)

    with stubber:
        failed = outbox.deliver(batch)

    assert sorted(failed) == sorted(record["messageId"] for record in batch["Records"])
    rows = outbox.rows()
    assert {(row["state"], row["attempts"], row["email_state"]) for row in rows} == {("queued", 0, "queued")}
    assert {row["detail"] for row in rows} == {"SES's daily quota is reached; queued again"}
    visible = outbox.visible_in_s()
    assert len(visible) == 3
    assert all(890 < seconds <= 900 for seconds in visible)
    assert printed_metric(capsys.readouterr().out, "MailDailyQuotaReached") == 1
    # What SES's day released is sent when the messages come back.
    outbox.sql("UPDATE message SET enqueued_at = NULL")
    outbox.sweep(grace_s=5)
    assert outbox.deliver(outbox.receive()) == []
    assert len(outbox.sent()) == 3


def test_a_message_ses_refuses_is_failed_and_the_rest_of_the_batch_is_sent(api: Api, outbox: Outbox) -> None:
    students_with_addresses(api, 3)
    send_codes(api)
    # An address SES cannot take (moto refuses it as SES does: InvalidParameterValue).
    outbox.sql("UPDATE message SET address = 'no-at-sign' WHERE student_id = (SELECT min(student_id) FROM message)")
    batch = outbox.receive()

    assert outbox.deliver(batch) == []

    first, *others = outbox.rows()
    assert (first["state"], first["email_state"]) == ("failed", "failed")
    assert first["detail"].startswith("SES refused it: InvalidParameterValue")
    assert {row["state"] for row in others} == {"sent"}
    assert len(outbox.sent()) == 2


def test_ses_out_of_reach_gives_the_batch_back_in_a_minute(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    mail.send_quota()  # known from a minute ago
    # Then nothing answers where SES is (a real refused connection, not a stub).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SES", f"http://127.0.0.1:{closed_port()}")
    aws_clients.reset()

    failed = outbox.deliver(batch)

    assert len(failed) == 2
    rows = outbox.rows()
    assert {(row["state"], row["attempts"]) for row in rows} == {("queued", 0)}
    assert all(row["detail"].startswith("SES was unavailable") for row in rows)
    assert all(55 < seconds <= 60 for seconds in outbox.visible_in_s())
    assert printed_metric(capsys.readouterr().out, "MailUnavailable") == 1
    assert outbox.sent() == []


class AnswerLost:
    """The sender's SES client, whose first SendRawEmail SES (moto) accepts and whose answer is
    lost on the way back, as botocore reports it."""

    def __init__(self, client: Any, lost: Exception) -> None:
        self._client = client
        self._lost: Exception | None = lost

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_raw_email(self, **kwargs: Any) -> Any:
        answer = self._client.send_raw_email(**kwargs)
        lost, self._lost = self._lost, None
        if lost is not None:
            raise lost
        return answer


ENDPOINT = f"https://email.{REGION}.amazonaws.com/"


@pytest.mark.parametrize(
    "lost",
    [ReadTimeoutError(endpoint_url=ENDPOINT), ConnectionClosedError(endpoint_url=ENDPOINT)],
    ids=["read-timeout", "connection-closed"],
)
def test_an_answer_lost_after_ses_accepted_is_settled_by_the_send_event_and_never_resent(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lost: Exception
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    real_client = mail.client
    wrapped = AnswerLost(real_client(REGION), lost)
    monkeypatch.setattr(mail, "client", lambda region: wrapped)

    failed = outbox.deliver(batch)

    # SES took the first message; its answer never came: it stays claimed, its SQS message acknowledged
    (accepted,) = outbox.sent()
    by_id = {str(row["id"]): row for row in outbox.rows()}
    first = by_id.pop(tag_of(accepted))
    (second,) = by_id.values()
    assert (first["state"], first["attempts"], first["ses_message_id"]) == ("sending", 1, None)
    assert first["detail"].startswith("no answer from SES")
    # The rest of the batch is given back, to come back in a minute
    assert (second["state"], second["attempts"]) == ("queued", 0)
    assert failed == [record["messageId"] for record in batch["Records"] if str(second["id"]) in record["body"]]
    (seconds,) = outbox.visible_in_s()
    assert 55 < seconds <= 60
    printed = capsys.readouterr().out
    assert printed_metric(printed, "MailUnanswered") == 1

    # SQS delivers the whole batch again: the unanswered message is not sent again, the other is
    assert outbox.deliver(batch) == []
    assert sorted(tag_of(message) for message in outbox.sent()) == sorted([tag_of(accepted), str(second["id"])])
    # SES's Send event names it by our tag: sent; the sweep, after its grace, has nothing to send
    (ses_message_id, _) = outbox.ses_ids()
    send_event(outbox, tag_of(accepted), ses_message_id, str(accepted["To"]))
    an_hour_passes(outbox)
    assert outbox.sweep()["enqueued"] == 0
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 1)}
    assert len(outbox.sent()) == 2


def test_a_5xx_from_ses_leaves_the_message_to_the_sweep_which_sends_it_once_after_its_grace(
    api: Api, outbox: Outbox
) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    stubber.add_client_error("send_raw_email", "InternalFailure", "An internal error occurred.", 500)

    with stubber:
        assert outbox.deliver(batch) == []  # acknowledged: SES may have it

    (row,) = outbox.rows()
    assert (row["state"], row["attempts"], row["ses_message_id"]) == ("sending", 1, None)
    assert outbox.deliver(batch) == []
    assert outbox.sweep()["enqueued"] == 0  # within the grace its Send event could still come
    # None came (SES had not taken it): after the grace the sweep hands it over, and it is sent once
    an_hour_passes(outbox)
    assert outbox.sweep()["enqueued"] == 1
    assert outbox.deliver(outbox.receive()) == []
    assert len(outbox.sent()) == 1
    (row,) = outbox.rows()
    assert (row["state"], row["attempts"]) == ("sent", 2)


def test_a_refusal_quoting_the_address_is_stored_without_it(api: Api, outbox: Outbox) -> None:
    addresses = students_with_addresses(api, 1)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    said = (
        "Email address is not verified. The following identities failed the check in region EU-WEST-1:"
        f" {addresses['s00'].upper()}"
    )
    stubber.add_client_error("send_raw_email", "MessageRejected", said, 400)

    with stubber:
        assert outbox.deliver(batch) == []

    (row,) = outbox.rows()
    assert row["state"] == "failed"
    assert row["detail"] == (
        "SES refused it: MessageRejected: Email address is not verified. The following identities failed the"
        " check in region EU-WEST-1: (the address)"
    )


def test_an_address_suppressed_after_queueing_is_skipped(api: Api, outbox: Outbox) -> None:
    addresses = students_with_addresses(api, 2)
    send_codes(api)
    outbox.sql(
        "INSERT INTO suppressed_address (address_sha256, reason, since) VALUES (%s, 'bounce', now())",
        (db.suppressions.address_key(addresses["s00"]),),
    )

    assert outbox.deliver(outbox.receive()) == []

    skipped, sent = outbox.rows()
    assert (skipped["state"], skipped["detail"], skipped["attempts"]) == ("skipped", "suppressed", 0)
    assert sent["state"] == "sent"
    assert [str(message["To"]) for message in outbox.sent()] == [addresses["s01"]]


# --- receipts ---------------------------------------------------------------------------------


def test_a_receipt_states_the_submission_and_carries_its_signed_receipt(
    api: Api, outbox: Outbox, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    student = api.create_student("mobrien", email=f"mobrien.{uuid.uuid4().hex[:8]}@example.org")
    content = pdf_with_text()
    form = api.request_upload(student["upload_code"], filename="answers.pdf").body
    bucket.upload(form, content)
    record(bucket.notification(form["fields"]["key"], len(content)))

    assert outbox.deliver(outbox.receive()) == []

    (message,) = outbox.sent()
    with psycopg.connect(outbox.database_url) as conn:
        receipt, verification_code, sha256 = conn.execute(
            "SELECT receipt, verification_code, sha256 FROM submission"
        ).fetchone() or ("", "", "")
    shown = codes.display(verification_code)
    assert message["Subject"] == "Physics, December 2026: received answers.pdf"
    text = " ".join(text_of(message).split())
    for fact in ("answers.pdf", sha256, shown, "1 of ", "Handed in on time."):
        assert fact in text
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == f"receipt-{shown}.jwt"
    assert attachment.get_content_type() == "application/jose"
    assert attachment.get_content().decode("ascii") == receipt  # the very receipt the submission holds
    (row,) = outbox.rows()
    assert row["state"] == "sent"


def hand_in(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]], code: str, content: bytes, filename: str
) -> None:
    form = api.request_upload(code, filename=filename).body
    bucket.upload(form, content)
    record(bucket.notification(form["fields"]["key"], len(content)))


def test_a_second_file_s_receipt_says_what_it_replaces(
    api: Api, outbox: Outbox, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    student = api.create_student("mobrien", email=f"mobrien.{uuid.uuid4().hex[:8]}@example.org")
    hand_in(api, bucket, record, student["upload_code"], pdf_with_text("first"), "draft.pdf")
    hand_in(api, bucket, record, student["upload_code"], pdf_with_text("second"), "final.pdf")

    assert outbox.deliver(outbox.receive()) == []

    first, second = sorted(outbox.sent(), key=lambda message: "final.pdf" in str(message["Subject"]))
    assert "replaces" not in text_of(first)
    assert "1 of " in text_of(first)
    assert "This replaces draft.pdf handed in at " in " ".join(text_of(second).split())
    assert "2 of " in text_of(second)


def test_a_rejected_upload_is_told_in_the_exam_s_language(
    api: Api, outbox: Outbox, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    changed = api.call(
        "update_exam", "later_due", path_params={"exam_id": EXAM}, body={"accepted_types": ["pdf"], "language": "de"}
    )
    assert changed.status == 200, changed.body
    student = api.create_student("mobrien", email=f"mobrien.{uuid.uuid4().hex[:8]}@example.org")
    hand_in(api, bucket, record, student["upload_code"], windows_program(), "answers.pdf")

    assert outbox.deliver(outbox.receive()) == []

    (message,) = outbox.sent()
    assert message["Subject"] == "Physics, December 2026: answers.pdf wurde nicht abgegeben"
    assert message["Content-Language"] == "de"
    assert list(message.iter_attachments()) == []
    text = " ".join(text_of(message).split())
    assert "Diese Datei ist ein Windows-Programm, kein Typ, den die Prüfung annimmt." in text
    assert "Sie haben noch " in text
    (row,) = outbox.rows()
    assert row["state"] == "sent"


# --- a crash at each step ---------------------------------------------------------------------


def test_a_death_before_the_claim_commits_leaves_every_message_queued(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    claim = db.sending.claim

    def claim_then_die(*args: Any, **kwargs: Any) -> Any:
        claim(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(db.sending, "claim", claim_then_die)
    with pytest.raises(Killed):
        outbox.handler.lambda_handler(batch, LambdaContext())
    db.reset()  # the dead process's connection: its transaction never committed
    monkeypatch.setattr(db.sending, "claim", claim)

    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("queued", 0)}
    assert outbox.sent() == []
    # SQS delivers the batch again after its visibility timeout.
    assert outbox.deliver(batch) == []
    assert len(outbox.sent()) == 2
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 1)}


def test_a_death_after_the_claim_and_before_ses_is_sent_once_by_the_sweep(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()

    send_raw = mail.send_raw

    def die(*args: Any, **kwargs: Any) -> str:
        raise Killed

    monkeypatch.setattr(mail, "send_raw", die)
    with pytest.raises(Killed):
        outbox.handler.lambda_handler(batch, LambdaContext())
    db.reset()
    monkeypatch.setattr(mail, "send_raw", send_raw)

    assert {(row["state"], row["attempts"], row["ses_message_id"]) for row in outbox.rows()} == {("sending", 1, None)}
    # The batch comes back: its messages are claimed already, so it sends nothing and is acknowledged.
    assert outbox.deliver(batch) == []
    assert outbox.sent() == []
    # Within the grace the sweep leaves the claims alone (SES's Send event could still come).
    assert outbox.sweep()["enqueued"] == 0
    an_hour_passes(outbox)
    assert outbox.sweep()["enqueued"] == 2
    rows = outbox.rows()
    assert {(row["state"], row["detail"]) for row in rows} == {("queued", "no answer from SES; queued again")}

    assert outbox.deliver(outbox.receive()) == []

    tags = [tag_of(message) for message in outbox.sent()]
    assert sorted(tags) == sorted(str(row["id"]) for row in rows)
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 2)}


def test_a_death_after_ses_and_before_mark_sent_is_settled_by_the_send_event_and_never_resent(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    mark_sent = db.sending.mark_sent

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    monkeypatch.setattr(db.sending, "mark_sent", die)
    with pytest.raises(Killed):
        outbox.handler.lambda_handler(batch, LambdaContext())
    db.reset()
    monkeypatch.setattr(db.sending, "mark_sent", mark_sent)

    # SES took the first message; the sender died before recording it; the second was claimed, never sent.
    (accepted,) = outbox.sent()
    (ses_message_id,) = outbox.ses_ids()
    assert {(row["state"], row["ses_message_id"]) for row in outbox.rows()} == {("sending", None)}
    # The batch comes back: nothing is sent again.
    assert outbox.deliver(batch) == []
    assert len(outbox.sent()) == 1
    # SES's Send event names our message by its tag: it is sent.
    send_event(outbox, tag_of(accepted), ses_message_id, str(accepted["To"]))
    by_id = {str(row["id"]): row for row in outbox.rows()}
    assert (by_id[tag_of(accepted)]["state"], by_id[tag_of(accepted)]["ses_message_id"]) == ("sent", ses_message_id)
    assert by_id[tag_of(accepted)]["email_state"] == "sent"

    an_hour_passes(outbox)
    assert outbox.sweep()["enqueued"] == 1  # the one SES never had
    assert outbox.deliver(outbox.receive()) == []

    sent = outbox.sent()
    assert sorted(str(message["To"]) for message in sent) == sorted(addresses.values())
    assert len({tag_of(message) for message in sent}) == 2  # each message once
    assert {row["state"] for row in outbox.rows()} == {"sent"}
    assert outbox.sweep(grace_s=5)["enqueued"] == 0


# --- the sweep --------------------------------------------------------------------------------


def test_the_sweep_hands_over_what_sqs_never_took(api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    students_with_addresses(api, 3)
    # The route's hand-over fails (no such queue): its messages are committed all the same.
    monkeypatch.setenv("MAIL_QUEUE_URL", f"{outbox.queue_url}-gone")
    config.reset()
    assert send_codes(api)["queued"] == 3
    monkeypatch.setenv("MAIL_QUEUE_URL", outbox.queue_url)
    config.reset()
    assert outbox.receive()["Records"] == []
    assert {row["enqueued_at"] for row in outbox.rows()} == {None}

    assert outbox.sweep()["enqueued"] == 3
    assert outbox.sweep()["enqueued"] == 0  # handed over now: not again within the grace
    assert outbox.deliver(outbox.receive()) == []

    assert len(outbox.sent()) == 3


def test_a_sweep_that_takes_back_a_live_senders_claims_lets_only_their_new_claimant_send_them(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    students_with_addresses(api, 4)
    send_codes(api)
    batch = outbox.receive()
    wait_until_slot = sending._wait_until
    taken_back: list[int] = []

    def slower_than_the_grace(slot: datetime) -> None:
        """Before its first SES call the sender stalls past the grace: a sweep takes its claims
        back and another environment sends them."""
        if not taken_back:
            an_hour_passes(outbox)
            taken_back.append(sending.sweep().enqueued)
            other = outbox.receive()
            taken_back.append(
                sending.send_batch([uuid.UUID(json.loads(r["body"])["message_id"]) for r in other["Records"]]).sent
            )
        wait_until_slot(slot)

    monkeypatch.setattr(sending, "_wait_until", slower_than_the_grace)

    assert outbox.deliver(batch) == []  # nothing of it is this sender's any more: acknowledged

    assert taken_back == [4, 4]
    tags = [tag_of(message) for message in outbox.sent()]
    assert len(tags) == 4
    assert len(set(tags)) == 4  # each once
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 2)}


def test_the_sweep_never_takes_back_a_claim_younger_than_a_minute(api: Api, outbox: Outbox) -> None:
    # A claim is confirmed just before SES is called, and that call can last 13 s
    assert sending.MIN_SWEEP_GRACE.total_seconds() > mail.CONNECT_TIMEOUT_S + mail.SEND_TIMEOUT_S
    students_with_addresses(api, 1)
    send_codes(api)
    outbox.sql("UPDATE message SET state = 'sending', attempts = 1, claimed_at = now() - interval '30 seconds'")

    assert outbox.sweep(grace_s=5)["enqueued"] == 0
    assert {row["state"] for row in outbox.rows()} == {"sending"}

    outbox.sql(
        "UPDATE message SET claimed_at = now() - interval '61 seconds', enqueued_at = now() - interval '61 seconds'"
    )
    assert outbox.sweep(grace_s=5)["enqueued"] == 1
    assert {row["state"] for row in outbox.rows()} == {"queued"}


def test_a_sweep_that_leaves_mail_unsettled_asks_for_the_next_and_one_that_finds_none_does_not(
    api: Api, outbox: Outbox
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    batch = outbox.receive()
    outbox.sql("DELETE FROM message WHERE id = (SELECT min(id::text)::uuid FROM message)")  # not to be settled here
    new_environment()
    requests_before = len(outbox.sweep_requests_in_s())

    # Given a message still queued (its SQS message not yet taken by the sender)
    swept = outbox.sweep()

    # Then the sweep asks for the next, 15 minutes from now, through the mail queue
    assert swept["next_requested"] is True
    assert len(outbox.sweep_requests_in_s()) == requests_before + 1
    assert 900 - 5 < max(outbox.sweep_requests_in_s()) <= 900

    # When the sender has sent it, a sweep (in another environment) finds nothing and asks for none
    assert outbox.deliver(batch) == []
    assert {row["state"] for row in outbox.rows()} == {"sent"}
    new_environment()
    requests_before = len(outbox.sweep_requests_in_s())
    swept = outbox.sweep()
    assert (swept["enqueued"], swept["next_requested"]) == (0, False)
    assert len(outbox.sweep_requests_in_s()) == requests_before


def test_with_no_schedule_a_claim_the_sender_died_holding_is_sent_by_the_sweeps_the_queue_brings(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The route's hand-off asks for a sweep, delayed 15 minutes, beside its messages
    students_with_addresses(api, 2)
    send_codes(api)
    assert len(outbox.sweep_requests_in_s()) == 1
    batch = outbox.receive()
    assert len(batch["Records"]) == 2  # the request is not delivered before its time

    # The sender (another environment) dies after its claim, before SES
    new_environment()

    def die(*args: Any, **kwargs: Any) -> str:
        raise Killed

    send_raw = mail.send_raw
    monkeypatch.setattr(mail, "send_raw", die)
    with pytest.raises(Killed):
        outbox.handler.lambda_handler(batch, LambdaContext())
    db.reset()
    monkeypatch.setattr(mail, "send_raw", send_raw)
    # It had asked for a sweep of its own before it claimed anything
    assert len(outbox.sweep_requests_in_s()) == 2
    new_environment()
    assert outbox.deliver(batch) == []  # redelivered to a new environment: nothing sent, a request
    assert outbox.sent() == []

    # 15 minutes on (the claims' grace with them), the requests come: one sweep for the batch,
    # which queues the claims again, hands them over, and asks for the next (they are unsettled)
    an_hour_passes(outbox)
    outbox.sweep_requests_fall_due()
    requests = outbox.receive()
    assert [json.loads(record["body"]) for record in requests["Records"]] == [{"sweep": True}] * 3
    new_environment()
    assert outbox.deliver(requests) == []
    assert {row["state"] for row in outbox.rows()} == {"queued"}
    assert len(outbox.sweep_requests_in_s()) == 1
    assert outbox.deliver(outbox.receive()) == []  # the messages handed over again: sent
    assert {(row["state"], row["attempts"]) for row in outbox.rows()} == {("sent", 2)}
    assert len(outbox.sent()) == 2

    # The next sweep finds nothing unsettled and asks for none: the sweeps stop
    outbox.sweep_requests_fall_due()
    new_environment()
    assert outbox.deliver(outbox.receive()) == []
    assert outbox.sweep_requests_in_s() == []
    assert outbox.receive()["Records"] == []
    assert len(outbox.sent()) == 2


def test_a_requested_sweep_that_fails_comes_back_with_its_sqs_message(
    api: Api, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    outbox.sweep_requests_fall_due()
    batch = outbox.receive()
    (request,) = [r["messageId"] for r in batch["Records"] if json.loads(r["body"]) == {"sweep": True}]

    def unavailable(*args: Any, **kwargs: Any) -> list[uuid.UUID]:
        raise ServiceUnavailable("the database did not answer")

    monkeypatch.setattr(db.sending, "sweep", unavailable)
    assert outbox.deliver(batch) == [request]  # the invitation was sent; the request comes again
    assert {row["state"] for row in outbox.rows()} == {"sent"}


def test_a_message_claimed_eight_times_without_an_answer_is_given_up(api: Api, outbox: Outbox) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    outbox.sql("UPDATE message SET state = 'sending', attempts = 8, claimed_at = now() - interval '1 hour'")

    assert outbox.sweep()["enqueued"] == 0

    (row,) = outbox.rows()
    assert (row["state"], row["detail"], row["email_state"]) == ("failed", "gave up after 8 attempts", "failed")


def test_the_sweep_counts_what_is_unsettled_for_half_an_hour(
    api: Api, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    students_with_addresses(api, 2)
    send_codes(api)
    outbox.sql("UPDATE message SET queued_at = now() - interval '31 minutes'")

    assert outbox.sweep()["unsettled"] == 2
    assert printed_metric(capsys.readouterr().out, "MessagesUnsettled") == 2


@pytest.mark.parametrize(
    ("code", "message", "state", "comes_back_in_s"),
    [
        ("MessageRejected", "Email address is not verified.", "failed", None),
        ("TooManyRequestsException", "Too many requests.", "queued", 30),
        ("LimitExceededException", "Daily message quota exceeded.", "queued", 900),
        ("AccessDenied", "User is not authorized to perform ses:SendRawEmail", "queued", 60),
        ("ConfigurationSetDoesNotExist", "Configuration set <exam-depository-test> does not exist.", "queued", 60),
        ("AccountSendingPausedException", "Sending paused for this account.", "queued", 60),
    ],
)
def test_each_answer_of_ses_is_final_or_given_back(
    api: Api, outbox: Outbox, code: str, message: str, state: str, comes_back_in_s: int | None
) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    batch = outbox.receive()
    stubber = stubbed_ses()
    for _ in range(3 if comes_back_in_s == 30 else 1):  # a rate's throttling is tried three times
        stubber.add_client_error("send_raw_email", code, message, 400)

    with stubber:
        failed = outbox.deliver(batch)

    (row,) = outbox.rows()
    assert (row["state"], row["email_state"]) == (state, state)
    assert code in row["detail"] or "quota" in row["detail"]
    if comes_back_in_s is None:
        assert failed == []
        assert outbox.visible_in_s() == []  # acknowledged: deleted from the queue
    else:
        assert failed == [batch["Records"][0]["messageId"]]
        (seconds,) = outbox.visible_in_s()
        assert comes_back_in_s - 5 < seconds <= comes_back_in_s


def test_an_unreadable_message_fails_alone_and_an_unknown_id_is_acknowledged(api: Api, outbox: Outbox) -> None:
    students_with_addresses(api, 1)
    send_codes(api)
    batch = outbox.receive()
    sample = sample_event("send_messages", "sqs")  # ids no message has
    unreadable = dict(sample["Records"][0], messageId="unreadable", body='{"message_id": "not a uuid"}')
    batch["Records"] += [*sample["Records"], unreadable]

    result = outbox.handler.lambda_handler(batch, LambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": "unreadable"}]}
    assert len(outbox.sent()) == 1


def test_a_large_hand_over_goes_in_batches_of_ten_and_a_refused_one_is_left_to_the_sweep(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [uuid.uuid4() for _ in range(250)]

    taken = queues.send_mail(ids)

    assert sorted(taken) == sorted(ids)
    bodies = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[MAIL_QUEUE]._messages
    assert sorted(json.loads(message.body)["message_id"] for message in bodies) == sorted(map(str, ids))
    # SQS refuses (no such queue): nothing is raised, nothing is taken.
    monkeypatch.setenv("MAIL_QUEUE_URL", f"{outbox.queue_url}-gone")
    config.reset()
    assert queues.send_mail(ids[:15]) == []
