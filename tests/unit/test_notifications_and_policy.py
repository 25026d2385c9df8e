from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from exam_depository import config, storage
from exam_depository.notifications import objects_created


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
def signing_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("BUCKET_NAME", "exam-bucket")
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    config.reset()
    storage.reset()
    yield
    config.reset()
    storage.reset()


def test_the_upload_policy_pins_key_type_size_and_a_short_expiry(signing_env: None) -> None:
    url, fields = storage.presign_upload("submissions/u/a.pdf", "application/pdf", 3145728, 600)

    assert url == "https://exam-bucket.s3.eu-west-1.amazonaws.com/"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"bucket": "exam-bucket"} in conditions
    assert {"key": "submissions/u/a.pdf"} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert ["content-length-range", 1, 3145728] in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    # Every form field except policy and signature is covered by a condition
    covered = {next(iter(c)) for c in conditions if isinstance(c, dict)}
    assert set(fields) - {"policy", "x-amz-signature"} <= covered
    expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(minutes=9) < expiry <= timedelta(minutes=10)
