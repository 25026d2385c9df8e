"""Sending students their upload codes, and changing an address, through the student_mail
function against PostgreSQL and moto's SQS: who is invited (all, a selection, again), the limits
per student and per exam, two requests at once inviting each student once, mail switched off,
the audit events, and a suppressed address refused."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import queues
from exam_depository.adapters.db import messages, suppressions
from exam_depository.domain.mail import INVITES_PER_ADDRESS_PER_DAY
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, REGION, Api, ApiResponse, queued_in_sqs
from tests.waiting import wait_until


def _send(api: Api, **body: Any) -> ApiResponse:
    return api.call("student_mail", "send_codes", path_params={"exam_id": EXAM}, body=body)


def _rows(database_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _allow_another_send(database_url: str) -> None:
    """As if the exam's last send-codes were longer ago than the per-exam limit."""
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE exam SET codes_sent_at = codes_sent_at - interval '11 seconds'")


def _invited_earlier(database_url: str, nickname: str, minutes: int) -> None:
    """As if the student's invitations had been queued `minutes` earlier."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """UPDATE student SET invited_at = invited_at - make_interval(mins => %(m)s) WHERE nickname = %(n)s""",
            {"m": minutes, "n": nickname},
        )
        conn.execute(
            """UPDATE message SET queued_at = queued_at - make_interval(mins => %(m)s)
                WHERE student_id = (SELECT id FROM student WHERE nickname = %(n)s)""",
            {"m": minutes, "n": nickname},
        )


@pytest.fixture
def roster(api: Api) -> dict[str, dict[str, Any]]:
    """The exam's three students with an address and one without."""
    return {
        "ana": api.create_student("ana", email="Ana.Lopez@Example.org"),
        "ben": api.create_student("ben", email="ben@example.org"),
        "cem": api.create_student("cem", email="cem@example.org"),
        "dia": api.create_student("dia"),
    }


