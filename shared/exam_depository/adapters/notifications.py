"""S3 event notifications, as they arrive in SQS message bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from exam_depository.adapters.storage import NULL_VERSION
from exam_depository.usecases.submissions import ObjectCreated


def objects_created(body: dict[str, Any]) -> list[ObjectCreated]:
    """The ObjectCreated records of one S3 notification.

    S3 sends an `s3:TestEvent` without Records when the notification is configured, and
    URL-encodes keys (`+` for a space): both are handled here, once. An object written while the
    bucket was not versioned has no `versionId`: S3 calls that version "null".
    """
    created = []
    for record in body.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3_object = record["s3"]["object"]
        created.append(
            ObjectCreated(
                key=unquote_plus(s3_object["key"]),
                version_id=str(s3_object.get("versionId") or NULL_VERSION),
                size_bytes=int(s3_object.get("size", 0)),
                sequencer=str(s3_object["sequencer"]),
                event_time=datetime.fromisoformat(record["eventTime"]),
            )
        )
    return created
