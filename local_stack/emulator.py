"""MiniStack, the local S3 and SQS: started from its own tool environment (it pins botocore)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from local_stack.processes import spawn, wait_for


@dataclass(frozen=True)
class Queues:
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    export_queue_url: str
    export_queue_arn: str
    export_dead_letter_url: str
    scan_queue_url: str
    scan_queue_arn: str
    scan_dead_letter_url: str
    mail_queue_url: str
    mail_queue_arn: str
    mail_dead_letter_url: str
    mail_events_queue_url: str
    mail_events_queue_arn: str
    mail_events_dead_letter_url: str
    lti_jobs_queue_url: str
    lti_jobs_queue_arn: str
    lti_jobs_dead_letter_url: str


class MiniStack:
    def __init__(
        self,
        executable: Path,
        port: int,
        data_dir: Path,
        credentials: tuple[str, str],
        region: str,
        *,
        smtp_host: str | None = None,
    ) -> None:
        self.executable = executable
        self.port = port
        self.data_dir = data_dir
        self.credentials = credentials
        self.region = region
        # Where SES relays each message it accepted (local_stack/mailroom.py's mailbox).
        self.smtp_host = smtp_host
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: IO[bytes]) -> None:
        if not self.executable.exists():
            raise SystemExit(f"MiniStack is not installed at {self.executable}: run `make run`, which installs it.")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.data_dir)),
            # AUTH=true makes it check signatures, presigned POST policies and expiry like S3.
            "AUTH": "true",
            "BIND_HOST": "127.0.0.1",
            # Its MQTT listener binds 0.0.0.0:8883 whatever BIND_HOST says: nothing here uses IoT.
            "IOT_MTLS_ENABLED": "0",
            "GATEWAY_PORT": str(self.port),
            # events: the malware scan results' and the mail events' rules (local_stack/scanner.py and
            # mailroom.py route by them); sts: its account; ses: the product's email.
            "SERVICES": "s3,sqs,kms,events,sts,ses",
            "AWS_ACCESS_KEY_ID": self.credentials[0],
            "AWS_SECRET_ACCESS_KEY": self.credentials[1],
            "MINISTACK_REGION": self.region,
            "S3_PERSIST": "1",
            "S3_DATA_DIR": str(self.data_dir),
            "LOG_LEVEL": "WARNING",
            **({"SMTP_HOST": self.smtp_host} if self.smtp_host else {}),
        }
        pid_file = self.data_dir.parent / "ministack.pid"
        self.process = spawn(
            [str(self.executable)], pid_file=pid_file, on_parent_death=signal.SIGTERM, env=env, log=log
        )
        wait_for(lambda: port_in_use(self.port), timeout_s=20, what="MiniStack (see its log)", process=self.process)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


RECEIPT_KEY_ALIAS = "alias/exam-depository-local-receipts"
# The LTI tool's RS256 key and the sessions' ES256 key, as the template's aliases name them.
LTI_TOOL_KEY_ALIAS = "alias/exam-depository-local-lti-tool"
LTI_SESSION_KEY_ALIAS = "alias/exam-depository-local-lti-sessions"
# The prefixes of template.yaml's notifications (tests/unit/test_template.py holds them the same).
NOTIFIED_PREFIXES = ("submissions/", "papers/")


def signing_key(endpoint: str, credentials: tuple[str, str], region: str) -> str:
    """The receipts' signing key in the emulator's KMS, made once (an ECC_NIST_P256 key, as the
    template's), and the LTI tool's and sessions' keys beside it; returns the receipts' alias.
    MiniStack keeps KMS in memory: after a crash it makes a new one, and receipts signed before
    stay verifiable because every public key is in the database."""
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
    )
    aliases = {alias["AliasName"] for alias in kms.list_aliases().get("Aliases", [])}
    if RECEIPT_KEY_ALIAS not in aliases:
        key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="receipts")
        kms.create_alias(AliasName=RECEIPT_KEY_ALIAS, TargetKeyId=key["KeyMetadata"]["KeyId"])
    lti_keys: tuple[tuple[str, Literal["RSA_2048", "ECC_NIST_P256"]], ...] = (
        (LTI_TOOL_KEY_ALIAS, "RSA_2048"),
        (LTI_SESSION_KEY_ALIAS, "ECC_NIST_P256"),
    )
    for alias, spec in lti_keys:
        if alias not in aliases:
            key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description=alias)
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
    return RECEIPT_KEY_ALIAS


def clients(endpoint: str, credentials: tuple[str, str], region: str) -> tuple[Any, Any]:
    """S3 and SQS clients for the emulator: SigV4, and path-style URLs on 127.0.0.1."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1], region_name=region
    )
    s3 = session.client(
        "s3", endpoint_url=endpoint, config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
    )
    return s3, session.client("sqs", endpoint_url=endpoint)


