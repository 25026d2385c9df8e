"""Handlers invoked in-process with the events of events/, against PostgreSQL and moto."""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus, urlsplit

import boto3
import psycopg
import psycopg.sql
import pytest
from aws_lambda_powertools.utilities import parameters
from exam_depository import config
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import db, sessions, signing
from exam_depository.usecases import recorder, reviewer
from moto import mock_aws

from local_stack.functions import (
    LambdaContext,
    api_event,
    load_function,
    read_template,
    sample_event,
    template_environment,
)

REGION = "eu-west-1"
BUCKET = "exam-depository-test-submissions"
API_KEY = "local-example-key-not-a-secret"
NOTIFICATIONS_QUEUE = "submission-events"


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any


def _secret_for(database_url: str) -> dict[str, Any]:
    """The RDS secret format, pointing at the test database (a Unix socket directory here)."""
    parts = urlsplit(database_url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if pair)
    return {
        "engine": "postgres",
        "host": query.get("host") or parts.hostname,
        "port": parts.port or 5432,
        "username": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": parts.path.lstrip("/"),
        "sslmode": "prefer",
    }


@pytest.fixture(scope="session")
def function_environment() -> dict[str, str]:
    """The functions' environment: template.yaml's Globals, with test values for what only AWS has.
    Read once: parsing the template was half of what each test's setup cost."""
    return template_environment(
        read_template(),
        {
            "DB_SECRET_ARN": None,
            # The test secret says where the database is, as a given secret in the RDS format does.
            "DB_HOST": None,
            "DB_PORT": None,
            "DB_NAME": None,
            "BUCKET_NAME": BUCKET,
            "DEPLOYMENT_NAME": "exam-depository-test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, clean_database: str, function_environment: dict[str, str]) -> Iterator[None]:
    """moto for S3, Secrets Manager, KMS and SQS; the database reached through the secret, as
    deployed. Every test starts from nothing (moto resets its backends when it starts) and gets a
    bucket, a secret, a signing key and a queue of its own.

    One boto3 session serves the run (moto's default is a fresh one per test): a fresh session
    reads botocore's endpoints and service models from disk again, 50 to 90 ms for each service a
    test touches. It holds nothing a test sets: the credentials it caches are the same test values
    in every test, and the clients, which tests do change, are made again in each (the product's
    are dropped with its caches below)."""
    for name, value in function_environment.items():
        monkeypatch.setenv(name, value)
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="exam-depository/database", SecretString=json.dumps(_secret_for(clean_database))
        )
        monkeypatch.setenv("DB_SECRET_ARN", secret["ARN"])
        key = boto3.client("kms", region_name=REGION).create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
        monkeypatch.setenv("RECEIPT_KEY_ID", key["KeyMetadata"]["Arn"])
        sqs = boto3.client("sqs", region_name=REGION)
        monkeypatch.setenv("EXPORT_QUEUE_URL", sqs.create_queue(QueueName="export-jobs")["QueueUrl"])
        # The notifications' queue, with the template's visibility timeout: the recorder shortens
        # it for the messages it fails.
        notifications = sqs.create_queue(QueueName=NOTIFICATIONS_QUEUE, Attributes={"VisibilityTimeout": "180"})
        monkeypatch.setenv("SUBMISSION_QUEUE_URL", notifications["QueueUrl"])
        _reset_caches()
        yield
        _reset_caches()


@pytest.fixture
def lti_keys(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LTI tool's RSA key and the sessions' ECC key in moto's KMS (made only where a test asks:
    an RSA key costs moto tens of milliseconds), and the tests' platform on loopback allowed."""
    kms = boto3.client("kms", region_name=REGION)
    tool_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    session_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("LTI_TOOL_KEY_ID", tool_key)
    monkeypatch.setenv("LTI_TOOL_PREVIOUS_KEY_IDS", "")
    monkeypatch.setenv("LTI_SESSION_KEY_ID", session_key)
    monkeypatch.setenv("LTI_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    _reset_caches()


def _reset_caches() -> None:
    config.reset()
    db.reset()
    aws_clients.reset()
    signing.reset()
    sessions.reset()
    recorder.reset()
    reviewer.reset()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped
    # The LTI adapters' caches (their keys, the platforms' key sets), loaded only if a test used them.
    for name in (
        "exam_depository.adapters.lti_keys",
        "exam_depository.adapters.lti_tool",
        "exam_depository.adapters.sessions",
    ):
        module = sys.modules.get(name)
        if module is not None:
            module.reset()


@pytest.fixture(scope="session")
def handler() -> Callable[[str], ModuleType]:
    """Import functions/<name>/app.py as Lambda would, each under a module name of its own."""
    loaded: dict[str, ModuleType] = {}

    def load(name: str) -> ModuleType:
        if name not in loaded:
            loaded[name] = load_function(name, f"function_{name}")
        return loaded[name]

    return load


def _response(result: dict[str, Any]) -> ApiResponse:
    headers = {name: values[0] for name, values in (result.get("multiValueHeaders") or {}).items()}
    headers.update(result.get("headers") or {})
    text = result.get("body") or ""
    parsed = json.loads(text) if text and "json" in headers.get("Content-Type", "") else text
    return ApiResponse(result["statusCode"], headers, parsed)


EXAMINER = "a1b2c3d4e5"  # the key id of the sample events
OTHER_EXAMINER = "z9y8x7w6v5"
EXAM = "physics-2026-12"  # the exam of the sample events


class Api:
    """Call a route's handler with its sample event, changed where a test says so: as the sample
    events' examiner (or the key `as_key` gives), in their exam unless a test names another."""

    def __init__(self, handler: Callable[[str], ModuleType], api_key_id: str | None = None) -> None:
        self._handler = handler
        self._api_key_id = api_key_id

    def as_key(self, api_key_id: str) -> Api:
        """The same API called with another API key: another examiner, or a member of the exam."""
        return Api(self._handler, api_key_id)

    def call(
        self,
        function: str,
        case: str,
        *,
        path_params: dict[str, str] | None = None,
        body: Any = ...,
        raw_body: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        api_key_id: str | None = None,
    ) -> ApiResponse:
        if path_params is not None and "{exam_id}" in sample_event(function, case)["resource"]:
            path_params = {"exam_id": EXAM} | path_params
        event = api_event(
            function,
            case,
            path_params=path_params,
            body=body,
            raw_body=raw_body,
            query=query,
            headers=headers,
            api_key_id=api_key_id or self._api_key_id,
        )
        return _response(self._handler(function).lambda_handler(event, LambdaContext()))

    def page(
        self, path: str, *, function: str = "serve_pages", stage: str | None = None, query: dict[str, str] | None = None
    ) -> ApiResponse:
        """GET a page or asset route, shaped as API Gateway sends it (stage prefix included)."""
        event = sample_event("serve_pages", "upload_page")
        resource = re.sub(r"/(static|docs)/[^/]+$", r"/\1/{asset}", path)
        asset = path.rsplit("/", 1)[1] if resource != path else None
        event |= {"resource": resource, "path": path, "pathParameters": {"asset": asset} if asset else None}
        if query is not None:
            multi = {name: [value] for name, value in query.items()}
            event |= {"queryStringParameters": query, "multiValueQueryStringParameters": multi}
        event["requestContext"] |= {"resourcePath": resource, "path": f"/{stage}{path}" if stage else path}
        return _response(self._handler(function).lambda_handler(event, LambdaContext()))

    # Shortcuts for the steps most tests take.
    def create_exam(self, exam_id: str = EXAM, *, api_key_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """An exam open since an hour ago and due in an hour, unless `fields` say otherwise."""
        now = datetime.now(UTC)
        body = {
            "exam_id": exam_id,
            "title": "Physics, December 2026",
            "opens_at": (now - timedelta(hours=1)).isoformat(),
            "due_at": (now + timedelta(hours=1)).isoformat(),
            "cutoff_at": (now + timedelta(hours=1)).isoformat(),
            "timezone": "Europe/Paris",
            **fields,
        }
        response = self.call("create_exam", "valid", body=body, api_key_id=api_key_id)
        assert response.status == 201, response.body
        return dict(response.body)

    def create_student(self, nickname: str = "mobrien", *, exam_id: str = EXAM, **fields: str) -> dict[str, Any]:
        body = {"nickname": nickname, "first_name": "Mary-Ann", "last_name": "O'Brien", **fields}
        response = self.call("create_student", "valid", path_params={"exam_id": exam_id}, body=body)
        assert response.status == 201, response.body
        return dict(response.body)

    def invite(self, role: str, *, exam_id: str = EXAM, label: str | None = None) -> dict[str, Any]:
        """An invitation to the exam's members (as its owner): its code, role, label and expiry."""
        body = {"role": role} | ({} if label is None else {"label": label})
        response = self.call("members", "invite", path_params={"exam_id": exam_id}, body=body)
        assert response.status == 201, response.body
        return dict(response.body)

    def redeem(self, invitation_code: str) -> ApiResponse:
        """Join an exam with an invitation's code, as the key this Api calls with."""
        return self.call("members", "redeem", path_params={"invitation_code": invitation_code})

    def join(self, inviter: Api, role: str, *, exam_id: str = EXAM) -> dict[str, Any]:
        """Become a member of `inviter`'s exam with `role`: answers the exam as this key sees it."""
        response = self.redeem(inviter.invite(role, exam_id=exam_id)["invitation_code"])
        assert response.status == 200, response.body
        return dict(response.body)

    def request_upload(self, upload_code: str, filename: str = "answers.pdf") -> ApiResponse:
        return self.call(
            "request_upload",
            "with_filename",
            path_params={"upload_code": upload_code},
            body={"filename": filename, "content_type": "application/pdf"},
        )


def move_window(database_url: str, exam_id: str, **times: datetime) -> None:
    """Given an exam whose window lies where the API would refuse to put it (already past): the
    test creates the exam open and moves its times in the database."""
    assignments = psycopg.sql.SQL(", ").join(
        psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(name), psycopg.sql.Placeholder(name)) for name in times
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            psycopg.sql.SQL("UPDATE exam SET {} WHERE slug = %(slug)s").format(assignments), {**times, "slug": exam_id}
        )


@pytest.fixture
def api(aws: None, handler: Callable[[str], ModuleType]) -> Api:
    """The API, with the sample events' exam created and open."""
    api = Api(handler)
    api.create_exam()
    return api


class Bucket:
    """The student's side of S3 (an upload) and S3's side of the notification."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self._sequencer = 0x0065A8B2C3D4E5F600
        self.latest: dict[str, str] = {}  # key -> the version the last upload made

    def upload(self, form: dict[str, Any], content: bytes) -> str:
        """What the browser's POST does, through the S3 API (moto enforces no POST policy);
        returns the version S3 made."""
        key = form["fields"]["key"]
        stored = self.s3.put_object(Bucket=BUCKET, Key=key, Body=content, ContentType=form["fields"]["Content-Type"])
        self.latest[key] = stored["VersionId"]
        return str(stored["VersionId"])

    def notification(
        self,
        key: str,
        size: int,
        *,
        version_id: str | None = None,
        sequencer: str | None = None,
        event_time: datetime | None = None,
    ) -> dict[str, Any]:
        """An S3 ObjectCreated record as S3 sends it: the key URL-encoded, `+` for spaces, the
        version the last upload of the key made unless told otherwise, S3's time now unless told."""
        if sequencer is None:
            self._sequencer += 1
            sequencer = f"{self._sequencer:018X}"
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventTime": (event_time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "eventName": "ObjectCreated:Post",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                "object": {
                    "key": quote_plus(key, safe="/"),
                    "size": size,
                    "versionId": version_id or self.latest[key],
                    "sequencer": sequencer,
                },
            },
        }

    def versions(self) -> list[tuple[str, str]]:
        """Every stored version (delete markers aside) as (key, version): bytes a delete left behind count."""
        listed = self.s3.list_object_versions(Bucket=BUCKET)
        return sorted((item["Key"], item["VersionId"]) for item in listed.get("Versions", []))

    def keys(self) -> list[str]:
        """The keys that still hold bytes, in any version."""
        return sorted({key for key, _ in self.versions()})

    def read(self, key: str, version_id: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=key, VersionId=version_id)["Body"].read())


