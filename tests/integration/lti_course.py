"""An exam placed in a course of the test platform, as registration, deep linking and launches leave
it in the database (those steps are tested on their own): the rows the gradebook's sender and the
roster sync start from, and the tool's key in moto's KMS that signs their token requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import boto3
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import lti_keys, lti_tool
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, REGION
from tests.lti_platform.platform import LEARNER, Tool
from tests.lti_platform.server import Platform, running_platform

COURSE = "physics-101"


@dataclass(frozen=True)
class Course:
    platform: Platform
    tool: Tool
    registration_pk: int
    link_id: UUID
    exam_pk: int
    line_item_id: str


@pytest.fixture(name="tool_key")
def tool_key_fixture(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tool's RS256 key in (moto's) KMS, loopback platforms allowed, no token kept from before."""
    key = boto3.client("kms", region_name=REGION).create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    monkeypatch.setenv("LTI_TOOL_KEY_ID", key["KeyMetadata"]["KeyId"])
    monkeypatch.setenv("LTI_ALLOW_LOOPBACK", "true")
    config.reset()
    lti_keys.reset()
    lti_tool.reset()
    yield
    lti_keys.reset()
    lti_tool.reset()


@pytest.fixture(name="course")
def course_fixture(tool_key: None, api: object, clean_database: str) -> Iterator[Course]:
    """The sample exam placed in the platform's course "Physics 101", with a gradebook column and
    the class list's URL learnt (as a teacher's launch leaves them). A test module imports
    `course_fixture` and `tool_key_fixture` to use it."""
    with running_platform() as platform:
        # The platform holds the tool's key set as given to it (no tool serves it here).
        tool = platform.register_tool("http://127.0.0.1:9", key_set=lti_keys.tool_jwks())
        platform.add_course(COURSE, "Physics 101")
        item = platform.add_link(COURSE, tool, "Physics", {"exam_id": EXAM}, line_item_label="Physics: hand-in")
        assert item.line_item_id is not None
        line_item = platform.line_item(item.line_item_id)
        link_id = uuid4()
        with psycopg.connect(clean_database, row_factory=dict_row) as conn:
            exam = conn.execute(
                """SELECT e.id, m.examiner_id AS owner_id FROM exam e
                   JOIN exam_member m ON m.exam_id = e.id AND m.role = 'owner' WHERE e.slug = %s""",
                (EXAM,),
            ).fetchone()
            assert exam is not None
            registration = conn.execute(
                """INSERT INTO lti_registration (owner_id, issuer, client_id, auth_login_url, auth_token_url,
                       key_set_url, how)
                   VALUES (%s, %s, %s, %s, %s, %s, 'manual') RETURNING id""",
                (
                    exam["owner_id"],
                    platform.issuer,
                    tool.client_id,
                    platform.auth_url,
                    platform.token_url,
                    platform.jwks_url,
                ),
            ).fetchone()
            assert registration is not None
            conn.execute(
                "INSERT INTO lti_deployment (registration_id, deployment_id) VALUES (%s, %s)",
                (registration["id"], tool.deployment_id),
            )
            conn.execute(
                """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, context_title,
                       resource_link_id, lineitems_url, lineitem_url, memberships_url)
                   VALUES (%s, %s, %s, %s, %s, 'Physics 101', %s, %s, %s, %s)""",
                (
                    link_id,
                    exam["id"],
                    registration["id"],
                    tool.deployment_id,
                    COURSE,
                    item.id,
                    platform.url(f"/courses/{COURSE}/lineitems"),
                    platform.line_item_url(line_item),
                    platform.url(f"/courses/{COURSE}/memberships"),
                ),
            )
        yield Course(platform, tool, int(registration["id"]), link_id, int(exam["id"]), line_item.id)


def add_learner(database_url: str, course: Course, student_id: int, sub: str) -> None:
    """A roster entry as a learner's launch ties it to the platform's user."""
    course.platform.add_user(sub, "Ann", "Lee")
    course.platform.add_member(COURSE, sub, [LEARNER])
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        user = conn.execute(
            "INSERT INTO lti_user (registration_id, sub) VALUES (%s, %s) RETURNING id", (course.registration_pk, sub)
        ).fetchone()
        assert user is not None
        conn.execute(
            """INSERT INTO lti_learner (student_id, exam_pk, lti_user_id, link_id, joined_via)
               VALUES (%s, %s, %s, %s, 'launch')""",
            (student_id, course.exam_pk, user["id"], course.link_id),
        )
