"""The local stand-in for GuardDuty Malware Protection for S3, speaking its protocol exactly: it
scans every new version under submissions/ with ClamAV's clamscan, tags the version with
GuardDuty's key and values, and sends GuardDuty's EventBridge event to every queue whose rule on
the default bus matches it, so that the function recording the results is the one AWS runs.

`make run` runs it as a thread of the stack; `make deploy-local` as a process of its own:

    python -m local_stack.scanner --stack .local/deployed.json

It polls (ListObjectVersions every 0.5 s) because the emulator's S3 events carry no version id.
While `<local dir>/scanner-hold` exists it scans nothing: the tests' switch for "still scanning".
What it cannot prove about GuardDuty is in docs/OPERATIONS.md ("The local scanner").
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLAMSCAN = ROOT / ".tools" / "clamav" / "bin" / "clamscan"
DATABASE = ROOT / "local_stack" / "clamav" / "exam-depository.ndb"
PREFIX = "submissions/"
POLL_S = 0.5
HOLD_FILE = "scanner-hold"
PLAN_ID = "local-clamav"
# GuardDuty's names: the tag on each scanned version and the event's detail-type.
TAG_KEY = "GuardDutyMalwareScanStatus"
DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
# scanResultStatus -> the event's scanStatus, as GuardDuty reports them.
SCAN_STATUS = {
    "NO_THREATS_FOUND": "COMPLETED",
    "THREATS_FOUND": "COMPLETED",
    "UNSUPPORTED": "SKIPPED",
    "ACCESS_DENIED": "SKIPPED",
    "FAILED": "FAILED",
}
_ENCRYPTED = "Heuristics.Encrypted."
# What S3 answers for a version deleted meanwhile (a delete marker: MethodNotAllowed).
_GONE = ("NoSuchKey", "NoSuchVersion", "404", "MethodNotAllowed")


@dataclass(frozen=True)
class Verdict:
    status: str  # a scanResultStatus: NO_THREATS_FOUND, THREATS_FOUND, UNSUPPORTED, ACCESS_DENIED, FAILED
    threats: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def clamscan(data: bytes, *, executable: Path = CLAMSCAN, database: Path = DATABASE, timeout_s: float = 60) -> Verdict:
    """One file's verdict: clamscan reads it on stdin (exit 0 clean, 1 found, 2 error). An
    encrypted archive or PDF it cannot look into is what GuardDuty calls UNSUPPORTED."""
    command = [str(executable), "--no-summary", "--stdout", "--alert-encrypted=yes", "-d", str(database), "-"]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return Verdict("FAILED", reasons=("TIMEOUT",))
    if done.returncode == 0:
        return Verdict("NO_THREATS_FOUND")
    if done.returncode == 1:
        # "stdin: Eicar-Test-Signature.UNOFFICIAL FOUND", one line per finding.
        names = tuple(
            line.removeprefix("stdin:").removesuffix("FOUND").strip()
            for line in done.stdout.decode("utf-8", "replace").splitlines()
            if line.endswith("FOUND")
        )
        threats = tuple(name for name in names if not name.startswith(_ENCRYPTED))
        if threats:
            return Verdict("THREATS_FOUND", threats=threats)
        if names:
            return Verdict("UNSUPPORTED", reasons=("PASSWORD_PROTECTED",))
    return Verdict("FAILED", reasons=("SCAN_ERROR",))


def scan_result_event(
    *, bucket: str, key: str, version_id: str, etag: str, verdict: Verdict, region: str, account: str
) -> dict[str, Any]:
    """GuardDuty's EventBridge event for one scanned version, field for field."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.guardduty",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:guardduty:{region}:{account}:malware-protection-plan/{PLAN_ID}"],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": SCAN_STATUS[verdict.status],
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": etag,
                "versionId": version_id,
                "s3Throttled": False,
            },
            "scanResultDetails": {
                "scanResultStatus": verdict.status,
                "threats": [{"name": name} for name in verdict.threats] or None,
                "statusReasons": list(verdict.reasons) or None,
            },
        },
    }


