"""The local stand-in for what SES does after accepting a message: deliver it, and publish its
events. MiniStack stands for SES's API (SendRawEmail; GET /_ministack/ses/messages lists what it
accepted) and, with SMTP_HOST set, relays each raw message byte for byte to this mailroom's SMTP
mailbox; the mailroom keeps what a recipient's server would get, and sends SES's events for it
(Send, Delivery, Bounce, Complaint, as SES's mailbox simulator decides them by address) wrapped as
EventBridge wraps them, to every queue whose rule on the default bus matches: the template's rule
decides, as it does on AWS.

`make run` runs it as a thread of the stack; `make deploy-local` as a process of its own:

    python -m local_stack.mailroom --stack .local/deployed.json

While `<local dir>/mailroom-hold` exists, mail is still stored but its events wait (the tests'
switch for "SES has not told us yet"). What it cannot prove about SES is in docs/OPERATIONS.md
("The local mailroom").
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import email.utils
import itertools
import json
import queue
import re
import signal
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local_stack.scanner import default_bus_rules

HOLD_FILE = "mailroom-hold"
MAILBOX_DIR = "mailbox"
# SES's headers for a raw message: read by SES, stripped before the message leaves it.
SES_HEADERS = ("x-ses-configuration-set", "x-ses-message-tags")
SIMULATOR_DOMAIN = "simulator.amazonses.com"
REPORTING_MTA = "a0-0.smtp-out.amazonses.com"
CALLER_IDENTITY = "exam-depository-local"
# EventBridge's detail-type for each of SES's event types.
DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
}
MAX_LINE = 1000  # RFC 5321's limit on a line, CRLF included
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # SES's own limit on a raw message


@dataclass(frozen=True)
class Delivered:
    """One message as the mailbox received it: its raw bytes as relayed (SES's headers still in)."""

    ses_message_id: str
    raw: bytes
    recipients: tuple[str, ...]
    received_at: datetime


def outcome(address: str) -> tuple[str, ...]:
    """The events SES's mailbox simulator publishes for a message to `address` (a +label is
    ignored, as the simulator ignores it); any other address is delivered."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return ("Send", "Delivery")
    return {
        "bounce": ("Send", "Bounce"),
        "complaint": ("Send", "Delivery", "Complaint"),
        "suppressionlist": ("Send", "Bounce"),
    }.get(local.split("+", 1)[0], ("Send", "Delivery"))


def _tags(header: str) -> dict[str, list[str]]:
    """X-SES-MESSAGE-TAGS: `name=value, name2=value2`, as SES reads it."""
    tags: dict[str, list[str]] = {}
    for pair in header.split(","):
        name, equals, value = pair.strip().partition("=")
        if equals and name:
            tags[name.strip()] = [value.strip()]
    return tags


def _stamp(moment: datetime) -> str:
    """SES's timestamps: ISO 8601 in UTC with milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _bounce(address: str, at: datetime) -> dict[str, Any]:
    local = address.lower().rpartition("@")[0].split("+", 1)[0]
    on_list = local == "suppressionlist"
    diagnostic = (
        "Amazon SES did not send the message to this address because it is on the suppression list for your account."
        if on_list
        else "smtp; 550 5.1.1 user unknown"
    )
    return {
        "bounceType": "Permanent",
        "bounceSubType": "OnAccountSuppressionList" if on_list else "General",
        "bouncedRecipients": [
            {"emailAddress": address, "action": "failed", "status": "5.1.1", "diagnosticCode": diagnostic}
        ],
        "timestamp": _stamp(at),
        "feedbackId": f"{uuid.uuid4().hex}-000000",
        "reportingMTA": f"dns; {REPORTING_MTA}",
    }


def ses_events(d: Delivered, *, region: str, account: str, now: datetime) -> list[dict[str, Any]]:
    """SES's events for one delivered message, as EventBridge puts them on the default bus: one
    record per event type `outcome` gives, for each recipient."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(d.raw, headersonly=True)
    configuration_set = str(message.get("X-SES-CONFIGURATION-SET", "")).strip()
    source = email.utils.parseaddr(str(message.get("From", "")))[1]
    tags = {
        **_tags(str(message.get("X-SES-MESSAGE-TAGS", ""))),
        "ses:configuration-set": [configuration_set],
        "ses:from-domain": [source.rpartition("@")[2]],
        "ses:source-ip": ["127.0.0.1"],
        "ses:caller-identity": [CALLER_IDENTITY],
    }
    mail = {
        "timestamp": _stamp(d.received_at),
        "source": source,
        "sourceArn": f"arn:aws:ses:{region}:{account}:identity/{source.rpartition('@')[2]}",
        "sendingAccountId": account,
        "messageId": d.ses_message_id,
        "destination": list(d.recipients),
        "headersTruncated": False,
        "headers": [{"name": name, "value": str(value)} for name, value in message.items()[:10]],
        "commonHeaders": {
            "from": [str(message.get("From", ""))],
            "to": [str(message.get("To", ""))],
            "messageId": d.ses_message_id,
            "subject": str(message.get("Subject", "")),
        },
        "tags": tags,
    }
    milliseconds = max(0, int((now - d.received_at).total_seconds() * 1000))
    events = []
    for address in d.recipients:
        for event_type in outcome(address):
            facts: dict[str, Any] = {}
            if event_type == "Delivery":
                facts = {
                    "timestamp": _stamp(now),
                    "processingTimeMillis": milliseconds,
                    "recipients": [address],
                    "smtpResponse": "250 2.6.0 Message received",
                    "reportingMTA": REPORTING_MTA,
                }
            elif event_type == "Bounce":
                facts = _bounce(address, now)
            elif event_type == "Complaint":
                facts = {
                    "complainedRecipients": [{"emailAddress": address}],
                    "timestamp": _stamp(now + timedelta(milliseconds=1)),
                    "feedbackId": f"{uuid.uuid4().hex}-000000",
                    "userAgent": "Amazon SES Mailbox Simulator",
                    "complaintFeedbackType": "abuse",
                    "arrivalDate": _stamp(now),
                }
            record = {"eventType": event_type, "mail": mail, event_type.lower(): facts}
            events.append(
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": DETAIL_TYPES[event_type],
                    "source": "aws.ses",
                    "account": account,
                    "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": region,
                    # Our reading of the resource (AWS's samples show none): nothing matches on it.
                    "resources": [f"arn:aws:ses:{region}:{account}:configuration-set/{configuration_set}"],
                    "detail": record,
                }
            )
    return events


def without_ses_headers(raw: bytes) -> bytes:
    """The message as SES sends it on: its X-SES-* headers (and their folded lines) removed."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace") in SES_HEADERS
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + separator + body


