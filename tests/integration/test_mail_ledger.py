"""The mail ledger in PostgreSQL: the recorder queues one receipt per recorded file (a replayed
notification none) and a notice per rejected upload (at most five a day), SES's events move a
message only forward and its student with it, a hard bounce or a complaint silences the address in
every exam, and the sender's claim and sweep around a crash: a claim made twice sends once, the
sweep sends again only what SES never answered, and the one window where a message goes twice."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from exam_depository.adapters.db import messages, sending, suppressions
from exam_depository.adapters.db.messages import UploadNotice
from exam_depository.domain.mail import REJECTIONS_PER_DAY, SENDING_GRACE
from exam_depository.domain.mail_events import EventKind, MailEvent
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, Api, Bucket, queued_in_sqs
from tests.integration.test_send_codes import _send

Record = Callable[..., dict[str, Any]]
Conn = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def conn(database_url: str, aws: None) -> Iterator[Conn]:
    """A connection of the test's own, in autocommit (each statement its own transaction)."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


def _upload(api: Api, bucket: Bucket, upload_code: str, content: bytes) -> tuple[str, dict[str, Any]]:
    form = api.request_upload(upload_code).body
    bucket.upload(form, content)
    return form["upload_id"], bucket.notification(form["fields"]["key"], len(content))


def _messages(conn: Conn) -> list[dict[str, Any]]:
    return conn.execute(
        """SELECT m.id, m.kind, m.state, m.upload_id::text, m.address, m.enqueued_at, m.ses_message_id, m.sent_at,
                  s.nickname, s.email_state
             FROM message m JOIN student s ON s.id = m.student_id ORDER BY m.queued_at, s.nickname, m.id"""
    ).fetchall()


def test_a_recorded_file_queues_one_receipt_and_a_replayed_notification_none(
    api: Api, bucket: Bucket, record: Record, mail_queue: str, conn: Conn
) -> None:
    # Given a student with an address who hands in a file
    student = api.create_student("ana", email="ana@example.org")
    upload_id, notification = _upload(api, bucket, student["upload_code"], b"%PDF-1.7 answers")

    # When S3's notification is recorded
    assert record(notification) == {"batchItemFailures": []}

    # Then one receipt is queued in the recording's transaction and handed to the mail queue
    [receipt] = _messages(conn)
    assert (receipt["kind"], receipt["state"], receipt["upload_id"], receipt["address"]) == (
        "receipt",
        "queued",
        upload_id,
        "ana@example.org",
    )
    assert receipt["email_state"] == "queued"
    assert receipt["enqueued_at"] is not None
    assert queued_in_sqs(mail_queue) == [str(receipt["id"])]

    # When the same notification comes again
    assert record(notification) == {"batchItemFailures": []}

    # Then nothing more is queued or handed over
    assert [m["id"] for m in _messages(conn)] == [receipt["id"]]
    assert queued_in_sqs(mail_queue) == []


def test_no_receipt_without_an_address_or_when_the_exam_sends_none(
    api: Api, bucket: Bucket, record: Record, mail_queue: str, conn: Conn
) -> None:
    # Given a student without an address, and an exam that sends no receipts
    without = api.create_student("ben")
    changed = api.call("update_exam", "later_due", path_params={"exam_id": EXAM}, body={"email_receipts": False})
    assert (changed.status, changed.body["email_receipts"]) == (200, False)
    updated = conn.execute("SELECT before, after FROM audit_event WHERE action = 'exam.updated'").fetchall()
    assert updated == [{"before": {"email_receipts": True}, "after": {"email_receipts": False}}]
    with_address = api.create_student("ana", email="ana@example.org")

    # When both hand in
    for code in (without["upload_code"], with_address["upload_code"]):
        assert record(_upload(api, bucket, code, b"%PDF-1.7 answers")[1]) == {"batchItemFailures": []}

    # Then no message is queued nor handed over
    assert _messages(conn) == []
    assert queued_in_sqs(mail_queue) == []


@pytest.mark.parametrize("value", ["yes", "false", 0, None])
def test_whether_an_exam_sends_receipts_is_a_json_boolean(api: Api, value: Any, conn: Conn) -> None:
    changed = api.call("update_exam", "later_due", path_params={"exam_id": EXAM}, body={"email_receipts": value})

    assert changed.status == 422, changed.body
    assert conn.execute("SELECT email_receipts FROM exam").fetchall() == [{"email_receipts": True}]


