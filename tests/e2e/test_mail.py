"""Codes and receipts by email, through `make run`'s stack: the route queues, the sender sends
through MiniStack's SES (its list of accepted messages), MiniStack relays each raw message to the
mailroom's mailbox, and the mailroom's SES events come back through the template's rule to the
function recording them. What the tests read is what was sent, byte for byte."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwk, jws

from local_stack.client import Delivered, MailClient
from tests.browser import ARTIFACTS
from tests.e2e.conftest import Stack
from tests.files import pdf_with_text, windows_program
from tests.waiting import wait_until

SIMULATOR = "simulator.amazonses.com"
FINAL = {"delivered", "bounced", "complained", "failed"}
CODE_IN_LINK = re.compile(r"#code=([0-9A-Za-z-]+)")


@pytest.fixture(scope="module")
def mail(stack: Stack) -> MailClient:
    return MailClient(stack.info["s3_endpoint"], Path(stack.info["mailbox"]))


def _roster(students: list[tuple[str, str]]) -> str:
    lines = [f"{nickname},Ana {nickname},Müller,{address}" for nickname, address in students]
    return "nickname,first_name,last_name,email\n" + "\n".join(lines) + "\n"


def _students(stack: Stack, exam_id: str) -> dict[str, dict[str, Any]]:
    answer = stack.students(exam_id, limit=100)
    assert answer.status_code == 200, answer.text
    return {student["nickname"]: student for student in answer.json()["items"]}


def _plain(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def _send_codes(stack: Stack, exam_id: str, **kwargs: Any) -> dict[str, Any]:
    """Send-codes, once the exam's own limit (one a 10 s) lets it through."""
    answers = []

    def accepted() -> bool:
        answers.append(stack.send_codes(exam_id, **kwargs))
        return answers[-1].status_code != 429

    wait_until(accepted, timeout_s=30, what="send-codes past the exam's 10 s limit")
    assert answers[-1].status_code == 202, answers[-1].text
    return dict(answers[-1].json())


def _parts(delivered: Delivered) -> tuple[str, str]:
    message = delivered.message
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def _kind(delivered: Delivered) -> str:
    return str(delivered.facts["tags"]["kind"][0])


def test_thirty_invitations_each_carry_that_student_s_link_and_reach_their_final_state(
    stack: Stack, mail: MailClient
) -> None:
    # Given an exam of 30 students with addresses, one of which bounces
    exam_id = "mail-thirty"
    stack.create_exam(exam_id, title="Prüfung Statistik", timezone="Europe/Berlin")
    addresses = {f"s{n:02d}": f"success+s{n:02d}@{SIMULATOR}" for n in range(1, 30)}
    addresses["s30"] = f"bounce+s30@{SIMULATOR}"
    imported = stack.import_roster(exam_id, _roster(sorted(addresses.items())))
    assert imported.status_code == 201, imported.text

    # When the examiner sends the codes
    started = time.monotonic()
    queued = _send_codes(stack, exam_id)
    assert queued["queued"] == 30

    # Then the students' states go queued -> sent -> delivered (the bouncing one: bounced)
    timeline: list[tuple[float, Counter[str]]] = []

    def settled() -> bool:
        states = Counter(str(s["email_state"]) for s in _students(stack, exam_id).values())
        if not timeline or timeline[-1][1] != states:
            timeline.append((time.monotonic() - started, states))
        return set(states) <= FINAL

    wait_until(settled, timeout_s=120, what="every invitation delivered or bounced")
    settled_s = time.monotonic() - started
    students = _students(stack, exam_id)
    assert Counter(s["email_state"] for s in students.values()) == {"delivered": 29, "bounced": 1}
    assert students["s30"]["email_state"] == "bounced"

    # And SES took one message per address, and the mailbox got each, with that student's link
    to = set(addresses.values())
    accepted = [message for message in mail.ses_messages() if set(message["To"]) & to]
    assert len(accepted) == 30
    assert sorted(address for message in accepted for address in message["To"]) == sorted(to)
    delivered = [d for d in mail.mailbox() if set(d.facts["recipients"]) & to]
    assert len(delivered) == 30
    assert len({d.tag for d in delivered}) == 30
    for d in delivered:
        (address,) = d.facts["recipients"]
        (nickname,) = [nickname for nickname, given in addresses.items() if given == address]
        text, html = _parts(d)
        # One link, to the upload page, the code in its fragment only
        links = re.findall(r"\S+#code=[0-9A-Za-z-]+", text)
        assert [link.rpartition("#code=")[0] for link in links] == [f"{stack.api}/"], text
        codes = {_plain(code) for code in CODE_IN_LINK.findall(text + html)}
        assert codes == {_plain(students[nickname]["upload_code"])}, nickname
        code = students[nickname]["upload_code"]
        assert _plain(code) not in _plain(str(d.message["Subject"]))
        assert _kind(d) == "invitation"

    # And a second send reaches no one: all were invited, the bounced address is suppressed
    again = _send_codes(stack, exam_id)
    assert again["queued"] == 0
    assert again["skipped"]["already_invited"] + again["skipped"]["suppressed"] == 30
    assert again["skipped"]["suppressed"] == 1

    _write_invitation(delivered[0], stack)
    _write_states(timeline, settled_s)


