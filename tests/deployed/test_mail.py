"""The mail through the deployed template: send-codes through the API under IAM, the sender's role
sending through MiniStack's SES, the detached local mailroom publishing SES's events through the
deployed rule to the events' function; and the sender killed in the middle of a batch."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from local_stack.client import MailClient
from tests.browser import ARTIFACTS
from tests.deployed.conftest import Deployed
from tests.waiting import wait_until

SIMULATOR = "simulator.amazonses.com"
# Each run's own exams and addresses: a deployment given by DEPLOYED_JSON keeps an earlier run's
# (and a bounced address stays suppressed).
RUN = uuid.uuid4().hex[:6]
FINAL = {"delivered", "bounced", "complained", "failed"}


def _mail(deployed: Deployed) -> MailClient:
    return MailClient(deployed.info["endpoint"], Path(deployed.info["mailbox"]))


def _roster(students: dict[str, str]) -> str:
    lines = [f"{nickname},Ana,{nickname.upper()},{address}" for nickname, address in sorted(students.items())]
    return "nickname,first_name,last_name,email\n" + "\n".join(lines) + "\n"


def _states(deployed: Deployed, exam_id: str) -> dict[str, str | None]:
    answer = deployed.students(exam_id, limit=100)
    assert answer.status_code == 200, answer.text
    return {student["nickname"]: student["email_state"] for student in answer.json()["items"]}


def test_codes_go_through_the_deployed_api_and_a_bounce_comes_back_through_the_deployed_rule(
    deployed: Deployed,
) -> None:
    exam_id = f"mail-deployed-{RUN}"
    deployed.create_exam(exam_id, title="Mail, deployed")
    students = {"ana": f"success+dep-{RUN}@{SIMULATOR}", "ben": f"bounce+dep-{RUN}@{SIMULATOR}"}
    assert deployed.import_roster(exam_id, _roster(students)).status_code == 201

    sent = deployed.send_codes(exam_id)

    assert sent.status_code == 202, sent.text
    assert sent.json()["queued"] == 2
    wait_until(
        lambda: _states(deployed, exam_id) == {"ana": "delivered", "ben": "bounced"},
        timeout_s=120,
        what="ana delivered and ben bounced",
    )
    delivered = _mail(deployed).mailbox(to=students["ana"])
    assert len(delivered) == 1
    text = delivered[0].message.get_body(preferencelist=("plain",))
    assert text is not None
    assert f"{deployed.info['browser_api_url']}/#code=" in str(text.get_content())


def _sender_workers(deployed: Deployed) -> list[psutil.Process]:
    """MiniStack's worker processes of the sender: its Lambda runs each environment as a process
    whose command line names the function's unpacked folder."""
    function = deployed.info["sender_function"]
    workers = []
    for process in deployed.ministack().children(recursive=True):
        try:
            if any(function in part for part in process.cmdline()):
                workers.append(process)
        except psutil.NoSuchProcess:
            continue
    return workers


def test_a_sender_killed_mid_batch_loses_nothing_and_sends_nothing_twice(deployed: Deployed) -> None:
    # Given 40 invitations, sent at SendingRatePerSecond 5 (batches of 10 take 2 s each)
    exam_id = f"mail-crash-{RUN}"
    deployed.create_exam(exam_id, title="Mail, crash")
    students = {f"c{n:02d}": f"success+c{n:02d}-{RUN}@{SIMULATOR}" for n in range(1, 41)}
    assert deployed.import_roster(exam_id, _roster(students)).status_code == 201
    mail = _mail(deployed)
    to = set(students.values())

    def ours() -> list[Any]:
        return [d for d in mail.mailbox() if set(d.facts["recipients"]) & to]

    assert deployed.send_codes(exam_id).json()["queued"] == 40

    # When the mailbox holds 3 of them, every worker of the sender is killed (SIGKILL: no cleanup)
    wait_until(lambda: len(ours()) >= 3, timeout_s=120, what="the first 3 invitations in the mailbox")
    killed = _sender_workers(deployed)
    assert killed, "no worker of the sender was running"
    for worker in killed:
        worker.send_signal(signal.SIGKILL)
    at_kill = len(ours())

    # Then SQS brings the killed batches back (after the queue's visibility), new workers send what
    # was never claimed, and the sweep, asked for with the shortest grace it takes (60 s), what a
    # claim left unanswered
    def settled() -> bool:
        if set(_states(deployed, exam_id).values()) <= FINAL:
            return True
        deployed.make("sweep-mail", GRACE_S="60")
        return False

    wait_until(settled, timeout_s=300, what="every invitation settled after the crash")

    # 40 messages, one to each student, none twice; every one delivered
    delivered = ours()
    accepted = [m for m in mail.ses_messages() if set(m["To"]) & to]
    assert Counter(address for m in accepted for address in m["To"]) == Counter(to)
    assert len(delivered) == 40
    assert len({d.tag for d in delivered}) == 40
    assert Counter(_states(deployed, exam_id).values()) == {"delivered": 40}
    _write_crash_report(deployed, [d.tag for d in delivered], killed=len(killed), at_kill=at_kill)


def _write_crash_report(deployed: Deployed, message_ids: list[str], *, killed: int, at_kill: int) -> None:
    """Each message's attempts and how it ended: test-artifacts/mail-crash.md."""
    with deployed.database().admin("exam_depository") as conn:
        rows = conn.execute(
            """SELECT s.nickname, m.attempts, m.state, m.detail,
                      extract(epoch FROM m.sent_at - m.queued_at) AS sent_after_s
                 FROM message m JOIN student s ON s.id = m.student_id
                WHERE m.id = ANY(%s::uuid[]) ORDER BY s.nickname""",
            (message_ids,),
        ).fetchall()
    paths = Counter("sent at once" if attempts == 1 else "claimed again after the crash" for _, attempts, *_ in rows)
    lines = [
        "# A sender killed in the middle of a batch (the deployed stack)",
        "",
        f"40 invitations at SendingRatePerSecond 5; {killed} sender worker(s) SIGKILLed when the mailbox "
        f"held {at_kill}; SQS redelivered the killed batches and the sweep (grace 60 s, the shortest it "
        "takes) re-queued what a claim left unanswered. Result: 40 messages in the mailbox, 40 distinct "
        "tags, none twice.",
        "",
        ", ".join(f"{path}: {count}" for path, count in sorted(paths.items())),
        "",
        "| student | attempts | state | sent after (s) | detail |",
        "| --- | ---: | --- | ---: | --- |",
        *(
            f"| {nickname} | {attempts} | {state} | {float(after or 0):.1f} | {detail or ''} |"
            for nickname, attempts, state, detail, after in rows
        ),
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "mail-crash.md").write_text("\n".join(lines) + "\n")
    (ARTIFACTS / "mail-crash.json").write_text(json.dumps([list(map(str, row)) for row in rows], indent=1))
