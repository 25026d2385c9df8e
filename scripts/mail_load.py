"""`make mail-load`: one send-codes to 1,000 students through the local stack, and its figures.

It starts its own local stack on free ports (as `make run` runs it: MiniStack's SES, the mailroom,
the sender at SENDING_RATE_PER_SECOND), imports 1,000 students at SES's mailbox simulator
(success+lNNNN@simulator.amazonses.com), sends their codes once, and waits until every student's
email state is final. Then it prints, and writes to test-artifacts/mail-load.md: the time to the
202, to SES's last accepted message, to the last delivery; the messages SES accepted and the
mailbox received; distinct recipients and distinct `message` tags; the duplicates (0 or it fails).

    python scripts/mail_load.py [--students 1000] [--rate 50] [--timeout 300]

Exit status 1 if a student did not get exactly one message, or if any state did not settle.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from local_stack import background
from local_stack.client import ApiClient, MailClient

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "test-artifacts" / "mail-load.md"
EXAM = "mail-load"
SIMULATOR = "simulator.amazonses.com"
FINAL = ("delivered", "bounced", "complained", "failed")


def roster(students: int) -> str:
    lines = [f"l{n:04d},Student {n},Load,success+l{n:04d}@{SIMULATOR}" for n in range(1, students + 1)]
    return "nickname,first_name,last_name,email\n" + "\n".join(lines) + "\n"


def email_counts(client: ApiClient) -> dict[str, int]:
    answer = client.exam(EXAM)
    answer.raise_for_status()
    return dict(answer.json()["email_counts"])


def max_send_rate(stack: background.BackgroundStack) -> float:
    """SES's MaxSendRate as the emulator answers GetSendQuota: the sender keeps under it too."""
    import boto3

    keys = json.loads((stack.local_dir / "secrets.json").read_text())
    ses = boto3.client(
        "ses",
        endpoint_url=stack.info["s3_endpoint"],
        region_name=stack.info["region"],
        aws_access_key_id=keys["s3_access_key"],
        aws_secret_access_key=keys["s3_secret_key"],
    )
    return float(ses.get_send_quota()["MaxSendRate"])


def run(
    client: ApiClient, mail: MailClient, *, students: int, rate: float, ses_rate: float, timeout_s: float
) -> list[str]:
    """The invitation and its figures; returns the report's lines, the last one the verdict."""
    client.create_exam(EXAM, title="Mail load", due_in_s=6 * 3600)
    imported = client.import_roster(EXAM, roster(students))
    assert imported.status_code == 201, imported.text[:500]

    started_wall, started = time.time(), time.monotonic()
    answer = client.send_codes(EXAM)
    to_202 = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    queued = answer.json()["queued"]

    settled_s = None
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        counts = email_counts(client)
        if sum(counts.get(state, 0) for state in FINAL) >= queued:
            settled_s = time.monotonic() - started
            break
        time.sleep(0.5)
    counts = email_counts(client)

    recipients = {f"success+l{n:04d}@{SIMULATOR}" for n in range(1, students + 1)}
    accepted = [m for m in mail.ses_messages() if set(m["To"]) & recipients]
    delivered = [d for d in mail.mailbox() if set(d.facts["recipients"]) & recipients]
    per_recipient = Counter(address for m in accepted for address in m["To"])
    tags = Counter(d.tag for d in delivered)
    last_ses_s = max((m["Timestamp"] for m in accepted), default=started_wall) - started_wall
    duplicates = sum(n - 1 for n in per_recipient.values()) + sum(n - 1 for n in tags.values())
    whole = (
        queued == students
        and len(accepted) == students
        and len(delivered) == students
        and len(per_recipient) == students
        and len(tags) == students
        and duplicates == 0
        and counts.get("delivered", 0) == students
        and settled_s is not None
    )
    per_second = len(accepted) / max(last_ses_s, 0.001)
    settled = f"{settled_s:.1f} s" if settled_s is not None else f"not within {timeout_s:.0f} s"
    return [
        f"# One send-codes to {students:,} students, through the local stack",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; SENDING_RATE_PER_SECOND {rate:g}, SES's MaxSendRate "
        f"{ses_rate:g} (MiniStack's GetSendQuota: the sender keeps under the smaller); MiniStack's SES, the local "
        "mailroom (SES's mailbox simulator: every address delivers), the sender behind the mail queue (2 at once, "
        "as the template's MaximumConcurrency), on this machine's 2 shared cores.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| time to the 202 | {to_202:.2f} s |",
        f"| time to SES's last accepted message | {last_ses_s:.1f} s ({per_second:.1f} a second) |",
        f"| time to the last delivery (every state final) | {settled} |",
        f"| queued by the route | {queued:,} |",
        f"| messages SES accepted | {len(accepted):,} |",
        f"| messages in the mailbox | {len(delivered):,} |",
        f"| distinct recipients | {len(per_recipient):,} |",
        f"| distinct `message` tags | {len(tags):,} |",
        f"| **duplicates** | **{duplicates}** |",
        f"| students' states | {', '.join(f'{state} {n:,}' for state, n in sorted(counts.items()) if n)} |",
        "",
        "Every student got exactly one message." if whole else "FAILED: not every student got exactly one message.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50, help="SENDING_RATE_PER_SECOND (1 to 100)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for every state to settle")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mail-load-") as folder:
        print(f"Starting a local stack in {folder} ...", flush=True)
        stack = background.start(Path(folder), environment={"SENDING_RATE_PER_SECOND": f"{arguments.rate:g}"})
        try:
            client = ApiClient(stack.info["api_url"], stack.info["api_key"])
            mail = MailClient(stack.info["s3_endpoint"], Path(stack.info["mailbox"]))
            lines = run(
                client,
                mail,
                students=arguments.students,
                rate=arguments.rate,
                ses_rate=max_send_rate(stack),
                timeout_s=arguments.timeout,
            )
        finally:
            stack.stop()
    report = "\n".join(lines) + "\n"
    print(report)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(report)
    sys.exit(0 if lines[-1].startswith("Every") else 1)


if __name__ == "__main__":
    main()
