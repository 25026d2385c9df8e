"""The wake schedules: an exam's changes keep one one-time schedule per moment in EventBridge
Scheduler (moto's), through the real handlers, and the wake function it invokes uses the database.

moto stores schedules and never fires them: that Scheduler invokes the target at the time, with
the role, and deletes the schedule after (ActionAfterCompletion) is AWS's part; these tests read
what was asked of it and invoke the wake function with the input the schedule carries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import db
from exam_depository.adapters import scheduler as scheduler_adapter
from pydantic import ValidationError

from local_stack.functions import LambdaContext, sample_event
from tests.faults import closed_port, printed_metric
from tests.integration.conftest import EXAM, REGION, Api

GROUP = "exam-depository-test-wakes"
WAKE_FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:exam-depository-test-WakeDatabaseFunction"
WAKE_ROLE = "arn:aws:iam::123456789012:role/exam-depository-test-WakeSchedulerRole"
LEAD = timedelta(minutes=3)


@pytest.fixture
def scheduler(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Scheduler with the stack's group, and the exam functions' wake settings as template.yaml
    gives them to CreateExamFunction and UpdateExamFunction."""
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name=GROUP)
    for name, value in {
        "WAKE_SCHEDULE_GROUP": GROUP,
        "WAKE_LEAD_MINUTES": "3",
        "WAKE_FUNCTION_ARN": WAKE_FUNCTION,
        "WAKE_ROLE_ARN": WAKE_ROLE,
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    return client


@pytest.fixture
def exams(scheduler: Any, handler: Callable[[str], ModuleType]) -> Api:
    return Api(handler)


def _schedules(scheduler: Any) -> dict[str, dict[str, Any]]:
    listed = scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    return {item["Name"]: scheduler.get_schedule(GroupName=GROUP, Name=item["Name"]) for item in listed}


def _wake_time(schedule: dict[str, Any]) -> datetime:
    expression = schedule["ScheduleExpression"]
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    return datetime.fromisoformat(expression.removeprefix("at(").removesuffix(")")).replace(tzinfo=UTC)


def _ahead(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


def test_a_new_exam_wakes_the_database_before_it_opens_and_before_it_is_due(
    exams: Api, scheduler: Any, clean_database: str
) -> None:
    # Given an exam opening tomorrow and due the day after
    opens, due = _ahead(24), _ahead(48)

    # When the examiner creates it
    created = exams.create_exam(opens_at=opens.isoformat(), due_at=due.isoformat(), cutoff_at=_ahead(49).isoformat())

    # Then one schedule per moment fires the lead before it, once, into the wake function
    schedules = _schedules(scheduler)
    exam_pk = _exam_pk(clean_database, created["exam_id"])
    assert set(schedules) == {f"exam-{exam_pk}-opens", f"exam-{exam_pk}-due"}
    opening = schedules[f"exam-{exam_pk}-opens"]
    assert _wake_time(opening) == opens - LEAD
    assert _wake_time(schedules[f"exam-{exam_pk}-due"]) == due - LEAD
    assert opening["ActionAfterCompletion"] == "DELETE"
    assert opening["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert opening["Target"]["Arn"] == WAKE_FUNCTION
    assert opening["Target"]["RoleArn"] == WAKE_ROLE
    assert json.loads(opening["Target"]["Input"]) == {"exam_pk": exam_pk, "moment": "opens"}
    assert json.loads(opening["Target"]["Input"]).keys() == sample_event("wake_database", "before_opening").keys()


def test_moving_the_window_moves_the_wakes_and_closing_or_deleting_removes_them(
    exams: Api, scheduler: Any, clean_database: str
) -> None:
    # Given an exam ahead, with its wakes
    due = _ahead(48)
    exams.create_exam(opens_at=_ahead(24).isoformat(), due_at=due.isoformat(), cutoff_at=_ahead(49).isoformat())
    exam_pk = _exam_pk(clean_database, EXAM)
    assert len(_schedules(scheduler)) == 2

    # When its opening moves to its due time
    moved = exams.call("update_exam", "later_due", body={"opens_at": due.isoformat()})
    assert moved.status == 200, moved.body

    # Then the opening's wake moved, and the due time (the same instant now) is woken for once
    assert set(_schedules(scheduler)) == {f"exam-{exam_pk}-opens"}
    assert _wake_time(_schedules(scheduler)[f"exam-{exam_pk}-opens"]) == due - LEAD

    # When it is closed, no wake is left
    assert exams.call("close_exam", "now").status == 200
    assert _schedules(scheduler) == {}

    # And a deleted exam's wakes go with it
    exams.create_exam(
        "chem-1", opens_at=_ahead(5).isoformat(), due_at=_ahead(6).isoformat(), cutoff_at=_ahead(6).isoformat()
    )
    assert len(_schedules(scheduler)) == 2
    assert exams.call("delete_exam", "by_id", path_params={"exam_id": "chem-1"}).status == 204
    assert _schedules(scheduler) == {}


def test_an_unreachable_scheduler_never_fails_the_examiners_change_and_the_next_change_mends_it(
    exams: Api,
    scheduler: Any,
    clean_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given Scheduler unreachable (nothing listens at its endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SCHEDULER", f"http://127.0.0.1:{closed_port()}")
    aws_clients.reset()
    capsys.readouterr()

    # When the examiner creates an exam ahead
    # (the helper asserts the 201)
    opens = _ahead(24)
    exams.create_exam(opens_at=opens.isoformat(), due_at=_ahead(48).isoformat(), cutoff_at=_ahead(48).isoformat())

    # Then the exam is created and kept, and each wake that failed is counted
    assert exams.call("get_exam", "by_id").status == 200
    assert printed_metric(capsys.readouterr().out, "WakeScheduleFailures") == 2
    monkeypatch.delenv("AWS_ENDPOINT_URL_SCHEDULER")
    aws_clients.reset()
    assert _schedules(scheduler) == {}

    # When Scheduler is back and the examiner changes anything
    assert exams.call("update_exam", "later_due", body={"title": "Physics (final)"}).status == 200

    # Then the wakes are there
    exam_pk = _exam_pk(clean_database, EXAM)
    assert _wake_time(_schedules(scheduler)[f"exam-{exam_pk}-opens"]) == opens - LEAD


@pytest.mark.parametrize(
    ("code", "status", "failed", "put"),
    [
        # A refusal of one schedule (its time passed while the call travelled): the other is put.
        ("ValidationException", 400, ["opens"], ["due"]),
        # Scheduler throttling: the other call would fare no better, and is not made.
        ("ThrottlingException", 429, ["opens", "due"], []),
    ],
)
def test_a_refused_wake_leaves_the_other_moments_wake_and_a_throttling_scheduler_stops_the_rest(
    exams: Api,
    scheduler: Any,
    clean_database: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
    failed: list[str],
    put: list[str],
) -> None:
    # Given Scheduler answering the opening's wake with an error (its own answer, as it sends it)
    calls: list[str] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:  # an answer of its own, or None to go on
        calls.append(params["url_path"].rsplit("/", 1)[-1])  # the request to /schedules/<name>
        if not calls[-1].endswith("-opens"):
            return None
        error = {"Error": {"Code": code, "Message": "refused"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return SimpleNamespace(status_code=status), error

    scheduler_adapter.client().meta.events.register("before-call.scheduler.CreateSchedule", answer)
    capsys.readouterr()

    # When the examiner creates an exam ahead
    try:
        # (the helper asserts the 201: the exam is created)
        exams.create_exam(
            opens_at=_ahead(24).isoformat(), due_at=_ahead(48).isoformat(), cutoff_at=_ahead(48).isoformat()
        )
    finally:
        scheduler_adapter.client().meta.events.unregister("before-call.scheduler.CreateSchedule", answer)

    # Then the wakes Scheduler accepted are there, the others logged and counted
    exam_pk = _exam_pk(clean_database, EXAM)
    assert set(_schedules(scheduler)) == {f"exam-{exam_pk}-{moment}" for moment in put}
    assert calls == [f"exam-{exam_pk}-{moment}" for moment in ["opens", *put]]
    assert printed_metric(capsys.readouterr().out, "WakeScheduleFailures") == len(failed)
    (warning,) = [record for record in caplog.records if "Wake schedules were not changed" in record.getMessage()]
    assert warning.__dict__["schedules"] == [f"exam-{exam_pk}-{moment}" for moment in failed]


def test_without_a_schedule_group_no_scheduler_is_asked(
    aws: None, handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local stack's settings (no group) and no Scheduler at all
    monkeypatch.setenv("AWS_ENDPOINT_URL_SCHEDULER", f"http://127.0.0.1:{closed_port()}")
    aws_clients.reset()

    # When an exam is created, changed and deleted, nothing fails and nothing is counted as failed
    api = Api(handler)
    api.create_exam(opens_at=_ahead(24).isoformat(), due_at=_ahead(48).isoformat(), cutoff_at=_ahead(48).isoformat())
    assert api.call("update_exam", "later_due", body={"title": "Physics (final)"}).status == 200
    assert api.call("delete_exam", "by_id").status == 204


def test_the_wake_function_connects_to_the_database_with_the_schedules_input(
    exams: Api, scheduler: Any, handler: Callable[[str], ModuleType], clean_database: str
) -> None:
    # Given an exam's wake schedule, and no connection of the functions to the database
    exams.create_exam(opens_at=_ahead(24).isoformat(), due_at=_ahead(48).isoformat(), cutoff_at=_ahead(48).isoformat())
    schedule = _schedules(scheduler)[f"exam-{_exam_pk(clean_database, EXAM)}-opens"]
    db.reset()
    with psycopg.connect(clean_database) as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()

    # When Scheduler invokes the wake function with the schedule's input
    handler("wake_database").lambda_handler(json.loads(schedule["Target"]["Input"]), LambdaContext())

    # Then it opened a connection of its own, and keeps it as every function does
    with psycopg.connect(clean_database) as conn:
        opened = conn.execute(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start >= %s""",
            before,
        ).fetchone()
    assert opened == (1,)


def _exam_pk(database_url: str, exam_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM exam WHERE slug = %s", (exam_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_the_scheduler_client_gives_up_as_its_adapter_says(scheduler: Any) -> None:
    # What tests/unit/test_template.py adds up against the exam functions' Timeout is what the
    # client does: one try of at most 1 s to connect and 2 s to read.
    config: Any = scheduler_adapter.client().meta.config  # botocore's stubs declare no attributes
    expected = scheduler_adapter.CLIENT_CONFIG
    assert config.retries == expected["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert (config.connect_timeout, config.read_timeout) == (expected["connect_timeout"], expected["read_timeout"])


def test_a_wake_event_for_no_known_moment_fails_validation_before_the_database_is_used(
    handler: Callable[[str], ModuleType],
) -> None:
    # Given an event that no schedule of ours carries: a moment that is not woken for
    event = sample_event("wake_database", "before_opening") | {"moment": "cutoff"}

    # When it reaches the wake function, Then it is refused, naming the moments there are
    with pytest.raises(ValidationError, match="'opens' or 'due'"):
        handler("wake_database").lambda_handler(event, LambdaContext())
