"""Hand-in statuses to the course's gradebook (AGS): the worker claims a queued score, gets a token
from the platform (its client assertion signed by KMS and checked against the tool's key set), posts
the Score to the line item and settles the row by the platform's answer. The platform is the test
platform on loopback, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import boto3
import psycopg
import pytest
from exam_depository import config
from exam_depository.domain.lti import score_of
from exam_depository.usecases import lti_services
from psycopg.rows import dict_row

from local_stack.functions import LambdaContext
from tests.faults import printed_metric
from tests.integration.conftest import REGION, Api
from tests.integration.lti_course import Course, add_learner, course_fixture, tool_key_fixture  # noqa: F401

SUB = "learner-1"
SUBMITTED = datetime(2026, 12, 5, 10, 0, 3, 123000, tzinfo=UTC)


@pytest.fixture
def learner(api: Api, course: Course, clean_database: str) -> int:
    """A student of the exam who came from the course."""
    made = api.create_student("ann.lee", first_name="Ann", last_name="Lee")
    with psycopg.connect(clean_database) as conn:
        row = conn.execute("SELECT id FROM student WHERE nickname = %s", (made["nickname"],)).fetchone()
    assert row is not None
    add_learner(clean_database, course, int(row[0]), SUB)
    return int(row[0])


def queue_score(database_url: str, course: Course, student_id: int, *, submitted_at: datetime = SUBMITTED) -> UUID:
    """A score as the recorder queues it for a recorded file (its payload: `domain.lti.score_of`)."""
    score_id = uuid4()
    payload = score_of(
        user_id=SUB,
        submitted_at=submitted_at,
        late=False,
        filename="answers.pdf",
        size_bytes=180_224,
        attempt=1,
        max_attempts=5,
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO lti_score (id, link_id, student_id, payload) VALUES (%s, %s, %s, %s)",
            (score_id, course.link_id, student_id, json.dumps(payload)),
        )
    return score_id


def deliver(handler: Callable[[str], ModuleType], *score_ids: UUID) -> list[str]:
    """The worker given one SQS batch of score jobs; the message ids it gives back."""
    records = [
        {"messageId": f"m-{score_id}", "receiptHandle": "r", "body": json.dumps({"kind": "score", "id": str(score_id)})}
        for score_id in score_ids
    ]
    answer = handler("lti_worker").lambda_handler({"Records": records}, LambdaContext())
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def score_row(database_url: str, score_id: UUID) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT state, attempts, status_code, detail FROM lti_score WHERE id = %s", (score_id,)
        ).fetchone()
    assert row is not None
    return dict(row)


def audit_actions(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT action FROM audit_event ORDER BY seq").fetchall()]


def test_a_queued_score_reaches_the_line_item_as_sent(
    handler: Callable[[str], ModuleType], course: Course, learner: int, clean_database: str
) -> None:
    score_id = queue_score(clean_database, course, learner)

    assert deliver(handler, score_id) == []

    # The platform holds the Score as the tool sent it: status, not marks
    [received] = course.platform.scores(course.line_item_id)
    assert received == {
        "userId": SUB,
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "timestamp": "2026-12-05T10:00:03.123Z",
        "submission": {"submittedAt": "2026-12-05T10:00:03.123Z"},
        "comment": "Handed in: answers.pdf (176 KiB), attempt 1 of 5.",
    }
    # posted to the line item's path with /scores before its query (as Moodle's ?type_id= needs)
    assert course.platform.state.scores[0].path.endswith("/lineitem/scores?type_id=1")
    assert score_row(clean_database, score_id) | {"detail": None} == {
        "state": "sent",
        "attempts": 1,
        "status_code": 200,
        "detail": None,
    }
    assert "lti.score_sent" in audit_actions(clean_database)
    # And delivered again (an SQS duplicate), nothing more is posted
    assert deliver(handler, score_id) == []
    assert len(course.platform.scores()) == 1


def test_a_score_the_platform_keeps_a_later_one_of_is_superseded(
    handler: Callable[[str], ModuleType], course: Course, learner: int, clean_database: str
) -> None:
    later = queue_score(clean_database, course, learner, submitted_at=SUBMITTED + timedelta(minutes=5))
    assert deliver(handler, later) == []
    earlier = queue_score(clean_database, course, learner)
    assert deliver(handler, earlier) == []
    assert score_row(clean_database, earlier)["state"] == "superseded"
    assert score_row(clean_database, earlier)["status_code"] == 409
    assert [s["timestamp"] for s in course.platform.scores()] == ["2026-12-05T10:05:03.123Z"]


def test_a_platform_that_fails_twice_gets_the_score_on_the_third_delivery(
    handler: Callable[[str], ModuleType], course: Course, learner: int, clean_database: str
) -> None:
    score_id = queue_score(clean_database, course, learner)
    course.platform.force_score_answers(500, 503)
    # Given back to SQS twice, queued again in the table each time
    assert deliver(handler, score_id) == [f"m-{score_id}"]
    assert score_row(clean_database, score_id)["state"] == "queued"
    assert deliver(handler, score_id) == [f"m-{score_id}"]
    assert course.platform.scores() == []
    # Then taken
    assert deliver(handler, score_id) == []
    assert score_row(clean_database, score_id)["state"] == "sent"
    assert score_row(clean_database, score_id)["attempts"] == 3
    assert len(course.platform.scores()) == 1


def test_a_gradebook_column_that_is_gone_fails_the_score_and_says_so_in_the_log(
    handler: Callable[[str], ModuleType],
    course: Course,
    learner: int,
    clean_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    score_id = queue_score(clean_database, course, learner)
    course.platform.force_score_answers(404)
    assert deliver(handler, score_id) == []  # never again: retrying changes nothing
    row = score_row(clean_database, score_id)
    assert (row["state"], row["status_code"], row["detail"]) == ("failed", 404, "the gradebook column is gone")
    assert "lti.score_failed" in audit_actions(clean_database)
    assert printed_metric(capsys.readouterr().out, "LtiScoresFailed") == 1  # LtiScoresFailedAlarm's


def test_the_tick_counts_the_scores_still_unsent_half_an_hour_after_their_recording(
    handler: Callable[[str], ModuleType],
    course: Course,
    learner: int,
    clean_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given two scores unsent (an LMS down): one queued 31 minutes ago, one just now
    late, fresh = (
        queue_score(clean_database, course, learner),
        queue_score(clean_database, course, learner, submitted_at=SUBMITTED + timedelta(minutes=1)),
    )
    with psycopg.connect(clean_database) as conn:
        conn.execute("UPDATE lti_score SET queued_at = now() - interval '31 minutes' WHERE id = %s", (late,))
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="lti-jobs")["QueueUrl"]
    monkeypatch.setenv("LTI_JOBS_QUEUE_URL", queue_url)
    config.reset()
    # When the schedule's tick runs, then LtiScoresUnsettledAlarm's metric counts the late one only
    counts = handler("lti_worker").lambda_handler({"kind": "tick"}, LambdaContext())
    assert counts["unsettled"] == 1
    assert printed_metric(capsys.readouterr().out, "LtiScoresUnsettled") == 1
    assert score_row(clean_database, fresh)["state"] == "queued"


def test_a_token_the_platform_no_longer_honours_is_renewed_once(
    handler: Callable[[str], ModuleType], course: Course, learner: int, clean_database: str
) -> None:
    first = queue_score(clean_database, course, learner)
    assert deliver(handler, first) == []
    # The platform forgets its tokens (a restart, a revocation): the kept one answers 401
    course.platform.revoke_tokens()
    second = queue_score(clean_database, course, learner, submitted_at=SUBMITTED + timedelta(minutes=1))
    assert deliver(handler, second) == []
    assert score_row(clean_database, second)["state"] == "sent"
    assert len(course.platform.scores()) == 2


def test_a_score_whose_hand_off_was_lost_is_sent_after_the_sweep(
    handler: Callable[[str], ModuleType],
    course: Course,
    learner: int,
    clean_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a score queued whose SQS message never came (the recorder's hand-off failed)
    score_id = queue_score(clean_database, course, learner)
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="lti-jobs")["QueueUrl"]
    monkeypatch.setenv("LTI_JOBS_QUEUE_URL", queue_url)
    config.reset()
    # When the tick runs
    counts = lti_services.tick(datetime.now(UTC))
    # Then it is handed to the queue again, and the worker sends it from there
    assert counts["resent"] == 1
    received = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    bodies = [json.loads(message["Body"]) for message in received["Messages"]]
    assert {"kind": "score", "id": str(score_id)} in bodies
    # (and the course's class list, never synced, is due: a sync job beside it)
    assert {"kind": "sync", "link_id": str(course.link_id)} in bodies
    assert deliver(handler, score_id) == []
    assert score_row(clean_database, score_id)["state"] == "sent"


def test_two_workers_with_the_same_score_post_it_once(
    handler: Callable[[str], ModuleType], course: Course, learner: int, clean_database: str
) -> None:
    score_ids = [
        queue_score(clean_database, course, learner, submitted_at=SUBMITTED + timedelta(seconds=n)) for n in range(4)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        given_back = list(pool.map(lambda _: lti_services.send_scores(score_ids), range(2)))
    assert given_back == [[], []]
    # Each score claimed by one worker only: one POST each, one attempt each
    assert course.platform.state.score_posts == len(score_ids)
    assert all(score_row(clean_database, s)["attempts"] == 1 for s in score_ids)
    assert {score_row(clean_database, s)["state"] for s in score_ids} <= {"sent", "superseded"}
