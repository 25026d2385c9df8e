"""`python -m tests.lti_platform --stack .local/stack.json` (make lti-platform): the test platform on
loopback, registered with the running local stack by its examiner key, with a course of a teacher
and two learners, to try LTI by hand. Ctrl-C stops it."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import requests

from tests.lti_platform.platform import INSTRUCTOR, LEARNER
from tests.lti_platform.registration import RegisteringPlatform

COURSE = "demo-101"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", type=Path, default=Path(".local/stack.json"), help="the local stack's stack.json")
    stack = json.loads(parser.parse_args().stack.read_text())
    platform = RegisteringPlatform().start()
    tool = platform.register_tool(
        stack["api_url"],
        login_url=stack["lti_login_url"],
        launch_url=stack["lti_launch_url"],
        jwks_url=stack["lti_jwks_url"],
    )
    made = requests.post(
        f"{stack['api_url']}/lti/registrations",
        json=platform.registration_in(tool),
        headers={"x-api-key": stack["api_key"]},
        timeout=30,
    )
    made.raise_for_status()
    platform.add_course(COURSE, "Demo course")
    for user, given, family, roles in (
        ("teacher", "Tom", "Teacher", [INSTRUCTOR]),
        ("ann", "Ann", "Lee", [LEARNER]),
        ("bo", "Bo", "Chen", [LEARNER]),
    ):
        platform.add_user(user, given, family, f"{user}@example.edu")
        platform.add_member(COURSE, user, roles)
    print(
        f"""LMS on {platform.issuer}, registered with the stack (client {tool.client_id}).
  As the teacher (add an exam to the course): {platform.course_url(COURSE, "teacher")}
  As a learner, once an exam is in the course:  {platform.course_url(COURSE, "ann")}
  Dynamic registration: {platform.url("/admin/add-tool?url=")}<the console's registration URL>
Ctrl-C stops it.""",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        platform.stop()


if __name__ == "__main__":
    main()