class Mailbox(socketserver.ThreadingTCPServer):
    """An SMTP server on 127.0.0.1 that keeps every message it is given (RFC 5321's commands EHLO,
    HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT): `<folder>/<n>.eml` without SES's headers, what the
    recipient's server would get, and `<n>.json` beside it (SES's message id, the recipients, our
    tags, the configuration set, when it arrived), on disk so that a count survives a restart.
    Each message is then handed to `on_delivered`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, folder: Path, on_delivered: Callable[[Delivered], None], port: int = 0) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.on_delivered = on_delivered
        self._lock = threading.Lock()
        existing = [int(path.stem) for path in self.folder.glob("*.eml") if path.stem.isdigit()]
        self._numbers = itertools.count(max(existing, default=0) + 1)
        super().__init__(("127.0.0.1", port), _SmtpSession)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def keep(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> Delivered:
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
        delivered = Delivered(
            ses_message_id=str(message.get("Message-ID", "")).strip().strip("<>"),
            raw=raw,
            recipients=recipients,
            received_at=datetime.now(UTC),
        )
        facts = {
            "ses_message_id": delivered.ses_message_id,
            "sender": sender,
            "recipients": list(recipients),
            "tags": _tags(str(message.get("X-SES-MESSAGE-TAGS", ""))),
            "configuration_set": str(message.get("X-SES-CONFIGURATION-SET", "")).strip(),
            "received_at": delivered.received_at.isoformat(),
        }
        with self._lock:
            number = next(self._numbers)
            (self.folder / f"{number}.eml").write_bytes(without_ses_headers(raw))
            # The .json last: a reader counting them finds each message whole.
            (self.folder / f"{number}.json").write_text(json.dumps(facts, indent=2) + "\n")
        self.on_delivered(delivered)
        return delivered


class _SmtpSession(socketserver.StreamRequestHandler):
    server: Mailbox
    sender: str | None = None
    recipients: list[str]

    def handle(self) -> None:
        self.recipients = []
        commands: dict[str, Callable[[str], None]] = {
            "EHLO": lambda _: self._reply("250-mailroom.local", "250-8BITMIME", f"250 SIZE {MAX_MESSAGE_BYTES}"),
            "HELO": lambda _: self._reply("250 mailroom.local"),
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": lambda _: self._message(),
            "RSET": lambda _: self._reset("250 2.0.0 OK"),
            "NOOP": lambda _: self._reply("250 2.0.0 OK"),
        }
        self._reply("220 mailroom.local ESMTP ready")
        while line := self.rfile.readline(MAX_LINE + 1):
            command, _, argument = line.decode("ascii", "replace").rstrip("\r\n").partition(" ")
            if command.upper() == "QUIT":
                self._reply("221 2.0.0 Bye")
                return
            commands.get(command.upper(), self._unknown)(argument)

    def _unknown(self, _: str) -> None:
        self._reply("502 5.5.2 Command not recognized")

    def _mail(self, argument: str) -> None:
        if not argument.upper().startswith("FROM:"):
            self._reply("501 5.5.4 MAIL FROM:<address>")
            return
        self.sender, self.recipients = _path(argument[5:]), []
        self._reply("250 2.1.0 OK")

    def _rcpt(self, argument: str) -> None:
        if self.sender is None:
            self._reply("503 5.5.1 MAIL first")
        elif not argument.upper().startswith("TO:"):
            self._reply("501 5.5.4 RCPT TO:<address>")
        else:
            self.recipients.append(_path(argument[3:]))
            self._reply("250 2.1.5 OK")

    def _message(self) -> None:
        if self.sender is None or not self.recipients:
            self._reply("503 5.5.1 MAIL and RCPT first")
            return
        self._reply("354 End data with <CR><LF>.<CR><LF>")
        raw = self._data()
        if raw is None:
            self._reset("552 5.3.4 Message too big")
            return
        self.server.keep(self.sender, tuple(self.recipients), raw)
        self._reset("250 2.0.0 OK")

    def _reset(self, reply: str) -> None:
        self.sender, self.recipients = None, []
        self._reply(reply)

    def _data(self) -> bytes | None:
        """The message up to the line holding one dot, leading dots unstuffed (RFC 5321 4.5.2);
        None when it is over the size (read to its end all the same)."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line or line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE_BYTES:
                lines.append(line if line.endswith(b"\r\n") else line.rstrip(b"\n") + b"\r\n")
        return b"".join(lines) if size <= MAX_MESSAGE_BYTES else None

    def _reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode("ascii"))