def event_clients(endpoint: str, credentials: tuple[str, str], region: str) -> tuple[Any, Any]:
    """EventBridge and STS clients for the emulator: the scan results' rule, and the account."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1], region_name=region
    )
    return session.client("events", endpoint_url=endpoint), session.client("sts", endpoint_url=endpoint)


def ses_client(endpoint: str, credentials: tuple[str, str], region: str) -> Any:
    """SES's v2 client for the emulator: the sender's identity."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1], region_name=region
    )
    return session.client("sesv2", endpoint_url=endpoint)


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


SCAN_RULE = "scan-results"
THREAT_TAG = "GuardDutyMalwareScanStatus"


MAIL_EVENTS_RULE = "mail-events"
# make run's sender (a domain no one can own: .test is reserved).
SENDER_ADDRESS = "exams@exam-depository.test"
CONFIGURATION_SET = "exam-depository-local"


def mail_events_pattern(template: dict[str, Any], configuration_set: str) -> dict[str, Any]:
    """template.yaml's mail events rule's pattern, for `configuration_set` (the template names it from parameters)."""
    pattern = json.loads(json.dumps(template["Resources"]["MailEventsRule"]["Properties"]["EventPattern"]))
    pattern["detail"]["mail"]["tags"]["ses:configuration-set"] = [configuration_set]
    return dict(pattern)


def verify_sender(ses: Any, sender: str) -> None:
    """The sender's domain as a verified SES identity (MiniStack verifies it at once; SES refuses
    mail from an unverified one, and so does MiniStack)."""
    domain = sender.rpartition("@")[2]
    identities = {i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])}
    if domain not in identities:
        ses.create_email_identity(EmailIdentity=domain)


def scan_results_pattern(template: dict[str, Any], bucket: str) -> dict[str, Any]:
    """template.yaml's scan results rule's pattern, for `bucket` (the template names it from parameters)."""
    pattern = json.loads(json.dumps(template["Resources"]["ScanResultsRule"]["Properties"]["EventPattern"]))
    pattern["detail"]["s3ObjectDetails"]["bucketName"] = [bucket]
    return dict(pattern)


def deny_threat_downloads(bucket: str) -> dict[str, Any]:
    """template.yaml's DenyThreatDownloads statement, for `bucket`, without its exemption of the
    recorder's and the reconcile job's roles: here there are no roles, every function runs with the
    stack's own key (the account's root, to which MiniStack applies no bucket policy)."""
    return {
        "Sid": "DenyThreatDownloads",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {f"s3:ExistingObjectTag/{THREAT_TAG}": "THREATS_FOUND"}},
    }


