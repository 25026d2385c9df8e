"""Every answer is kept until the examiner can collect it: `RetentionDays` after the later of its
upload and its student's cut-off, moved later (never earlier) when the window moves, deleted by
the expiry job at that instant; windows longer than the storage keeps files are refused."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from exam_depository.usecases import checkpoints, expiry

from tests.integration.conftest import Api, Bucket
from tests.waiting import wait_until

Record = Callable[..., dict[str, Any]]
RETENTION = timedelta(days=3)  # template.yaml's default RetentionDays


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _hand_in(api: Api, bucket: Bucket, record: Record, nickname: str, exam_id: str) -> dict[str, Any]:
    student = api.call("get_student", "by_nickname", path_params={"exam_id": exam_id, "nickname": nickname}).body
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"%PDF answers")
    assert record(bucket.notification(form["fields"]["key"], 12))["batchItemFailures"] == []
    current: dict[str, Any] = api.call(
        "get_student", "by_nickname", path_params={"exam_id": exam_id, "nickname": nickname}
    ).body["current"]
    return current


def test_a_file_handed_in_weeks_before_the_deadline_is_kept_until_the_retention_after_the_cutoff(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given an exam due in 17 days, and a file handed in today
    now = datetime.now(UTC)
    cutoff = (now + timedelta(days=17)).replace(microsecond=0)
    api.create_exam("long", due_at=cutoff.isoformat(), cutoff_at=cutoff.isoformat())
    api.create_student("early", exam_id="long")
    current = _hand_in(api, bucket, record, "early", "long")

    # Then it is kept until 3 days after the cut-off, and the exam says when its files go
    assert _instant(current["expires_at"]) == cutoff + RETENTION
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "long"}).body
    assert _instant(exam["files_deleted_from"]) == cutoff + RETENTION

    # And the expiry job leaves it alone 3 days after its upload, and deletes it at its instant
    assert (
        expiry.expire_submissions(
            now + RETENTION + timedelta(minutes=1), checkpoint=checkpoints.sign_checkpoint
        ).expired
        == 0
    )
    assert bucket.keys() != []
    report = expiry.expire_submissions(cutoff + RETENTION, checkpoint=checkpoints.sign_checkpoint)
    assert (report.expired, report.deleted) == (1, 1)
    assert bucket.keys() == []


def test_an_exam_without_files_says_its_files_go_the_retention_after_its_cutoff(api: Api) -> None:
    exam = api.call("get_exam", "by_id").body
    assert _instant(exam["files_deleted_from"]) == _instant(exam["cutoff_at"]) + RETENTION


def test_a_later_cutoff_keeps_files_longer_and_an_earlier_one_never_deletes_them_sooner(
    api: Api, bucket: Bucket, record: Record
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    api.create_exam(
        "moving", due_at=(now + timedelta(days=5)).isoformat(), cutoff_at=(now + timedelta(days=5)).isoformat()
    )
    for nickname in ("ann", "bob"):
        api.create_student(nickname, exam_id="moving")
        _hand_in(api, bucket, record, nickname, "moving")

    def kept_until(nickname: str) -> datetime:
        body = api.call("get_student", "by_nickname", path_params={"exam_id": "moving", "nickname": nickname}).body
        return _instant(body["current"]["expires_at"])

    # When the cut-off moves 20 days out, then back to 10, and bob gets an extension to 30
    later, earlier, extended = (now + timedelta(days=d) for d in (20, 10, 30))
    assert (
        api.call(
            "update_exam", "later_due", path_params={"exam_id": "moving"}, body={"cutoff_at": later.isoformat()}
        ).status
        == 200
    )
    assert (
        api.call(
            "update_exam", "later_due", path_params={"exam_id": "moving"}, body={"cutoff_at": earlier.isoformat()}
        ).status
        == 200
    )
    given = api.call(
        "set_extension",
        "valid",
        path_params={"exam_id": "moving", "nickname": "bob"},
        body={"due_at": extended.isoformat(), "cutoff_at": extended.isoformat()},
    )
    assert given.status == 200, given.body

    # Then each file is kept after the latest cut-off it had, never less
    assert kept_until("ann") == later + RETENTION
    assert kept_until("bob") == extended + RETENTION
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "moving"}).body
    assert _instant(exam["files_deleted_from"]) == later + RETENTION


def test_a_window_longer_than_the_storage_keeps_files_or_already_past_is_refused(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    opens = now - timedelta(hours=1)

    def create(exam_id: str, cutoff: datetime) -> Any:
        body = {"opens_at": opens.isoformat(), "due_at": min(cutoff, now).isoformat(), "cutoff_at": cutoff.isoformat()}
        return api.call("create_exam", "valid", body={"exam_id": exam_id, "title": "T", "timezone": "UTC", **body})

    longest, too_long, past = (
        create("longest", opens + timedelta(days=120)),
        create("too-long", opens + timedelta(days=120, seconds=1)),
        create("past", now - timedelta(seconds=1)),
    )

    assert longest.status == 201, longest.body
    assert (too_long.status, past.status) == (422, 422)
    assert "at most 120 days after the exam opens" in too_long.body["detail"]
    assert too_long.body["max_window_days"] == 120
    assert "already past" in past.body["detail"]
    patch = api.call(
        "update_exam",
        "later_due",
        path_params={"exam_id": "longest"},
        body={
            "cutoff_at": (now - timedelta(minutes=1)).isoformat(),
            "due_at": (now - timedelta(minutes=2)).isoformat(),
        },
    )
    assert patch.status == 422
    assert "already past" in patch.body["detail"]
    assert (
        api.call("update_exam", "later_due", path_params={"exam_id": "longest"}, body={"title": "Renamed"}).status
        == 200
    )

    # A file handed in: the exam's opening moved later cannot stretch the window past it
    api.create_student("ann", exam_id="longest")
    _hand_in(api, bucket, record, "ann", "longest")
    moved = api.call(
        "update_exam",
        "later_due",
        path_params={"exam_id": "longest"},
        body={
            "opens_at": (now + timedelta(days=10)).isoformat(),
            "cutoff_at": (now + timedelta(days=125)).isoformat(),
            "due_at": (now + timedelta(days=11)).isoformat(),
        },
    )
    assert moved.status == 422
    assert "first file of the exam" in moved.body["detail"]


def test_a_cutoff_moved_while_a_file_is_being_recorded_keeps_that_file_too(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given a recording in flight: it holds the student's lock and read the old cut-off
    now = datetime.now(UTC).replace(microsecond=0)
    old_cutoff, new_cutoff = now + timedelta(days=5), now + timedelta(days=20)
    api.create_exam("racing", due_at=old_cutoff.isoformat(), cutoff_at=old_cutoff.isoformat())
    api.create_student("ann", exam_id="racing")
    _hand_in(api, bucket, record, "ann", "racing")
    with psycopg.connect(database_url) as recorder, ThreadPoolExecutor(1) as examiner:
        recorder.execute("SELECT id FROM student WHERE nickname = 'ann' FOR UPDATE")

        # When the examiner moves the cut-off later meanwhile
        patch = examiner.submit(
            api.call,
            "update_exam",
            "later_due",
            path_params={"exam_id": "racing"},
            body={"cutoff_at": new_cutoff.isoformat()},
        )
        _wait_until_waiting_for_a_lock(database_url)
        # and the recording commits a file kept under the old cut-off
        recorder.execute(
            """WITH copied AS (
                 INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                                     version_id)
                 SELECT gen_random_uuid(), student_id, object_key || '.2', filename, content_type, form_expires_at,
                        'recorded', 'v2' FROM upload LIMIT 1 RETURNING id, student_id, issue_seq)
               INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                       size_bytes, sha256, submitted_at, expires_at, status, late)
               SELECT c.id, c.student_id, c.issue_seq, 'RACING', 'a.pdf', 'application/pdf', 4, repeat('b', 64), now(),
                      %s, 'superseded', false FROM copied c""",
            (old_cutoff + RETENTION,),
        )
        recorder.commit()
        assert patch.result(timeout=60).status == 200

    # Then that file is kept after the new cut-off too
    with psycopg.connect(database_url) as conn:
        kept = conn.execute("SELECT expires_at FROM submission WHERE verification_code = 'RACING'").fetchone()
    assert kept == (new_cutoff + RETENTION,)


def _wait_until_waiting_for_a_lock(database_url: str) -> None:
    """Until a request of the product waits for a row lock (bounded: a state, never a sleep's length)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        wait_until(
            lambda: conn.execute(
                """SELECT 1 FROM pg_stat_activity
                   WHERE application_name = 'exam-depository' AND wait_event_type = 'Lock'"""
            ).fetchone(),
            timeout_s=60,
            what="the change waiting for the recording's lock",
        )
