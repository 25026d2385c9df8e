"""Operations commands behind the Makefile's targets: each prints what it does before doing it.

python scripts/ops.py api-key --stack NAME            the examiners' API key value
python scripts/ops.py redrive --stack NAME            dead-letter queue -> notification queue
python scripts/ops.py redrive --local                 the same on the local stack (.local/stack.json)
python scripts/ops.py reconcile --local               run the reconcile job against the local stack
python scripts/ops.py administer --local --event JSON   assign an exam or link a key on the local stack
python scripts/ops.py sweep-mail --local [--grace-s S]  hand the mail queue what is unsent on the local stack
python scripts/ops.py smoke --stack NAME              create, upload, record, download, delete
python scripts/ops.py smoke --api-url URL --api-key K  the same against any running API
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests

from local_stack.background import stack_clients
from local_stack.client import ApiClient

ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(f"+ {message}", file=sys.stderr, flush=True)


def stack_outputs(stack: str) -> dict[str, str]:
    say(f"aws cloudformation describe-stacks --stack-name {stack}")
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def api_key_value(stack: str) -> str:
    key_id = stack_outputs(stack)["ApiKeyId"]
    say(f"aws apigateway get-api-key --api-key {key_id} --include-value")
    return str(boto3.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"])


def redrive_aws(stack: str) -> None:
    outputs = stack_outputs(stack)
    source, destination = outputs["SubmissionEventsDeadLetterQueueArn"], outputs["SubmissionEventsQueueArn"]
    say(f"aws sqs start-message-move-task --source-arn {source} --destination-arn {destination}")
    task = boto3.client("sqs").start_message_move_task(SourceArn=source, DestinationArn=destination)
    print(f"move task started: {task['TaskHandle']}")


def redrive_queue(sqs: Any, dead_letter_url: str, queue_url: str) -> int:
    """Move every message from the dead-letter queue back, one batch at a time; returns how many."""
    moved = 0
    while True:
        messages = sqs.receive_message(QueueUrl=dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def redrive_local(local_dir: Path) -> None:
    stack, _ = _local_stack(local_dir)
    _, sqs = stack_clients(local_dir, stack)
    say(f"move {stack['dead_letter_queue_url']} -> {stack['queue_url']}")
    print(f"moved {redrive_queue(sqs, stack['dead_letter_queue_url'], stack['queue_url'])} message(s)")


def _local_stack(local_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What `make run` wrote: its endpoints, and the emulator's keys."""
    stack_file = local_dir / "stack.json"
    if not stack_file.exists():
        raise SystemExit(f"{stack_file} is missing: start the local stack with `make run` first")
    return json.loads(stack_file.read_text()), json.loads((local_dir / "secrets.json").read_text())


def reconcile_local(local_dir: Path) -> None:
    """The reconcile function's handler, in this process, with the local stack's settings."""
    from local_stack.functions import LambdaContext, handler_environment, load_function, sample_event

    stack, keys = _local_stack(local_dir)
    handler_environment(stack["database_url"], stack["s3_endpoint"], stack["bucket"], stack["region"], keys)
    say(f"invoke functions/reconcile_storage with events/reconcile_storage/scheduled.json on {stack['bucket']}")
    event = sample_event("reconcile_storage", "scheduled")
    report = load_function("reconcile_storage", "reconcile_storage").lambda_handler(event, LambdaContext())
    print(json.dumps(report))


def administer_local(local_dir: Path, event: dict[str, str]) -> None:
    """The administer function's handler, in this process, against the local stack's database."""
    from local_stack.functions import LambdaContext, handler_environment, load_function

    stack, keys = _local_stack(local_dir)
    handler_environment(stack["database_url"], stack["s3_endpoint"], stack["bucket"], stack["region"], keys)
    say(f"invoke functions/administer with {json.dumps(event)}")
    print(json.dumps(load_function("administer", "administer").lambda_handler(event, LambdaContext())))


