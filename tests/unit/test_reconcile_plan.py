"""The reconcile job's comparison of the bucket with the records, case by case (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exam_depository.reconcile import plan
from exam_depository.storage import ListedObject

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
OLD = NOW - timedelta(hours=1)
NEW = NOW - timedelta(minutes=1)


def _object(key: str, modified: datetime = OLD) -> ListedObject:
    return ListedObject(key=key, size_bytes=10, last_modified=modified)


def _upload(key: str, status: str = "recorded", submission: str | None = "current", **fields: Any) -> dict[str, Any]:
    return {
        "object_key": key,
        "status": status,
        "form_expires_at": OLD,
        "object_deleted_at": None,
        "submission_status": submission if status == "recorded" else None,
        "recorded_at": OLD if status == "recorded" else None,
        "expires_at": NOW + timedelta(hours=48),
        **fields,
    }


def test_records_and_objects_that_agree_need_nothing() -> None:
    repairs = plan(
        [_object("a"), _object("b"), _object("c", NEW)],
        [_upload("a"), _upload("b", submission="expired"), _upload("c", "pending", form_expires_at=NOW)],
        listed_at=NOW,
        grace=GRACE,
    )
    assert repairs == plan([], [], listed_at=NOW, grace=GRACE)


def test_an_object_without_an_upload_form_is_deleted() -> None:
    assert plan([_object("orphan", NEW)], [], listed_at=NOW, grace=GRACE).delete == ["orphan"]


def test_an_object_whose_notification_never_came_is_recorded_once_settled() -> None:
    settled, fresh = _object("settled"), _object("fresh", NEW)
    repairs = plan(
        [settled, fresh], [_upload("settled", "pending"), _upload("fresh", "pending")], listed_at=NOW, grace=GRACE
    )
    assert repairs.record == [settled]


def test_rejected_and_superseded_objects_still_stored_are_deleted_even_if_marked_gone() -> None:
    uploads = [
        _upload("rejected", "rejected"),
        _upload("superseded", submission="superseded", object_deleted_at=OLD),
    ]
    repairs = plan([_object("rejected"), _object("superseded")], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.delete == ["rejected", "superseded"]


def test_objects_gone_as_intended_are_marked_deleted() -> None:
    uploads = [
        _upload("rejected", "rejected"),
        _upload("superseded", submission="superseded"),
        _upload("lifecycle", submission="expired"),
        _upload("past-expiry", expires_at=NOW - timedelta(hours=1)),
        _upload("already-marked", submission="superseded", object_deleted_at=OLD),
    ]
    repairs = plan([], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.confirm_deleted == ["rejected", "superseded", "lifecycle", "past-expiry"]
    assert repairs.lost == []


def test_a_live_submission_without_its_file_is_lost_unless_recorded_during_the_listing() -> None:
    uploads = [_upload("lost"), _upload("just-recorded", recorded_at=NEW)]
    repairs = plan([], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.lost == ["lost"]
    assert repairs.confirm_deleted == []


def test_forms_that_expired_unused_are_dropped_and_live_ones_kept() -> None:
    uploads = [
        _upload("expired-form", "pending"),
        _upload("live-form", "pending", form_expires_at=NOW + timedelta(minutes=5)),
        _upload("just-expired", "pending", form_expires_at=NOW - timedelta(minutes=5)),
    ]
    assert plan([], uploads, listed_at=NOW, grace=GRACE).drop_unused_forms == ["expired-form"]
