"""LTI through the deployed stack in MiniStack: the test platform on loopback (tests/lti_platform),
registered by API with the examiners' key; a teacher's deep-linking launch places the exam in the
course through the console's session; a learner's launch (HTTP with a cookie jar: login, the
platform's authorization, launch, ticket) hands in through the deployed recorder, and the hand-in
status reaches the platform's gradebook through LtiJobsQueue and the worker.

The tool's URLs are the stage's host-style URL (`PublicBaseUrl`), which Python reaches through the
platform's `localhost_session` (*.localhost at 127.0.0.1, as a browser resolves it)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.deployed.conftest import Deployed
from tests.e2e.conftest import EXAM
from tests.lti_platform.platform import INSTRUCTOR, LEARNER
from tests.lti_platform.server import Platform, localhost_session, running_platform
from tests.waiting import wait_until

COURSE = "physics-101"
PDF = b"%PDF-1.4\n% a hand-in from the course\n%%EOF\n"


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with running_platform() as running:
        yield running


def _fragment(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 303, answer.text[:500]
    return {name: values[0] for name, values in parse_qs(urlsplit(answer.headers["Location"]).fragment).items()}


def test_a_learner_launched_from_the_course_hands_in_and_its_gradebook_gets_the_status(
    deployed: Deployed, platform: Platform
) -> None:
    base = deployed.info["browser_api_url"]
    browser = localhost_session()
    # The platform holds the tool's key set as the tool publishes it (its own HTTP client cannot
    # resolve *.localhost)
    key_set = browser.get(f"{base}/lti/jwks.json", timeout=30)
    assert key_set.status_code == 200, key_set.text
    tool = platform.register_tool(base, key_set=key_set.json())
    registered = requests.post(
        deployed.url("/lti/registrations"),
        headers={"x-api-key": deployed.key},
        json=platform.registration_in(tool),
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    platform.add_course(COURSE, "Physics 101")
    platform.add_user("teacher", "Tess", "Teacher", "tess@example.edu")
    platform.add_user("learner", "Lea", "Learner", "lea@example.edu")
    platform.add_member(COURSE, "teacher", [INSTRUCTOR])
    platform.add_member(COURSE, "learner", [LEARNER])

    # A teacher's deep-linking launch: the console's session and the request to choose for
    picking = _fragment(platform.forge_launch(tool, "teacher", deep_link_context=COURSE, browser=browser).post())
    bearer = {"Authorization": f"Bearer {picking['session']}"}
    # The exam's owner invites the teacher, who joins with the session (the picker offers one's own exams)
    invited = deployed.invite(EXAM, "co_examiner", "Tess Teacher")
    assert invited.status_code == 201, invited.text
    joined = requests.post(
        deployed.url(f"/members/invitations/{invited.json()['invitation_code']}"), headers=bearer, timeout=30
    )
    assert joined.status_code in (200, 201), joined.text
    chosen = requests.post(
        deployed.url("/lti/deep-links"),
        headers=bearer,
        json={"request_id": picking["pick"], "exam_id": EXAM},
        timeout=30,
    )
    assert chosen.status_code == 200, chosen.text
    _, (link,) = platform.take_deep_link_response(chosen.json()["jwt"])
    assert link.line_item_id is not None

    # The learner's launch lands on the upload page with a ticket, exchanged for their code
    landing = _fragment(platform.forge_launch(tool, "learner", link, browser=localhost_session()).post())
    redeemed = requests.post(deployed.url("/lti/tickets"), json={"ticket": landing["ticket"]}, timeout=30)
    assert redeemed.status_code == 200, redeemed.text
    deployed.hand_in(redeemed.json()["upload_code"], PDF, until_scanned=False)

    # The recorder queued the status, the worker sent it: one score, as the gradebook received it
    wait_until(lambda: platform.scores(link.line_item_id), timeout_s=180, what="the hand-in status at the platform")
    (score,) = platform.scores(link.line_item_id)
    assert (score["userId"], score["activityProgress"], score["gradingProgress"]) == (
        "learner",
        "Submitted",
        "PendingManual",
    )
    assert "scoreGiven" not in score