def _path(argument: str) -> str:
    """`<ana@example.edu> SIZE=123` -> ana@example.edu (the ESMTP parameters after it ignored)."""
    found = re.match(r"\s*<([^>]*)>", argument)
    return (found.group(1) if found else argument.strip().split(" ", 1)[0]).strip()


class Routes:
    """EventBridge's routing by the rules of the default bus (as scanner.deliver routes), with the
    rules, their SQS targets and the queues' URLs read again every `refresh_s` rather than for
    each event: a batch of 1,000 invitations publishes 2,000 events."""

    def __init__(self, events: Any, sqs: Any, *, refresh_s: float = 5) -> None:
        self.events, self.sqs = events, sqs
        self.refresh_s = refresh_s
        self._read_at = float("-inf")
        self._routes: list[tuple[str, list[str]]] = []  # (pattern, queue URLs)

    def deliver(self, event: dict[str, Any]) -> int:
        """Send `event` to every queue of every enabled rule whose pattern matches it (the
        emulator's TestEventPattern decides); returns the messages sent."""
        body = json.dumps(event)
        sent = 0
        for pattern, urls in self._current():
            if self.events.test_event_pattern(EventPattern=pattern, Event=body)["Result"]:
                for url in urls:
                    self.sqs.send_message(QueueUrl=url, MessageBody=body)
                    sent += 1
        return sent

    def _current(self) -> list[tuple[str, list[str]]]:
        if time.monotonic() - self._read_at > self.refresh_s:
            routes = []
            for rule in default_bus_rules(self.events):
                if rule.get("State") != "ENABLED" or "EventPattern" not in rule:
                    continue
                targets = self.events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
                arns = [target["Arn"] for target in targets if target["Arn"].split(":")[2] == "sqs"]
                urls = [
                    self.sqs.get_queue_url(QueueName=arn.split(":")[5], QueueOwnerAWSAccountId=arn.split(":")[4])[
                        "QueueUrl"
                    ]
                    for arn in arns
                ]
                routes.append((rule["EventPattern"], urls))
            self._routes, self._read_at = routes, time.monotonic()
        return self._routes


