"""The reconcile job's comparison of the bucket's versions with the records, case by case (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from exam_depository.adapters.db.uploads import UploadRecord
from exam_depository.adapters.objects import ObjectVersion
from exam_depository.usecases.reconcile import Deletion, Repairs, plan

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
OLD = NOW - timedelta(hours=1)
NEW = NOW - timedelta(minutes=1)


def _version(key: str, version: str = "v1", modified: datetime = OLD, *, marker: bool = False) -> ObjectVersion:
    return ObjectVersion(key=key, version_id=version, size_bytes=10, last_modified=modified, delete_marker=marker)


def _upload(key: str, status: str = "recorded", submission: str | None = "current", **fields: Any) -> UploadRecord:
    values: dict[str, Any] = {
        "upload_id": uuid.uuid5(uuid.NAMESPACE_URL, key),
        "object_key": key,
        "status": status,
        "version_id": None if status == "pending" else "v1",
        "issue_seq": 1,
        "form_expires_at": OLD,
        "object_deleted_at": None,
        "submission_status": submission if status == "recorded" else None,
        "recorded_at": OLD if status == "recorded" else None,
        "expires_at": NOW + timedelta(hours=48) if status == "recorded" else None,
    }
    return UploadRecord(**(values | fields))


def _id(key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, key)


def test_records_and_objects_that_agree_need_nothing() -> None:
    repairs = plan(
        [_version("a"), _version("c", "v9", NEW)],
        [_upload("a"), _upload("b", submission="expired", object_deleted_at=OLD), _upload("c", "pending")],
        listed_at=NOW,
        grace=GRACE,
    )
    assert repairs == Repairs()


def test_an_expired_file_still_stored_is_deleted() -> None:
    repairs = plan([_version("b")], [_upload("b", submission="expired")], listed_at=NOW, grace=GRACE)
    assert repairs.delete == [Deletion("b", "v1", _id("b"))]


def test_an_object_without_an_upload_form_is_deleted_whatever_its_age() -> None:
    assert plan([_version("orphan", "v7", NEW)], [], listed_at=NOW, grace=GRACE).delete == [
        Deletion("orphan", "v7", None)
    ]


def test_an_object_whose_notification_never_came_is_recorded_once_settled() -> None:
    settled, fresh = _version("settled", "v1"), _version("fresh", "v1", NEW)
    repairs = plan(
        [settled, fresh], [_upload("settled", "pending"), _upload("fresh", "pending")], listed_at=NOW, grace=GRACE
    )
    assert repairs.record == [settled]
    assert repairs.delete == []


def test_every_version_of_a_pending_form_goes_to_the_recorder_oldest_first() -> None:
    # The recorder records the first and rejects the others as a reused form.
    first, second = _version("twice", "v1", OLD - timedelta(minutes=5)), _version("twice", "v2", OLD)
    repairs = plan([second, first], [_upload("twice", "pending")], listed_at=NOW, grace=GRACE)
    assert repairs.record == [first, second]


def test_a_second_version_of_a_used_form_is_deleted_and_the_recorded_one_kept() -> None:
    repairs = plan([_version("used", "v1"), _version("used", "v2", NEW)], [_upload("used")], listed_at=NOW, grace=GRACE)
    assert repairs.delete == [Deletion("used", "v2", None)]
    assert repairs.lost == []


def test_rejected_and_superseded_versions_still_stored_are_deleted_even_if_marked_gone() -> None:
    uploads = [
        _upload("rejected", "rejected"),
        _upload("superseded", submission="superseded", object_deleted_at=OLD),
    ]
    repairs = plan([_version("rejected"), _version("superseded")], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.delete == [
        Deletion("rejected", "v1", _id("rejected")),
        Deletion("superseded", "v1", _id("superseded")),
    ]


def test_a_delete_marker_is_removed_and_marks_nothing() -> None:
    repairs = plan([_version("a", "m1", marker=True), _version("a")], [_upload("a")], listed_at=NOW, grace=GRACE)
    assert repairs.delete == [Deletion("a", "m1", None)]
    assert repairs.lost == []


def test_versions_gone_as_intended_are_marked_deleted() -> None:
    uploads = [
        _upload("rejected", "rejected"),
        _upload("superseded", submission="superseded"),
        _upload("lifecycle", submission="expired"),
        _upload("past-expiry", expires_at=NOW - timedelta(hours=1)),
        _upload("already-marked", submission="superseded", object_deleted_at=OLD),
    ]
    repairs = plan([], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.confirm_deleted == [_id("rejected"), _id("superseded"), _id("lifecycle"), _id("past-expiry")]
    assert repairs.lost == []


def test_a_live_submission_without_its_version_is_lost_unless_recorded_during_the_listing() -> None:
    uploads = [_upload("lost"), _upload("just-recorded", recorded_at=NEW), _upload("other-version")]
    repairs = plan([_version("other-version", "v2")], uploads, listed_at=NOW, grace=GRACE)
    assert [upload.object_key for upload in repairs.lost] == ["lost", "other-version"]
    assert repairs.confirm_deleted == []


def test_forms_that_expired_unused_are_dropped_and_live_ones_kept() -> None:
    uploads = [
        _upload("expired-form", "pending"),
        _upload("live-form", "pending", form_expires_at=NOW + timedelta(minutes=5)),
        _upload("just-expired", "pending", form_expires_at=NOW - timedelta(minutes=5)),
        _upload("expired-but-stored", "pending"),
    ]
    repairs = plan([_version("expired-but-stored", "v1", NEW)], uploads, listed_at=NOW, grace=GRACE)
    assert repairs.drop_unused_forms == [_id("expired-form")]


def test_a_superseded_file_kept_for_a_current_one_not_downloadable_is_kept_until_it_no_longer_is() -> None:
    kept = _upload("earlier", submission="superseded", submission_scan="clean", kept_in_place=True)
    assert plan([_version("earlier")], [kept], listed_at=NOW, grace=GRACE) == Repairs()

    still_scanning = _upload("earlier", submission="superseded", submission_scan="scanning", kept_in_place=True)
    assert plan([_version("earlier")], [still_scanning], listed_at=NOW, grace=GRACE) == Repairs()

    done = _upload("earlier", submission="superseded", submission_scan="clean", kept_in_place=False)
    assert plan([_version("earlier")], [done], listed_at=NOW, grace=GRACE).delete == [
        Deletion("earlier", "v1", _id("earlier"))
    ]