def test_a_rejected_upload_is_told_and_at_most_five_a_day(
    api: Api, bucket: Bucket, record: Record, mail_queue: str, conn: Conn
) -> None:
    # Given a student whose empty file is rejected
    student = api.create_student("ana", email="ana@example.org")
    upload_id, notification = _upload(api, bucket, student["upload_code"], b"")
    record(notification)

    # Then a rejection notice is queued for it
    assert [(m["kind"], m["upload_id"]) for m in _messages(conn)] == [("rejection", upload_id)]

    # When five more of the student's uploads are rejected within the day
    more = [UUID(api.request_upload(student["upload_code"]).body["upload_id"]) for _ in range(5)]
    student_id = conn.execute("SELECT id FROM student WHERE nickname = 'ana'").fetchone()
    assert student_id is not None
    queued = messages.queue_for_uploads(conn, [UploadNotice(u, student_id["id"], "rejection") for u in more[:4]])
    assert len(queued) == REJECTIONS_PER_DAY - 1
    # Then the sixth is not told
    assert messages.queue_for_uploads(conn, [UploadNotice(more[4], student_id["id"], "rejection")]) == []
    assert len(_messages(conn)) == REJECTIONS_PER_DAY


def test_one_batch_of_rejections_queues_no_more_than_the_days_limit(api: Api, mail_queue: str, conn: Conn) -> None:
    # Given a student with two rejection notices already today
    student = api.create_student("ana", email="ana@example.org")
    uploads = [UUID(api.request_upload(student["upload_code"]).body["upload_id"]) for _ in range(10)]
    row = conn.execute("SELECT id FROM student WHERE nickname = 'ana'").fetchone()
    assert row is not None
    notices = [UploadNotice(upload, row["id"], "rejection") for upload in uploads]
    assert len(messages.queue_for_uploads(conn, notices[:2])) == 2

    # When one recorder batch rejects eight more of their uploads (one of the earlier two replayed in it)
    queued = messages.queue_for_uploads(conn, [notices[1], *notices[2:]])

    # Then only as many as the day's limit leaves are queued, the batch's first ones
    assert len(queued) == REJECTIONS_PER_DAY - 2
    told = conn.execute("SELECT upload_id FROM message WHERE kind = 'rejection'").fetchall()
    assert {r["upload_id"] for r in told} == set(uploads[:REJECTIONS_PER_DAY])
    # And the student follows the last one queued
    latest = conn.execute("SELECT last_message_id FROM student WHERE id = %s", (row["id"],)).fetchone()
    assert latest is not None
    assert latest["last_message_id"] in queued


@pytest.fixture
def invited(api: Api, mail_queue: str, conn: Conn) -> list[UUID]:
    """Two students invited (their messages queued and handed over); the queue emptied."""
    api.create_student("ana", email="ana@example.org")
    api.create_student("ben", email="ben@example.org")
    assert _send(api).status == 202
    queued_in_sqs(mail_queue)
    return [m["id"] for m in _messages(conn)]


def _event(kind: EventKind, message_id: UUID | None, ses_id: str, **fields: Any) -> MailEvent:
    return MailEvent(
        kind=kind, at=datetime.now(UTC), ses_message_id=ses_id, message_id=message_id, recipients=(), **fields
    )


def _apply(conn: Conn, event: MailEvent) -> messages.Applied:
    with conn.transaction():
        return messages.apply_event(conn, event)


def _state(conn: Conn, message_id: UUID) -> tuple[str, str | None]:
    row = conn.execute(
        """SELECT m.state, s.email_state FROM message m JOIN student s ON s.id = m.student_id WHERE m.id = %s""",
        (message_id,),
    ).fetchone()
    assert row is not None
    return row["state"], row["email_state"]