def provision(
    s3: Any,
    sqs: Any,
    events: Any,
    bucket: str,
    origins: list[str],
    *,
    max_receive_count: int,
    visibility_timeout_s: int,
    scan_pattern: dict[str, Any],
    mail_pattern: dict[str, Any],
) -> Queues:
    """What template.yaml creates, on the emulator; safe to run at every start."""
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["POST"],
                    "AllowedOrigins": origins,
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    queue_url, queue_arn, dead_letter_url = _queue(
        sqs, "submission-events", max_receive_count=max_receive_count, visibility_timeout_s=visibility_timeout_s
    )
    # S3 sends the notifications: the queue must allow it, as on AWS.
    allow_s3 = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(allow_s3)})
    export_url, export_arn, export_dead_letter_url = _queue(
        sqs, "export-jobs", max_receive_count=3, visibility_timeout_s=max(visibility_timeout_s, 30)
    )
    # The malware scan's results: a rule on the default bus with the template's pattern, to their
    # queue (local_stack/scanner.py delivers by this rule, as EventBridge would).
    scan_url, scan_arn, scan_dead_letter_url = _queue(
        sqs, "scan-results", max_receive_count=max_receive_count, visibility_timeout_s=visibility_timeout_s
    )
    events.put_rule(Name=SCAN_RULE, EventPattern=json.dumps(scan_pattern), State="ENABLED", EventBusName="default")
    events.put_targets(Rule=SCAN_RULE, EventBusName="default", Targets=[{"Id": "scan-results-queue", "Arn": scan_arn}])
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_threat_downloads(bucket)]})
    )
    # The mail: the sender's queue (10 receives, as the template's), and SES's events by the
    # template's rule to their queue (local_stack/mailroom.py publishes them as SES would).
    mail_url, mail_arn, mail_dead_letter_url = _queue(
        sqs, "mail", max_receive_count=10, visibility_timeout_s=max(visibility_timeout_s, 10)
    )
    mail_events_url, mail_events_arn, mail_events_dead_letter_url = _queue(
        sqs, "mail-events", max_receive_count=max_receive_count, visibility_timeout_s=visibility_timeout_s
    )
    events.put_rule(
        Name=MAIL_EVENTS_RULE, EventPattern=json.dumps(mail_pattern), State="ENABLED", EventBusName="default"
    )
    events.put_targets(
        Rule=MAIL_EVENTS_RULE, EventBusName="default", Targets=[{"Id": "mail-events-queue", "Arn": mail_events_arn}]
    )
    # LTI's jobs: hand-in statuses for the gradebooks and class-list syncs (5 receives, as the template's).
    lti_url, lti_arn, lti_dead_letter_url = _queue(
        sqs, "lti-jobs", max_receive_count=5, visibility_timeout_s=visibility_timeout_s
    )
    # The students' answers and the examiners' question papers, each under its own prefix, to the
    # one queue of the recorder.
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in NOTIFIED_PREFIXES
            ]
        },
    )
    return Queues(
        queue_url=queue_url,
        queue_arn=queue_arn,
        dead_letter_url=dead_letter_url,
        export_queue_url=export_url,
        export_queue_arn=export_arn,
        export_dead_letter_url=export_dead_letter_url,
        scan_queue_url=scan_url,
        scan_queue_arn=scan_arn,
        scan_dead_letter_url=scan_dead_letter_url,
        mail_queue_url=mail_url,
        mail_queue_arn=mail_arn,
        mail_dead_letter_url=mail_dead_letter_url,
        mail_events_queue_url=mail_events_url,
        mail_events_queue_arn=mail_events_arn,
        mail_events_dead_letter_url=mail_events_dead_letter_url,
        lti_jobs_queue_url=lti_url,
        lti_jobs_queue_arn=lti_arn,
        lti_jobs_dead_letter_url=lti_dead_letter_url,
    )


def _queue(sqs: Any, name: str, *, max_receive_count: int, visibility_timeout_s: int) -> tuple[str, str, str]:
    """A queue and its dead-letter queue, as the template makes them; (url, arn, dead-letter url)."""
    dead_letter_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
    sqs.set_queue_attributes(
        QueueUrl=url,
        # Short locally, so that a failed message is retried within seconds.
        Attributes={"VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": json.dumps(redrive)},
    )
    return url, arn, dead_letter_url