@pytest.fixture
def bucket(aws: None) -> Bucket:
    return Bucket()


def sqs_event(*s3_bodies: dict[str, Any]) -> dict[str, Any]:
    """An SQS batch whose messages carry the given S3 notification bodies."""
    template = sample_event("record_submissions", "object_created")["Records"][0]
    records = []
    for index, body in enumerate(s3_bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"message-{index}"
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


@pytest.fixture
def record(handler: Callable[[str], ModuleType], aws: None) -> Callable[..., dict[str, Any]]:
    """Deliver S3 notification records to the record function, one SQS message each."""

    def deliver(*s3_records: dict[str, Any]) -> dict[str, Any]:
        event = sqs_event(*({"Records": [r]} for r in s3_records))
        result: dict[str, Any] = handler("record_submissions").lambda_handler(event, LambdaContext())
        return result

    return deliver


# --- mail --------------------------------------------------------------------------------------

SENDER = "exams@exam-depository.test"


@pytest.fixture
def mail_queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """Mail switched on: a sender address and the mail queue (moto's)."""
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="exam-depository-mail")["QueueUrl"]
    monkeypatch.setenv("SENDER_ADDRESS", SENDER)
    monkeypatch.setenv("MAIL_QUEUE_URL", url)
    config.reset()
    return str(url)


def queued_in_sqs(queue_url: str) -> list[str]:
    """Every message id the mail queue holds (each SQS message's body), taking them off it."""
    sqs = boto3.client("sqs", region_name=REGION)
    ids: list[str] = []
    while True:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not received:
            return ids
        for item in received:
            body = json.loads(item["Body"])
            assert set(body) == {"message_id"}  # no address, code or content travels through SQS
            ids.append(body["message_id"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])
