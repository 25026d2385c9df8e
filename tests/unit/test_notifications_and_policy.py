from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exam_depository import config
from exam_depository.adapters import aws, storage
from exam_depository.adapters.storage import objects_created


def test_keys_are_url_decoded_and_non_create_events_skipped() -> None:
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Post",
                "eventTime": "2026-11-25T09:16:40.512Z",
                "s3": {"object": {"key": "submissions/u/My+answers+%E2%80%93+v2%2B.pdf", "size": 5, "sequencer": "0A"}},
            },
            {"eventName": "ObjectRemoved:Delete", "eventTime": "2026-11-25T09:16:41Z", "s3": {"object": {"key": "x"}}},
        ]
    }
    (created,) = objects_created(body)
    assert created.key == "submissions/u/My answers – v2+.pdf"
    assert created.event_time == datetime(2026, 11, 25, 9, 16, 40, 512000, tzinfo=UTC)


def test_the_s3_test_event_has_nothing_to_record() -> None:
    assert objects_created({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []


@pytest.fixture
def signing_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("BUCKET_NAME", "exam-bucket")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    config.reset()
    aws.reset()
    yield
    config.reset()
    aws.reset()


def test_the_upload_policy_pins_key_type_size_and_a_short_expiry(signing_env: None) -> None:
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=600)
    disposition = "attachment; filename=\"a.pdf\"; filename*=UTF-8''a.pdf"
    url, fields = storage.presign_upload(
        "submissions/u/a.pdf",
        content_type="application/pdf",
        content_disposition=disposition,
        max_bytes=3145728,
        expires_at=expires_at,
    )

    assert url == "https://exam-bucket.s3.eu-west-1.amazonaws.com/"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": "exam-bucket"} in conditions
    assert {"key": "submissions/u/a.pdf"} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"Content-Disposition": disposition} in conditions  # S3 serves it with every GET
    assert ["content-length-range", 1, 3145728] in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    # Every form field except policy and signature is covered by a condition
    covered = {next(iter(c)) for c in conditions if isinstance(c, dict)}
    assert set(fields) - {"policy", "x-amz-signature"} <= covered
    expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert expires_at - timedelta(seconds=1) <= expiry <= expires_at  # never later than the form's expiry


@pytest.mark.parametrize(
    ("variables", "url", "origin"),
    [
        ({}, "https://exam-bucket.s3.eu-west-1.amazonaws.com/", "https://exam-bucket.s3.eu-west-1.amazonaws.com"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, "http://127.0.0.1:4566/exam-bucket", "http://127.0.0.1:4566"),
        ({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}, "http://127.0.0.1:9/exam-bucket", "http://127.0.0.1:9"),
        (
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"},
            "http://127.0.0.1:9/exam-bucket",
            "http://127.0.0.1:9",
        ),
    ],
    ids=["aws", "any service", "s3", "s3 wins"],
)
def test_the_s3_client_honours_the_sdks_endpoint_variables(
    signing_env: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str, origin: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    config.reset()
    aws.reset()
    expires_at = datetime.now(UTC) + timedelta(seconds=60)
    form_url, _ = storage.presign_upload(
        "k", content_type="text/plain", content_disposition="attachment", max_bytes=10, expires_at=expires_at
    )
    assert form_url == url
    assert storage.upload_origin() == origin


def test_a_notification_names_its_version_and_a_pre_versioning_object_is_the_null_version() -> None:
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Post",
        "eventTime": "2026-11-25T09:16:40.512Z",
        "s3": {"object": {"key": "submissions/u/a.pdf", "size": 5, "sequencer": "0A", "versionId": "3sL4kqtJ"}},
    }
    (versioned,) = objects_created({"Records": [record]})
    del record["s3"]["object"]["versionId"]
    (unversioned,) = objects_created({"Records": [record]})
    assert (versioned.version_id, unversioned.version_id) == ("3sL4kqtJ", "null")
