"""Property-based: whatever S3 and SQS do to the notifications, the records keep the rules of docs/DESIGN.md.

Hypothesis draws students with 1..7 uploads each, delivers every notification 1..3 times, in any
order, interleaved across students, in SQS batches of 1..10, through the record function.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_stack.functions import LambdaContext
from tests.conftest import FIGURES
from tests.integration.conftest import BUCKET, Api, Bucket, sqs_event

MAX_ATTEMPTS = 5


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]], list[int]]:
    """(uploads per student, the deliveries as (student, upload) in arrival order, batch sizes)."""
    uploads = draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))
    copies = [
        (student, upload)
        for student, count in enumerate(uploads)
        for upload in range(count)
        for _ in range(draw(st.integers(1, 3)))
    ]
    order = draw(st.permutations(copies))
    sizes = draw(st.lists(st.integers(1, 10), min_size=len(order), max_size=len(order)))
    return uploads, list(order), sizes


def _state(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT u.student_id, u.issue_seq, u.object_key, u.status, x.status AS submission,
                      x.verification_code
               FROM upload u LEFT JOIN submission x ON x.upload_id = u.id ORDER BY u.issue_seq"""
        ).fetchall()
    keys = ("student", "issue_seq", "key", "upload", "submission", "code")
    return [dict(zip(keys, row, strict=True)) for row in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=deliveries())
def test_any_order_of_duplicated_notifications_keeps_every_rule(
    drawn: tuple[list[int], list[tuple[int, int]], list[int]],
    api: Api,
    bucket: Bucket,
    handler: Callable[[str], ModuleType],
    database_url: str,
) -> None:
    uploads, order, sizes = drawn
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE student, upload, submission RESTART IDENTITY CASCADE")
    for key, version in bucket.versions():
        bucket.s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)

    # Every form is issued before anything arrives; every object is stored, then notified
    notifications: dict[tuple[int, int], dict[str, Any]] = {}
    for student, count in enumerate(uploads):
        upload_code = api.create_student(f"s{student}")["upload_code"]
        for upload in range(count):
            form = api.request_upload(upload_code).body
            content = f"student {student} upload {upload}".encode()
            bucket.upload(form, content)
            notifications[(student, upload)] = bucket.notification(form["fields"]["key"], len(content))

    record = handler("record_submissions")
    position = 0
    for size in sizes:
        batch = order[position : position + size]
        if not batch:
            break
        position += size
        result = record.lambda_handler(
            sqs_event(*({"Records": [notifications[item]]} for item in batch)), LambdaContext()
        )
        assert result == {"batchItemFailures": []}
        # No current file is ever deleted, at any moment
        stored = set(bucket.keys())
        assert all(row["key"] in stored for row in _state(database_url) if row["submission"] == "current")
    FIGURES["notifications delivered in shuffled order (hypothesis)"] = FIGURES.get(
        "notifications delivered in shuffled order (hypothesis)", 0
    ) + len(order)

    rows = _state(database_url)
    for student_id in {row["student"] for row in rows}:
        mine = [row for row in rows if row["student"] == student_id]
        recorded = [row for row in mine if row["upload"] == "recorded"]
        # One row per object, the limit kept, the rest rejected
        assert len(recorded) == min(len(mine), MAX_ATTEMPTS)
        assert all(row["upload"] == "rejected" for row in mine if row not in recorded)
        # Exactly one current: the newest recorded upload
        current = [row for row in recorded if row["submission"] == "current"]
        assert [row["issue_seq"] for row in current] == [max(row["issue_seq"] for row in recorded)]
    # Codes are unique; the bucket holds exactly the current files
    codes = [row["code"] for row in rows if row["code"] is not None]
    assert len(codes) == len(set(codes))
    assert set(bucket.keys()) == {row["key"] for row in rows if row["submission"] == "current"}