def test_every_student_with_an_address_is_invited_once_and_the_queue_gets_each_message(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    # When the examiner sends the codes
    response = _send(api)

    # Then three invitations are queued, and the student without an address is counted
    assert response.status == 202, response.body
    assert response.body == {
        "queued": 3,
        "skipped": {
            "no_email": 1,
            "suppressed": 0,
            "already_invited": 0,
            "too_soon": 0,
            "daily_limit": 0,
            "from_lms": 0,
        },
    }
    rows = _rows(
        database_url,
        """SELECT s.nickname, m.id::text, m.kind, m.state, m.address, m.idempotency_key, m.enqueued_at,
                  s.email_state, s.invitations, s.last_message_id = m.id AS latest
             FROM message m JOIN student s ON s.id = m.student_id ORDER BY s.nickname""",
    )
    assert [(r["nickname"], r["kind"], r["state"], r["address"]) for r in rows] == [
        ("ana", "invitation", "queued", "ana.lopez@example.org"),  # sent to its normalized form
        ("ben", "invitation", "queued", "ben@example.org"),
        ("cem", "invitation", "queued", "cem@example.org"),
    ]
    assert all(r["email_state"] == "queued" and r["invitations"] == 1 and r["latest"] for r in rows)
    assert all(r["idempotency_key"].startswith("invitation:") and r["idempotency_key"].endswith(":1") for r in rows)
    # And each was handed to the mail queue, and noted as handed over
    assert sorted(queued_in_sqs(mail_queue)) == sorted(r["id"] for r in rows)
    assert all(r["enqueued_at"] is not None for r in rows)
    # And the roster and the exam show it
    exam = api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body
    assert exam["email_counts"] == {
        "queued": 3,
        "sent": 0,
        "delivered": 0,
        "bounced": 0,
        "complained": 0,
        "failed": 0,
    }
    student = api.call("get_student", "by_nickname", path_params={"nickname": "ana"}).body
    assert (student["email_state"], student["email_shared"]) == ("queued", False)
    assert [(m["kind"], m["state"]) for m in student["messages"]] == [("invitation", "queued")]
    # And the audit log says the codes went to these students' addresses, naming them by pseudonym
    events = _rows(database_url, "SELECT after, subjects, target FROM audit_event WHERE action = 'students.invited'")
    assert events == [
        {
            "after": {"count": 3},
            "subjects": [roster[n]["pseudonym"] for n in ("ana", "ben", "cem")],
            "target": "students",
        }
    ]

    # When the examiner sends again, later
    _allow_another_send(database_url)
    again = _send(api)

    # Then nobody is invited twice
    assert again.status == 202
    assert again.body["queued"] == 0
    assert again.body["skipped"] == {**again.body["skipped"], "already_invited": 3, "no_email": 1}
    assert queued_in_sqs(mail_queue) == []
    assert len(_rows(database_url, "SELECT id FROM message")) == 3


def _sweep_requests_delays_s(queue_url: str) -> list[int]:
    """Each sweep request the mail queue holds, delayed: its DelaySeconds, as SQS was asked."""
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[queue_url.rsplit("/", 1)[1]]
    requests = [message for message in queue._messages if json.loads(message.body) == {"sweep": True}]
    assert all(message.sent_timestamp is not None for message in requests)
    return [round((message.delayed_until - (message.sent_timestamp or 0)) / 1000) for message in requests]


def test_the_hand_off_asks_for_a_sweep_fifteen_minutes_on_and_no_more_while_that_one_is_to_come(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    queues._sweep_due_at = None  # a new environment: it has asked for none yet
    # When the examiner sends the codes
    assert _send(api).status == 202
    # Then beside the three invitations the mail queue holds one sweep request, delayed 900 s:
    # the sweep that sees what SQS lost or a sender's crash left, with no schedule waking the
    # database every few minutes
    assert len(queued_in_sqs(mail_queue)) == 3
    assert _sweep_requests_delays_s(mail_queue) == [900]

    # When the same environment hands over more within those 15 minutes
    _invited_earlier(database_url, "ana", 11)
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ana"], resend=True).body["queued"] == 1
    # Then it asks for no second sweep: the one to come sees this too, and goes on while it is unsettled
    assert len(queued_in_sqs(mail_queue)) == 1
    assert _sweep_requests_delays_s(mail_queue) == [900]


def test_a_double_click_is_answered_429_with_when_to_ask_again(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str
) -> None:
    assert _send(api).status == 202

    second = _send(api)

    assert second.status == 429
    assert second.body["type"].endswith(":sending-too-often")
    assert 1 <= int(second.headers["Retry-After"]) <= 10
    assert second.body["retry_after_s"] == int(second.headers["Retry-After"])


def test_a_selection_a_resend_and_the_limits_per_student(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    # Given one student invited
    first = _send(api, nicknames=["ben"])
    assert (first.status, first.body["queued"]) == (202, 1)

    # When the examiner sends the code to them again at once (with resend), after the exam's limit
    _allow_another_send(database_url)
    too_soon = _send(api, nicknames=["ben"], resend=True)
    # Then it is too soon for them
    assert too_soon.body["queued"] == 0
    assert too_soon.body["skipped"]["too_soon"] == 1

    # When 10 minutes have passed: sent again, as the student's second invitation
    _invited_earlier(database_url, "ben", 10)
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ben"], resend=True).body["queued"] == 1
    keys = _rows(database_url, "SELECT idempotency_key FROM message ORDER BY queued_at")
    assert [k["idempotency_key"].rsplit(":", 1)[1] for k in keys] == ["1", "2"]

    # And a third; the fourth within a day is refused
    _invited_earlier(database_url, "ben", 10)
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ben"], resend=True).body["queued"] == 1
    _invited_earlier(database_url, "ben", 10)
    _allow_another_send(database_url)
    fourth = _send(api, nicknames=["ben"], resend=True)
    assert fourth.body["queued"] == 0
    assert fourth.body["skipped"]["daily_limit"] == 1
    assert len(queued_in_sqs(mail_queue)) == 3


def test_unknown_nicknames_are_refused_by_name_and_nothing_is_sent(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    response = _send(api, nicknames=["ana", "zed", "yan"])

    assert response.status == 422
    assert response.body["unknown"] == ["zed", "yan"]
    assert "zed, yan" in response.body["detail"]
    assert _rows(database_url, "SELECT id FROM message") == []
    # A refused request is no send: the exam may be sent at once
    assert _send(api, nicknames=["ana"]).status == 202


def test_two_requests_at_once_invite_each_student_once(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    """The row locks of `invite` alone (without the route's exam lock): the second request waits
    for the first's students, then finds them invited a moment ago."""
    exam_pk = _rows(database_url, "SELECT id FROM exam")[0]["id"]
    ids = [r["id"] for r in _rows(database_url, "SELECT id FROM student ORDER BY id")]
    now = datetime.now(UTC)
    first = psycopg.connect(database_url, row_factory=dict_row)
    second = psycopg.connect(database_url, row_factory=dict_row)
    outcome: dict[str, Any] = {}

    def invite_second() -> None:
        with second.transaction():
            outcome["second"] = messages.invite(second, exam_pk, ids, resend=True, now=now + timedelta(seconds=1))

    try:
        # Given a first request that has invited everyone and not committed yet
        with first.transaction():
            queued, _ = messages.invite(first, exam_pk, ids, resend=False, now=now)
            # When a second request (resend: the cooldown is all that stops it) asks meanwhile
            thread = threading.Thread(target=invite_second)
            thread.start()
            wait_until(
                lambda: _rows(
                    database_url,
                    """SELECT 1 FROM pg_stat_activity
                        WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT s.id AS student_id%%'""",
                ),
                timeout_s=30,
                what="the second request waiting for the students' row locks",
            )
        thread.join(timeout=30)
        # Then each student has one invitation: the second found them invited a moment ago
        second_queued, skipped = outcome["second"]
        assert (len(queued), second_queued, skipped["too_soon"]) == (3, [], 3)
        assert len(_rows(database_url, "SELECT id FROM message")) == 3
        assert {
            r["invitations"] for r in _rows(database_url, "SELECT invitations FROM student WHERE email IS NOT NULL")
        } == {1}
    finally:
        first.close()
        second.close()


def test_with_mail_off_sending_is_refused_409(
    api: Api, roster: dict[str, dict[str, Any]], aws: None, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDER_ADDRESS", "")
    config.reset()

    response = _send(api)

    assert response.status == 409
    assert response.body["type"].endswith(":mail-not-configured")
    assert _rows(database_url, "SELECT id FROM message") == []


def test_a_grader_cannot_send_the_codes(api: Api, roster: dict[str, dict[str, Any]], mail_queue: str) -> None:
    grader = api.as_key("g1r2a3d4e5")
    grader.join(api, "grader")

    response = grader.call("student_mail", "send_codes", path_params={"exam_id": EXAM}, body={})

    assert response.status == 403
    assert response.body["action"] == "student.send_codes"


def _change(api: Api, nickname: str, email: str | None) -> ApiResponse:
    return api.call("student_mail", "change_email", path_params={"nickname": nickname}, body={"email": email})


def test_a_new_address_starts_afresh_and_the_log_holds_no_address(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    # Given a student invited at their address
    assert _send(api, nicknames=["ben"]).status == 202

    # When the examiner gives them another one
    changed = _change(api, "ben", " Ben.New@Example.org ")

    # Then it is kept as written, sent to in its normalized form, and the student shows no state
    assert changed.status == 200, changed.body
    assert (changed.body["email"], changed.body["email_state"]) == ("Ben.New@Example.org", None)
    row = _rows(database_url, "SELECT email_address, invitations, last_message_id FROM student WHERE nickname = 'ben'")
    assert row == [{"email_address": "ben.new@example.org", "invitations": 1, "last_message_id": None}]
    # And the next send-codes invites them at it at once (it has not had the code), as their second invitation
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ben"]).body["queued"] == 1
    sent_to = _rows(database_url, "SELECT address, idempotency_key FROM message ORDER BY queued_at DESC LIMIT 1")
    assert sent_to[0]["address"] == "ben.new@example.org"
    assert sent_to[0]["idempotency_key"].endswith(":2")
    # And a second student with the same address is allowed, and shown as sharing it
    assert _change(api, "cem", "ben.new@example.org").status == 200
    shared = api.call("get_student", "by_nickname", path_params={"nickname": "cem"}).body
    assert shared["email_shared"] is True
    # And removing it; the log says set/changed/removed, never the address
    assert _change(api, "ana", None).body["email"] is None
    assert _change(api, "dia", "dia@example.org").status == 200
    events = _rows(
        database_url,
        "SELECT target, after FROM audit_event WHERE action = 'student.email_changed' ORDER BY seq",
    )
    assert [e["after"] for e in events] == [
        {"email": "changed"},
        {"email": "changed"},
        {"email": "removed"},
        {"email": "set"},
    ]
    log = json.dumps(_rows(database_url, "SELECT before, after, target FROM audit_event"), default=str)
    assert "example.org" not in log.lower()


def test_a_suppressed_address_is_refused_409_with_why(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str
) -> None:
    # Given an address that bounced hard (kept by its SHA-256 only)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO suppressed_address (address_sha256, reason, since, detail)
               VALUES (%s, 'bounce', '2026-12-05T14:02:00Z', 'Permanent/General: 550 5.1.1 user unknown')""",
            (suppressions.address_key("gone@example.org"),),
        )

    response = _change(api, "ben", "Gone@Example.org")

    assert response.status == 409
    assert response.body["type"].endswith(":address-suppressed")
    assert response.body["detail"] == (
        "This address bounced on 5 Dec 2026 at 14:02 UTC: Permanent/General: 550 5.1.1 user unknown. "
        "Give another address."
    )
    assert _rows(database_url, "SELECT email FROM student WHERE nickname = 'ben'") == [{"email": "ben@example.org"}]


def test_an_unknown_student_is_404(api: Api, roster: dict[str, dict[str, Any]], mail_queue: str) -> None:
    assert _change(api, "zed", "zed@example.org").status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"nicknames": []},
        {"nicknames": ["ana", "ANA"]},
        {"nicknames": ["has space"]},
        {"resend": "yes please"},
        {"resend": "yes"},
        {"resend": "true"},
        {"resend": 1},
        {"everyone": True},
    ],
)
def test_a_request_that_names_no_one_twice_or_wrongly_is_refused_422(
    api: Api, roster: dict[str, dict[str, Any]], mail_queue: str, database_url: str, body: dict[str, Any]
) -> None:
    response = _send(api, **body)

    assert response.status == 422, response.body
    assert _rows(database_url, "SELECT id FROM message") == []


def _suppress(database_url: str, address: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO suppressed_address (address_sha256, reason, since, detail)
               VALUES (%s, 'bounce', '2026-12-05T14:02:00Z', 'Permanent/General: 550 5.1.1 user unknown')""",
            (suppressions.address_key(address),),
        )


@pytest.mark.parametrize("correction", ["ana.lopez@example.org", None])
def test_a_changed_address_gets_nothing_that_was_queued_to_the_old_one(
    api: Api, mail_queue: str, database_url: str, correction: str | None
) -> None:
    # Given two students invited at a mistyped domain: ana's invitation still queued, ben's being sent
    api.create_student("ana", email="ana.lopez@exmaple.org")
    api.create_student("ben", email="ben@exmaple.org")
    assert _send(api).body["queued"] == 2
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE message SET state = 'sending' WHERE student_id = (SELECT id FROM student WHERE nickname = 'ben')"
        )

    # When the examiner corrects (or removes) both addresses before the sender gets to ana's
    for nickname in ("ana", "ben"):
        changed = _change(api, nickname, correction and correction.replace("ana.lopez", nickname))
        assert (changed.status, changed.body["email_state"]) == (200, None)

    # Then ana's invitation is skipped, saying why, and the sender's claim does not send it
    rows = {
        r["nickname"]: r
        for r in _rows(
            database_url,
            "SELECT s.nickname, m.id, m.state, m.detail FROM message m JOIN student s ON s.id = m.student_id",
        )
    }
    assert (rows["ana"]["state"], rows["ana"]["detail"]) == ("skipped", "address changed")
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        from exam_depository.adapters.db import sending

        assert sending.claim(conn, [rows["ana"]["id"]], now=datetime.now(UTC)) == []
    # And ben's, already in SES's hands, is left as it is
    assert (rows["ben"]["state"], rows["ben"]["detail"]) == ("sending", None)
    # And ana's state says the truth: nothing is on its way to her
    ana = api.call("get_student", "by_nickname", path_params={"nickname": "ana"}).body
    assert ana["email_state"] is None
    assert [(m["state"], m["detail"]) for m in ana["messages"]] == [("skipped", "address changed")]
    # And a corrected address gets the code at the next send-codes, without waiting
    _allow_another_send(database_url)
    again = _send(api, nicknames=["ana"])
    if correction is None:
        assert again.body["skipped"]["no_email"] == 1
    else:
        assert again.body["queued"] == 1
        newest = _rows(database_url, "SELECT address FROM message ORDER BY queued_at DESC LIMIT 1")
        assert newest == [{"address": "ana@example.org"}]


def test_the_same_address_given_again_changes_nothing_and_logs_nothing(
    api: Api, mail_queue: str, database_url: str
) -> None:
    # Given a student whose invitation was delivered
    api.create_student("ana", email="ana@example.org")
    assert _send(api).body["queued"] == 1
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE student SET email_state = 'delivered'")
        conn.execute("UPDATE message SET state = 'delivered'")
    before = _rows(database_url, "SELECT email, email_state, email_state_at, last_message_id, invited_at FROM student")

    # When the examiner puts the same address again, written differently
    same = _change(api, "ana", " ANA@Example.org ")

    # Then it is answered as it is, and nothing changed nor was logged
    assert same.status == 200, same.body
    assert (same.body["email"], same.body["email_state"]) == ("ana@example.org", "delivered")
    assert (
        _rows(database_url, "SELECT email, email_state, email_state_at, last_message_id, invited_at FROM student")
        == before
    )
    assert _rows(database_url, "SELECT action FROM audit_event WHERE action = 'student.email_changed'") == []
    # And a student without an address given none again: nothing either
    api.create_student("ben")
    assert _change(api, "ben", None).status == 200
    assert _rows(database_url, "SELECT action FROM audit_event WHERE action = 'student.email_changed'") == []


def test_an_address_changed_away_and_back_is_still_invited_and_within_its_cooldown(
    api: Api, mail_queue: str, database_url: str
) -> None:
    # Given a student whose invitation was sent to their address
    api.create_student("ana", email="ana@example.org")
    assert _send(api, nicknames=["ana"]).body["queued"] == 1
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE message SET state = 'sent'")

    # When the examiner changes it away and back
    for address in ("other@example.org", "ana@example.org"):
        assert _change(api, "ana", address).status == 200

    # Then the address has had the code (no second one without resend), and a resend waits for the cooldown
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ana"]).body["skipped"]["already_invited"] == 1
    _allow_another_send(database_url)
    assert _send(api, nicknames=["ana"], resend=True).body["skipped"]["too_soon"] == 1
    assert len(_rows(database_url, "SELECT id FROM message")) == 1


def test_one_address_on_many_students_gets_at_most_the_addresses_daily_limit(
    api: Api, mail_queue: str, database_url: str
) -> None:
    # Given 40 students sharing one mailbox, and one with their own
    for index in range(40):
        api.create_student(f"s{index:02d}", email="family@example.org")
    api.create_student("own", email="own@example.org")

    # When the examiner sends the codes
    sent = _send(api)

    # Then the mailbox gets its day's limit, the others are counted, and the own address its one
    assert sent.body["queued"] == INVITES_PER_ADDRESS_PER_DAY + 1
    assert sent.body["skipped"]["daily_limit"] == 40 - INVITES_PER_ADDRESS_PER_DAY
    per_address = _rows(database_url, "SELECT address, count(*)::int AS n FROM message GROUP BY address ORDER BY 1")
    assert per_address == [
        {"address": "family@example.org", "n": INVITES_PER_ADDRESS_PER_DAY},
        {"address": "own@example.org", "n": 1},
    ]
    # And a day later the next ones are invited
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE address_invitation SET queued_at = queued_at - interval '24 hours'")
    _allow_another_send(database_url)
    assert _send(api).body["queued"] == INVITES_PER_ADDRESS_PER_DAY
    # And the day's rows of the exam are all that is kept, by the address's hash only
    kept = _rows(database_url, "SELECT address_sha256 FROM address_invitation")
    assert len(kept) == INVITES_PER_ADDRESS_PER_DAY
    assert {r["address_sha256"] for r in kept} == {suppressions.address_key("family@example.org")}


def test_deleting_and_adding_a_student_again_does_not_reset_the_addresses_limit(
    api: Api, mail_queue: str, database_url: str
) -> None:
    # Given a student deleted and added again, invited each time
    queued = 0
    for _ in range(INVITES_PER_ADDRESS_PER_DAY + 2):
        api.create_student("ana", email="ana@example.org")
        queued += _send(api, nicknames=["ana"]).body["queued"]
        deleted = api.call("delete_student", "by_nickname", path_params={"nickname": "ana"})
        assert deleted.status in (200, 204), deleted.body
        _allow_another_send(database_url)

    # Then the address got no more than its day's limit
    assert queued == INVITES_PER_ADDRESS_PER_DAY


def test_a_suppressed_address_is_refused_wherever_it_is_given(api: Api, mail_queue: str, database_url: str) -> None:
    from tests.integration.test_students import _import

    # Given an address that bounced hard
    _suppress(database_url, "dead@example.org")

    # When a student is added with it
    post = api.call(
        "create_student",
        "valid",
        path_params={"exam_id": EXAM},
        body={"nickname": "ben", "first_name": "B", "last_name": "B", "email": "Dead@Example.org"},
    )
    # Then it is refused as a change to it is, saying why
    assert post.status == 409, post.body
    assert post.body["type"].endswith(":address-suppressed")
    assert post.body["detail"].startswith("This address bounced on 5 Dec 2026 at 14:02 UTC")

    # When a roster gives it on its third line
    imported = _import(api, "nickname,first_name,last_name,email\nana,A,A,ana@example.org\ncem,C,C,DEAD@example.org\n")
    # Then the import is refused, naming the line, and nobody was created
    assert imported.status == 409, imported.body
    assert imported.body["type"].endswith(":address-suppressed")
    assert [(e["line"], e["field"]) for e in imported.body["errors"]] == [(3, "email")]
    assert imported.body["errors"][0]["message"].startswith("This address bounced on 5 Dec 2026")
    assert _rows(database_url, "SELECT nickname FROM student") == []


def test_a_grader_of_an_anonymous_exam_is_shown_no_messages(api: Api, mail_queue: str, database_url: str) -> None:
    # Given an anonymous exam whose student's invitation failed, SES quoting the address
    blind = "blind-2026"
    api.create_exam(blind, anonymous=True)
    api.create_student("mobrien", exam_id=blind, email="mary.obrien@example.org")
    grader = api.as_key("grader0001")
    grader.join(api, "grader", exam_id=blind)
    assert api.call("student_mail", "send_codes", path_params={"exam_id": blind}, body={}).status == 202
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE message SET state = 'failed', detail = 'Email address is not verified: mary.obrien@example.org'"
        )
    pseudonym = _rows(database_url, "SELECT pseudonym FROM student")[0]["pseudonym"]

    # When the grader reads the student
    seen = grader.call("get_student", "by_nickname", path_params={"exam_id": blind, "nickname": pseudonym})

    # Then no message is shown, nor the address anywhere
    assert seen.status == 200, seen.body
    assert seen.body["messages"] is None
    assert "obrien" not in json.dumps(seen.body).lower()
    # And the owner sees the message and why it failed
    owner = api.call("get_student", "by_nickname", path_params={"exam_id": blind, "nickname": "mobrien"}).body
    assert [(m["state"], m["detail"]) for m in owner["messages"]] == [
        ("failed", "Email address is not verified: mary.obrien@example.org")
    ]
