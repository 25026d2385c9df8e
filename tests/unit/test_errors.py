"""Every refusal the domain can raise reaches the client as its own problem+json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any, cast

import pytest
from exam_depository.api.resolver import build_resolver
from exam_depository.domain import errors
from exam_depository.domain.instants import rfc3339
from pydantic import TypeAdapter

from local_stack.functions import LambdaContext, api_event


def _subclasses(cls: type[errors.DomainError]) -> list[type[errors.DomainError]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


REFUSALS = _subclasses(errors.DomainError)


def test_a_refusal_without_a_status_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="must define status, kind"):

        class Unmapped(errors.DomainError):  # an accident waiting for a KeyError, before
            title = "Unmapped"


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda cls: cls.__name__)
def test_every_refusal_answers_its_status_and_stable_type(refusal: type[errors.DomainError]) -> None:
    app = build_resolver()

    @app.get("/exams")
    def refuse() -> None:
        raise refusal("Some detail.", extra={"opens_at": "2026-12-01T09:00:00Z"})

    response = app.resolve(api_event("list_exams", "first_page"), cast(Any, LambdaContext()))

    body = json.loads(response["body"])
    assert response["statusCode"] == refusal.status == body["status"]
    # A client's mistake, but for the LMS's own failure, told as a gateway's (502, its status in `platform_status`).
    assert 400 <= refusal.status < 500 or refusal is errors.LmsUnavailable
    assert body["type"] == f"urn:exam-depository:problem:{refusal.kind}"
    assert (body["title"], body["detail"], body["opens_at"]) == (refusal.title, "Some detail.", "2026-12-01T09:00:00Z")
    assert response["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]


def test_problem_types_are_unique_per_kind_of_refusal() -> None:
    kinds = [refusal.kind for refusal in REFUSALS]
    assert len(kinds) == len(set(kinds))
    assert HTTPStatus.CONFLICT in {refusal.status for refusal in REFUSALS}


def test_an_instant_a_refusal_carries_is_written_as_the_models_write_instants() -> None:
    app = build_resolver()
    opens_at = datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=UTC)

    @app.get("/exams")
    def refuse() -> None:
        raise errors.ExamNotOpen("Not yet.", extra={"opens_at": opens_at, "window": {"due_at": opens_at}})

    body = json.loads(app.resolve(api_event("list_exams", "first_page"), cast(Any, LambdaContext()))["body"])

    assert body["opens_at"] == body["window"]["due_at"] == "2026-12-01T08:00:00.250000Z"


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 12, 14, 8, 0, tzinfo=UTC),
        datetime(2026, 12, 14, 8, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 14, 9, 30, tzinfo=timezone(timedelta(hours=1, minutes=30))),
    ],
)
def test_rfc3339_is_the_text_pydantic_gives_a_utc_instant(instant: datetime) -> None:
    assert rfc3339(instant) == TypeAdapter(datetime).dump_python(instant.astimezone(UTC), mode="json")