def test_events_in_any_order_move_a_message_forward_only_and_its_student_with_it(
    invited: list[UUID], conn: Conn
) -> None:
    message_id = invited[0]
    # A Delivery before the sender's own mark: normal
    assert _apply(conn, _event("delivery", message_id, "ses-1")) == messages.Applied(True, "delivered", False)
    assert _state(conn, message_id) == ("delivered", "delivered")
    # The sender's mark and the Send event, later, change nothing but what they add
    sending.mark_sent(conn, message_id, "ses-1", datetime.now(UTC))
    assert _apply(conn, _event("send", message_id, "ses-1")).state == "delivered"
    row = conn.execute("SELECT ses_message_id, sent_at FROM message WHERE id = %s", (message_id,)).fetchone()
    assert row is not None
    assert row["ses_message_id"] == "ses-1"
    assert row["sent_at"] is not None
    assert _state(conn, message_id) == ("delivered", "delivered")
    # An event without our tag is found by SES's id
    assert _apply(conn, _event("complaint", None, "ses-1")).state == "complained"
    # A rejection (SES found a virus) fails a message that was never sent
    rejected = _apply(conn, _event("reject", invited[1], "ses-2", detail="Bad content"))
    assert rejected.state == "failed"
    never_sent = conn.execute("SELECT sent_at, detail FROM message WHERE id = %s", (invited[1],)).fetchone()
    assert never_sent == {"sent_at": None, "detail": "Bad content"}
    assert _state(conn, invited[1]) == ("failed", "failed")
    # And one for no message of ours is unmatched
    assert _apply(conn, _event("delivery", uuid4(), "ses-unknown")) == messages.Applied(False, None, False)


@pytest.mark.parametrize("order", list(itertools.permutations(["send", "delivery", "bounce"])))
def test_every_order_of_a_messages_events_ends_in_the_same_state(
    invited: list[UUID], conn: Conn, order: tuple[EventKind, ...]
) -> None:
    message_id = invited[0]
    for kind in (*order, *order):  # each twice, too
        bounce = {"bounce_type": "Transient", "bounce_sub_type": "MailboxFull"} if kind == "bounce" else {}
        _apply(conn, _event(kind, message_id, "ses-1", **bounce))
    assert _state(conn, message_id) == ("bounced", "bounced")


def test_a_hard_bounce_silences_the_address_in_every_exam_and_a_soft_one_does_not(
    api: Api, invited: list[UUID], conn: Conn
) -> None:
    # Given the same address in another exam of the examiner
    api.create_exam("chemistry")
    api.create_student("ana2", exam_id="chemistry", email="Ana@Example.org")
    ana, ben = invited

    # When ben's message bounces softly: shown, but his address stays usable
    soft = _apply(conn, _event("bounce", ben, "ses-b", bounce_type="Transient", bounce_sub_type="MailboxFull"))
    assert (soft.state, soft.suppressed) == ("bounced", False)
    assert conn.execute("SELECT count(*) AS n FROM suppressed_address").fetchone() == {"n": 0}

    # When ana's bounces hard
    hard = _apply(
        conn,
        _event(
            "bounce", ana, "ses-a", bounce_type="Permanent", bounce_sub_type="General", detail="550 5.1.1 user unknown"
        ),
    )

    # Then the address is suppressed, kept by its SHA-256 as PostgreSQL computes it too
    assert (hard.state, hard.suppressed) == ("bounced", True)
    kept = conn.execute(
        """SELECT address_sha256, reason, message_id, detail,
                  encode(sha256(convert_to('ana@example.org', 'UTF8')), 'hex') AS in_sql
             FROM suppressed_address"""
    ).fetchall()
    assert kept == [
        {
            "address_sha256": suppressions.address_key("ana@example.org"),
            "reason": "bounce",
            "message_id": ana,
            "detail": "550 5.1.1 user unknown",
            "in_sql": suppressions.address_key("ana@example.org"),
        }
    ]
    # And every student with it shows bounced, in either exam
    states = conn.execute("SELECT nickname, email_state FROM student ORDER BY nickname").fetchall()
    assert states == [
        {"nickname": "ana", "email_state": "bounced"},
        {"nickname": "ana2", "email_state": "bounced"},
        {"nickname": "ben", "email_state": "bounced"},
    ]
    # And nothing more is queued to it: not the other exam's invitation, not a receipt
    other = api.call("student_mail", "send_codes", path_params={"exam_id": "chemistry"}, body={})
    assert other.body["skipped"]["suppressed"] == 1
    ana2 = conn.execute("SELECT id FROM student WHERE nickname = 'ana2'").fetchone()
    assert ana2 is not None
    form = api.call(
        "request_upload",
        "with_filename",
        path_params={
            "upload_code": api.call(
                "get_student", "by_nickname", path_params={"exam_id": "chemistry", "nickname": "ana2"}
            ).body["upload_code"]
        },
        body={"filename": "a.pdf", "content_type": "application/pdf"},
    ).body
    assert messages.queue_for_uploads(conn, [UploadNotice(UUID(form["upload_id"]), ana2["id"], "receipt")]) == []
    # While ben's soft bounce stops nothing
    assert suppressions.suppression(conn, "ben@example.org") is None

    # When ana then complains about the message: the complaint outranks the bounce everywhere
    _apply(conn, _event("complaint", ana, "ses-a"))
    assert {r["email_state"] for r in conn.execute("SELECT email_state FROM student WHERE nickname LIKE 'ana%%'")} == {
        "complained"
    }