def sweep_mail_local(local_dir: Path, grace_s: float | None) -> None:
    """The sender's sweep, in this process, with the local stack's mail settings: what is queued
    and was never handed over (or long ago), and what a crash left `sending` longer than the grace
    without SES's Send event, goes to the mail queue again."""
    from local_stack.functions import LambdaContext, handler_environment, load_function

    stack, keys = _local_stack(local_dir)
    handler_environment(stack["database_url"], stack["s3_endpoint"], stack["bucket"], stack["region"], keys)
    os.environ.update(
        {
            "SENDER_ADDRESS": stack["sender_address"],
            "CONFIGURATION_SET": stack["configuration_set"],
            "SENDING_RATE_PER_SECOND": stack["sending_rate_per_second"],
            "MAIL_QUEUE_URL": stack["mail_queue_url"],
            "UPLOAD_PAGE_URL": f"{stack['api_url']}/",
            "VERIFY_PAGE_URL": f"{stack['api_url']}/verify",
        }
    )
    event: dict[str, Any] = {"sweep": True} | ({"grace_s": grace_s} if grace_s is not None else {})
    say(f"invoke functions/send_messages with {json.dumps(event)}")
    print(json.dumps(load_function("send_messages", "send_messages").lambda_handler(event, LambdaContext())))


def smoke(client: ApiClient, timeout_s: float = 90) -> None:
    """The whole path once, as a person would, in an exam of its own, leaving nothing behind."""
    exam_id = nickname = f"smoke-{uuid.uuid4().hex[:8]}"
    say(f"POST {client.url('exams')} ({exam_id}, open for an hour)")
    client.create_exam(exam_id, title="Smoke test")
    try:
        say(f"POST {client.url(f'exams/{exam_id}/students')} ({nickname})")
        created = client.post_student(exam_id, nickname, "Smoke", "Test")
        _expect(created, 201)
        code = created.json()["upload_code"]
        say(f"POST {client.url('submissions/<code>')}, then the form to S3")
        form = client.presign(code, "smoke.txt", "text/plain")
        _expect(form, 201)
        content = f"smoke test {nickname}".encode()
        _expect(client.post_form(form.json(), content, filename="smoke.txt"), 200, 201, 204)
        say(f"GET {client.url('submissions/<code>')} until the upload is recorded")
        try:
            progress = client.wait_until_settled(code, form.json()["upload_id"], timeout_s)
        except TimeoutError as exc:
            raise SystemExit(f"the upload was not recorded: {exc}") from exc
        if progress["current"] is None:
            raise SystemExit(f"the upload was not recorded: {progress['uploads']}")
        say(f"GET {client.url('submissions/<code>')} until its malware scan has ended")
        try:
            progress = client.wait_until_scanned(code, timeout_s)
        except TimeoutError as exc:
            raise SystemExit(f"the file's malware scan did not end: {exc}") from exc
        if progress["current"]["scan"] not in ("clean", None):
            raise SystemExit(f"the malware scan says {progress['current']['scan']}: {progress['current']}")
        say(f"GET {client.url('verifications/<code>/download_url')}, then the file")
        if client.download(progress["current"]["verification_code"]) != content:
            raise SystemExit("the downloaded file differs from the uploaded one")
    finally:
        say(f"DELETE {client.url('exams/' + exam_id)}")
        _expect(client.delete_exam(exam_id), 204)
    print("smoke test passed: exam, student, presign, upload, record, scan, verify, download, delete")


def _expect(response: requests.Response, *statuses: int) -> None:
    if response.status_code not in statuses:
        raise SystemExit(
            f"{response.request.method} {response.url} answered {response.status_code}: {response.text[:300]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["api-key", "redrive", "reconcile", "smoke", "administer", "sweep-mail"])
    parser.add_argument("--grace-s", type=float, help="sweep-mail: re-queue what is sending longer than this (>= 5)")
    parser.add_argument("--event", help="administer: the command, as JSON (events/administer/*.json)")
    parser.add_argument("--stack", help="the CloudFormation stack name")
    parser.add_argument("--local", action="store_true", help="act on the local stack (make run)")
    parser.add_argument("--local-dir", type=Path, default=Path(os.environ.get("LOCAL_DIR", ROOT / ".local")))
    parser.add_argument("--api-url")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    if args.command == "api-key":
        print(api_key_value(args.stack))
    elif args.command == "redrive":
        redrive_local(args.local_dir) if args.local else redrive_aws(args.stack)
    elif args.command == "reconcile":
        reconcile_local(args.local_dir)
    elif args.command == "administer":
        administer_local(args.local_dir, json.loads(args.event))
    elif args.command == "sweep-mail":
        sweep_mail_local(args.local_dir, args.grace_s)
    elif args.api_url and args.api_key:
        smoke(ApiClient(args.api_url, args.api_key))
    else:
        outputs = stack_outputs(args.stack)
        smoke(ApiClient(outputs["ApiUrl"], api_key_value(args.stack)))


if __name__ == "__main__":
    main()
