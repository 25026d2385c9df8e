"""The database's password rotates under the running product (rotation.py: in PostgreSQL and in
RDS's secret, then the role's idle sessions end) and no request a client sees fails: a function
whose cached secret went stale reads it again when PostgreSQL refuses the password."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from local_stack.client import ApiClient
from tests.conftest import FIGURES
from tests.deployed.conftest import Deployed
from tests.deployed.rotation import Rotation, rotate
from tests.e2e.conftest import EXAM
from tests.waiting import wait_until

Route = Callable[[ApiClient], requests.Response]


@pytest.mark.parametrize("through", ["rds", "operator"])
def test_warm_functions_serve_the_first_request_after_a_rotation_with_the_new_password(
    deployed: Deployed, through: Rotation
) -> None:
    # Given a student's, a reviewer's and an examiner's route, each served once: their functions
    # are warm, with a connection open and the secret cached
    student = deployed.create_student(EXAM, f"rotation.{through}.{uuid.uuid4().hex[:6]}")
    code = deployed.hand_in(student["upload_code"], b"%PDF rotated")["current"]["verification_code"]
    routes: dict[str, Route] = {
        "student": lambda client: client.session.get(client.url(f"submissions/{student['upload_code']}"), timeout=60),
        "reviewer": lambda client: client.verification(code),
        "examiner": lambda client: client.exam(EXAM),
    }
    assert {name: route(deployed).status_code for name, route in routes.items()} == dict.fromkeys(routes, 200)

    # When the password is rotated, and their sessions end (so each must connect again, with the
    # password it cached)
    ended = rotate(deployed.database(), through=through)

    # Then one request to each, never retried, is served
    once = ApiClient(deployed.api, deployed.key, session=requests.Session())
    answers = {name: route(once) for name, route in routes.items()}
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(routes, 200), {
        name: answer.text for name, answer in answers.items()
    }
    assert ended >= len(routes)


class Counted503s:
    """Every 503 a retrying client was answered, the ones it retried included (urllib3 keeps them
    in the final response's retry history)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        retries = getattr(response.raw, "retries", None)
        history = retries.history if retries is not None else ()
        seen = sum(1 for attempt in history if attempt.status == 503) + (response.status_code == 503)
        with self.lock:
            self.count += seen


def test_students_hand_in_while_the_password_rotates_twice_and_every_accepted_upload_is_recorded(
    deployed: Deployed,
) -> None:
    # Given students handing in one after another through the client that retries as the pages do
    counted = Counted503s()
    client = ApiClient(deployed.api, deployed.key)
    client.session.hooks["response"].append(counted.hook)
    recorded: list[tuple[str, str]] = []  # (verification code, sha256) of each accepted upload
    failures: list[str] = []
    rotations_done = threading.Event()

    def hand_in_until_the_rotations_are_done() -> None:
        while not (rotations_done.is_set() and len(recorded) >= 6):
            try:
                student = client.create_student(EXAM, f"rotating.{uuid.uuid4().hex[:8]}")
                content = f"%PDF answers {uuid.uuid4()}".encode()
                current = client.hand_in(student["upload_code"], content)["current"]
                assert current is not None
                assert current["sha256"] == hashlib.sha256(content).hexdigest(), current
                recorded.append((current["verification_code"], current["sha256"]))
            except (AssertionError, requests.RequestException, TimeoutError) as failed:
                failures.append(repr(failed))
                return

    students = threading.Thread(target=hand_in_until_the_rotations_are_done, name="students")
    students.start()

    # When the password rotates twice while they do (once each way)
    try:
        rotations: tuple[Rotation, ...] = ("operator", "rds")
        for number, through in enumerate(rotations, start=1):
            # Two more uploads recorded before each: the rotations fall among the students' requests.
            wait_until(lambda: len(recorded) >= 2 * number or failures, timeout_s=120, what="uploads recorded")  # noqa: B023
            rotate(deployed.database(), through=through)
    finally:
        rotations_done.set()
        students.join(300)
    assert not students.is_alive()

    # Then no operation of theirs failed, and every upload S3 accepted is recorded: a reviewer finds it
    assert failures == []
    assert len(recorded) >= 6
    for verification_code, sha256 in recorded:
        found = client.verification(verification_code)
        assert found.status_code == 200, found.text
        assert found.json()["sha256"] == sha256
    FIGURES["rotation under load: uploads recorded while the password rotated twice"] = len(recorded)
    FIGURES["rotation under load: 503 answers the retrying client was given (retried, not asserted)"] = counted.count