def deliver(events: Any, sqs: Any, event: dict[str, Any]) -> int:
    """EventBridge's routing, by hand (PutEvents refuses an aws.* source, on AWS and in the
    emulator): every enabled rule of the default bus whose pattern the emulator says matches
    sends the event to each of its SQS targets as the message body. Returns the messages sent."""
    body = json.dumps(event)
    sent = 0
    for rule in default_bus_rules(events):
        if rule.get("State") != "ENABLED" or "EventPattern" not in rule:
            continue
        if not events.test_event_pattern(EventPattern=rule["EventPattern"], Event=body)["Result"]:
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            arn = target["Arn"]
            if arn.split(":")[2] != "sqs":
                continue
            account, name = arn.split(":")[4], arn.split(":")[5]
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
            sent += 1
    return sent


def default_bus_rules(events: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = events.list_rules(EventBusName="default", **({"NextToken": token} if token else {}))
        yield from page.get("Rules", [])
        token = page.get("NextToken")
        if not token:
            return


class LocalScanner(threading.Thread):
    """Scans each version under submissions/ once: a version already tagged (a restart) or gone
    (a rejected upload, deleted) is passed over, as GuardDuty scans each new object once."""

    def __init__(
        self,
        s3: Any,
        sqs: Any,
        events: Any,
        bucket: str,
        *,
        account: str,
        local_dir: Path,
        stop: threading.Event,
        executable: Path = CLAMSCAN,
    ) -> None:
        super().__init__(daemon=True, name="malware-scanner")
        self.s3, self.sqs, self.events = s3, sqs, events
        self.bucket = bucket
        self.account = account
        self.hold = local_dir / HOLD_FILE
        self.stop = stop
        self.executable = executable
        self.seen: set[tuple[str, str]] = set()

    def run(self) -> None:
        while not self.stop.wait(POLL_S):
            if self.hold.exists():
                continue
            try:
                self.scan_new_versions()
            except Exception as error:  # the emulator is stopping or restarting: try again
                print(f"malware scanner: {type(error).__name__}: {error}", flush=True)

    def scan_new_versions(self) -> int:
        scanned = 0
        for version in self._versions():
            seen = (version["Key"], version["VersionId"])
            if seen in self.seen:
                continue
            if self.hold.exists() or self.stop.is_set():
                break
            self.scan(version["Key"], version["VersionId"])
            self.seen.add(seen)
            scanned += 1
        return scanned

    def scan(self, key: str, version_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            tags = self.s3.get_object_tagging(Bucket=self.bucket, Key=key, VersionId=version_id)["TagSet"]
            if any(tag["Key"] == TAG_KEY for tag in tags):
                return
            stored = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            data = stored["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in _GONE:
                return
            raise
        verdict = clamscan(data, executable=self.executable)
        tags = [*tags, {"Key": TAG_KEY, "Value": verdict.status}]
        try:
            self.s3.put_object_tagging(Bucket=self.bucket, Key=key, VersionId=version_id, Tagging={"TagSet": tags})
        except ClientError as error:
            # Deleted while it was scanned (a rejected upload): nothing is left to report on.
            if error.response["Error"]["Code"] in _GONE:
                return
            raise
        event = scan_result_event(
            bucket=self.bucket,
            key=key,
            version_id=version_id,
            etag=stored["ETag"].strip('"'),
            verdict=verdict,
            region=self.s3.meta.region_name,
            account=self.account,
        )
        deliver(self.events, self.sqs, event)

    def _versions(self) -> Iterator[dict[str, Any]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=PREFIX)
        for page in pages:
            yield from page.get("Versions", [])


def main(argv: list[str] | None = None) -> None:
    """The scanner of a `make deploy-local` deployment, until SIGTERM (deploy-local-down sends it).
    It reaches the emulator as the operator does: AWS_ENDPOINT_URL, AWS_CA_BUNDLE and the
    operator's keys in its environment."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", type=Path, required=True, help="the deployment's deployed.json")
    arguments = parser.parse_args(argv)
    info = json.loads(arguments.stack.read_text())
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=info["region"])
    s3 = session.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    scanner = LocalScanner(
        s3,
        session.client("sqs"),
        session.client("events"),
        info["bucket"],
        account=session.client("sts").get_caller_identity()["Account"],
        local_dir=arguments.stack.parent,
        stop=stop,
    )
    scanner.start()
    stop.wait()
    scanner.join(10)


if __name__ == "__main__":
    main()