def test_a_claim_made_twice_sends_once(invited: list[UUID], conn: Conn) -> None:
    now = datetime.now(UTC)
    with conn.transaction():
        first = sending.claim(conn, invited, now=now)
    with conn.transaction():
        again = sending.claim(conn, invited, now=now)
    assert sorted(c.message_id for c in first) == sorted(invited)
    assert again == []
    assert {_state(conn, m) for m in invited} == {("sending", "queued")}


def _sweep(conn: Conn, now: datetime) -> list[UUID]:
    with conn.transaction():
        return sending.sweep(conn, now=now, grace=SENDING_GRACE)


def test_the_sweep_sends_again_only_a_claim_that_ses_never_answered(invited: list[UUID], conn: Conn) -> None:
    # Given two claims: the first's sender died after SES took it (its Send event came), the
    # second's before SES saw it (no event)
    now = datetime.now(UTC)
    answered, unanswered = invited
    with conn.transaction():
        sending.claim(conn, invited, now=now)
    _apply(conn, _event("send", answered, "ses-1"))

    # When the sweep runs after the grace
    later = now + SENDING_GRACE + timedelta(minutes=1)
    again = _sweep(conn, later)

    # Then only the unanswered one is queued again and handed over; the answered one is sent
    assert again == [unanswered]
    assert _state(conn, unanswered) == ("queued", "queued")
    assert _state(conn, answered) == ("sent", "sent")
    with conn.transaction():
        assert [c.message_id for c in sending.claim(conn, invited, now=later)] == [unanswered]


def test_a_send_event_later_than_the_sweep_and_the_one_window_that_sends_twice(invited: list[UUID], conn: Conn) -> None:
    """A sender died after SES accepted two messages and before noting it; the sweep re-queued
    both. For the first, SES's Send event arrives before the re-queued message is claimed again:
    it is marked sent and the claim sends nothing. For the second, the event is later than the
    new claim: that message is sent twice — the one duplicate window (a crash after SES, and its
    Send event lost or later than the resend)."""
    now = datetime.now(UTC)
    settled_in_time, too_late = invited
    with conn.transaction():
        sending.claim(conn, invited, now=now)
    later = now + SENDING_GRACE + timedelta(minutes=1)
    assert sorted(_sweep(conn, later)) == sorted(invited)

    # The first message's Send event, before its claim again
    _apply(conn, _event("send", settled_in_time, "ses-first-call-1"))
    with conn.transaction():
        reclaimed = sending.claim(conn, invited, now=later)
    # Nothing to send for it; the other goes out a second time
    assert [c.message_id for c in reclaimed] == [too_late]
    assert reclaimed[0].attempt == 2

    # The second message's Send event (of the first call) arrives only now, and its second call's
    sending.mark_sent(conn, too_late, "ses-second-call-2", later)
    _apply(conn, _event("send", too_late, "ses-first-call-2"))
    row = conn.execute("SELECT state, attempts, ses_message_id FROM message WHERE id = %s", (too_late,)).fetchone()
    assert row == {"state": "sent", "attempts": 2, "ses_message_id": "ses-second-call-2"}
