"""The local stack under a burst: each function runs at most as many instances as AWS would run
with the template's defaults, each holding one PostgreSQL connection, so that a class asking for
forms at once meets forms or "busy, retry after", never the database's "too many clients"."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests

from local_stack.functions import concurrency_limits, read_template
from tests.conftest import FIGURES
from tests.e2e.conftest import Stack

# More than the local PostgreSQL's 100 connections: one connection per request would exhaust it.
STUDENTS = 110


def test_a_class_asking_for_forms_at_once_meets_forms_or_busy_and_the_connections_stay_within_budget(
    stack: Stack,
) -> None:
    # Given an exam with more students than the form function has instances, and the database connections
    limits = concurrency_limits(read_template())
    assert limits["request_upload"] is not None
    assert limits["request_upload"] < STUDENTS
    stack.create_exam("burst")
    codes = [stack.create_student("burst", f"burst.{n:03d}")["upload_code"] for n in range(STUDENTS)]
    all_ready = threading.Barrier(STUDENTS, timeout=60)

    def ask_for_a_form(code: str) -> requests.Response:
        all_ready.wait()
        return requests.post(
            stack.url(f"submissions/{code}"),
            json={"filename": "answers.pdf", "content_type": "application/pdf"},
            timeout=60,
        )

    # When they all ask at once
    with ThreadPoolExecutor(STUDENTS) as threads:
        answers = list(threads.map(ask_for_a_form, codes))

    # Then each gets a form, or a busy answer saying when to retry: never an error
    for answer in answers:
        assert answer.status_code in (201, 503), answer.text
        if answer.status_code == 503:
            assert answer.json()["type"].endswith("service-busy")
            assert int(answer.headers["Retry-After"]) >= 1
    assert any(answer.status_code == 201 for answer in answers)
    # and the stack holds no more connections than the functions' instances may
    with psycopg.connect(stack.info["database_url"]) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exam-depository'"
        ).fetchone()
    assert row is not None
    assert 1 <= row[0] <= sum(limit or 0 for limit in limits.values())
    FIGURES["burst of 110 form requests: forms"] = sum(answer.status_code == 201 for answer in answers)
    FIGURES["burst of 110 form requests: busy, retry after"] = sum(answer.status_code == 503 for answer in answers)
    FIGURES["burst of 110 form requests: database connections after"] = row[0]