def _write_invitation(delivered: Delivered, stack: Stack) -> None:
    """The closing note's "message as sent": the .eml as delivered and its two parts."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "mail-invitation.eml").write_bytes(delivered.raw)
    text, html = _parts(delivered)
    (ARTIFACTS / "mail-invitation.txt").write_text(text)
    (ARTIFACTS / "mail-invitation.html").write_text(html)


def _write_states(timeline: list[tuple[float, Counter[str]]], total_s: float) -> None:
    states = ["queued", "sent", "delivered", "bounced"]
    rows = [
        f"| {seconds:5.1f} | " + " | ".join(str(counts.get(state, 0)) for state in states) + " |"
        for seconds, counts in timeline
    ]
    (ARTIFACTS / "mail-states.md").write_text(
        "# An invitation batch's states over time\n\n"
        "30 students (29 at SES's simulator `success+sNN@`, one at `bounce+s30@`), one send-codes, "
        f"`make run`'s stack (SENDING_RATE_PER_SECOND 50; MiniStack's SES quota, 14 a second, the pace). "
        f"Every state final after {total_s:.1f} s.\n\n"
        "| seconds | "
        + " | ".join(states)
        + " |\n| ---: | "
        + " | ".join("---:" for _ in states)
        + " |\n"
        + "\n".join(rows)
        + "\n"
    )


def test_an_upload_brings_a_receipt_whose_attachment_verifies_with_the_published_keys(
    stack: Stack, mail: MailClient
) -> None:
    # Given a student with an address, in an exam that takes PDFs (and emails receipts by default)
    exam_id = "mail-receipts"
    stack.create_exam(exam_id, title="Receipts by email", accepted_types=["pdf"])
    address = f"success+receipt@{SIMULATOR}"
    assert stack.import_roster(exam_id, _roster([("ana", address)])).status_code == 201
    code = _students(stack, exam_id)["ana"]["upload_code"]

    # When the student hands in a file
    recorded = stack.hand_in(code, pdf_with_text("Answer one"), "answers.pdf")
    receipt = recorded["current"]["receipt"]
    verification_code = recorded["current"]["verification_code"]

    # Then one message comes, to that student, with the signed receipt attached
    (delivered,) = mail.wait_for_messages(1, to=address)
    assert _kind(delivered) == "receipt"
    text, _ = _parts(delivered)
    assert "answers.pdf" in text
    assert verification_code in text
    (attachment,) = list(delivered.message.iter_attachments())
    assert attachment.get_content_type() == "application/jose"
    assert attachment.get_filename() == f"receipt-{verification_code}.jwt"
    token = attachment.get_content()
    token = token.decode() if isinstance(token, bytes) else token
    # ... the very receipt the upload page showed, and genuine by the published keys alone
    assert token.strip() == receipt
    keys = jwk.KeySet.import_key_set(stack.jwks().json())
    claims = json.loads(jws.deserialize_compact(token.strip(), keys, algorithms=["ES256"]).payload)
    assert claims["verification_code"] == verification_code or verification_code in json.dumps(claims)
    (ARTIFACTS / "mail-receipt.eml").write_bytes(delivered.raw)

    # When the student hands in again, the new receipt says what it replaces
    stack.hand_in(code, pdf_with_text("Answer one, corrected"), "answers-v2.pdf")
    second = mail.wait_for_messages(2, to=address)[-1]
    assert _kind(second) == "receipt"
    assert "answers.pdf" in " ".join(_parts(second)[0].split())
    assert "replaces" in _parts(second)[0].lower()

    # And a file the exam does not accept brings the rejection message
    stack.hand_in(code, windows_program(), "answers-v3.pdf", until_scanned=False)
    third = mail.wait_for_messages(3, to=address)[-1]
    assert _kind(third) == "rejection"
    assert "answers-v3.pdf" in _parts(third)[0]
    assert not list(third.message.iter_attachments())


def test_a_bounce_marks_the_student_bounced_and_nothing_more_goes_to_that_address(
    stack: Stack, mail: MailClient
) -> None:
    # Given a student whose address bounces, invited
    exam_id = "mail-bounce"
    stack.create_exam(exam_id)
    dead = f"bounce+t3@{SIMULATOR}"
    assert stack.import_roster(exam_id, _roster([("ben", dead)])).status_code == 201
    assert _send_codes(stack, exam_id)["queued"] == 1
    wait_until(lambda: _students(stack, exam_id)["ben"]["email_state"] == "bounced", timeout_s=60, what="ben's bounce")
    assert len(mail.mailbox(to=dead)) == 1

    # When the examiner sends the code again to him
    again = _send_codes(stack, exam_id, nicknames=["ben"], resend=True)

    # Then nothing is queued: the address is suppressed
    assert again["queued"] == 0
    assert again["skipped"]["suppressed"] == 1
    assert len([m for m in mail.ses_messages() if dead in m["To"]]) == 1

    # And once he has another address, the next send-codes invites him there
    fixed = f"success+t3@{SIMULATOR}"
    changed = stack.change_email(exam_id, "ben", fixed)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email_state"] is None
    assert _send_codes(stack, exam_id)["queued"] == 1
    (delivered,) = mail.wait_for_messages(1, to=fixed)
    assert _kind(delivered) == "invitation"
    wait_until(
        lambda: _students(stack, exam_id)["ben"]["email_state"] == "delivered", timeout_s=60, what="ben's delivery"
    )


def test_redelivered_queue_messages_and_a_sweep_send_nothing_twice(stack: Stack, mail: MailClient) -> None:
    # Given 20 invitations, all delivered
    exam_id = "mail-repeated"
    stack.create_exam(exam_id)
    addresses = {f"r{n:02d}": f"success+r{n:02d}@{SIMULATOR}" for n in range(1, 21)}
    assert stack.import_roster(exam_id, _roster(sorted(addresses.items()))).status_code == 201
    assert _send_codes(stack, exam_id)["queued"] == 20
    to = set(addresses.values())

    def all_delivered() -> bool:
        return {s["email_state"] for s in _students(stack, exam_id).values()} == {"delivered"}

    wait_until(all_delivered, timeout_s=120, what="the 20 invitations delivered")
    tags = {d.tag for d in mail.mailbox() if set(d.facts["recipients"]) & to}
    assert len(tags) == 20

    # When every queue message comes again (SQS delivers at least once) and the sweep runs
    for tag in tags:
        stack.sqs.send_message(QueueUrl=stack.info["mail_queue_url"], MessageBody=json.dumps({"message_id": tag}))
    stack.make("sweep-mail", GRACE_S="60")
    wait_until(lambda: _queue_empty(stack, stack.info["mail_queue_url"]), timeout_s=60, what="the mail queue drained")

    # Then still 20 messages, each once, all delivered
    accepted = [message for message in mail.ses_messages() if set(message["To"]) & to]
    assert len(accepted) == 20
    delivered = [d for d in mail.mailbox() if set(d.facts["recipients"]) & to]
    assert len(delivered) == 20
    assert {d.tag for d in delivered} == tags
    assert all_delivered()


def _queue_empty(stack: Stack, url: str) -> bool:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return bool(attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"})