class Mailroom(threading.Thread):
    """Takes each delivered message from the mailbox and sends its events through EventBridge's
    routing (Routes: the rules of the default bus, by their patterns). While the hold
    file exists the events wait, in order; they go out once it is removed."""

    def __init__(
        self,
        sqs: Any,
        events: Any,
        *,
        region: str,
        account: str,
        local_dir: Path,
        stop: threading.Event,
        port: int = 0,
    ) -> None:
        super().__init__(daemon=True, name="mailroom")
        self.routes = Routes(events, sqs)
        self.region, self.account = region, account
        self.hold = local_dir / HOLD_FILE
        self.stop = stop
        self.waiting: queue.Queue[Delivered] = queue.Queue()
        self.mailbox = Mailbox(local_dir / MAILBOX_DIR, self.waiting.put, port)

    @property
    def smtp_host(self) -> str:
        """MiniStack's SMTP_HOST: where SES relays what it accepted."""
        return f"127.0.0.1:{self.mailbox.port}"

    def start(self) -> None:
        threading.Thread(target=self.mailbox.serve_forever, daemon=True, name="mailbox").start()
        super().start()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with contextlib.suppress(queue.Empty):
                    delivered = self.waiting.get(timeout=0.2)
                    while self.hold.exists() and not self.stop.wait(0.2):
                        pass
                    self._publish(delivered)
        finally:
            self.mailbox.shutdown()
            self.mailbox.server_close()

    def _publish(self, delivered: Delivered) -> None:
        for event in ses_events(delivered, region=self.region, account=self.account, now=datetime.now(UTC)):
            for attempt in range(10):  # the emulator restarting: EventBridge retries too
                try:
                    self.routes.deliver(event)
                    break
                except Exception as error:
                    print(f"mailroom: {type(error).__name__}: {error}", flush=True)
                    if self.stop.wait(0.5 * (attempt + 1)):
                        return


def main(argv: list[str] | None = None) -> None:
    """The mailroom of a `make deploy-local` deployment, until SIGTERM (deploy-local-down sends
    it), on the port MiniStack's SMTP_HOST names. It reaches the emulator as the operator does
    (AWS_ENDPOINT_URL, AWS_CA_BUNDLE and the operator's keys in its environment)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", type=Path, required=True, help="the deployment's deployed.json")
    parser.add_argument("--port", type=int, required=True, help="the SMTP port (MiniStack's SMTP_HOST)")
    parser.add_argument(
        "--local-dir", type=Path, help="where the mailbox and the hold file are (the stack file's folder)"
    )
    arguments = parser.parse_args(argv)
    info = json.loads(arguments.stack.read_text())
    import boto3

    session = boto3.session.Session(region_name=info["region"])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    mailroom = Mailroom(
        session.client("sqs"),
        session.client("events"),
        region=info["region"],
        account=session.client("sts").get_caller_identity()["Account"],
        local_dir=arguments.local_dir or arguments.stack.parent,
        stop=stop,
        port=arguments.port,
    )
    mailroom.start()
    stop.wait()
    mailroom.join(10)


if __name__ == "__main__":
    main()
