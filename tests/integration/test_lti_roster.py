"""The roster read from the course's class list (NRPS) through `POST /exams/{exam_id}/lti/roster-sync`:
the tool gets a token, reads every page the platform links (`rel="next"`), adds the learners it does
not know, marks those the course no longer lists as having left (never deleting them), and answers
its report. The platform is the test platform on loopback, over HTTP."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from exam_depository.usecases import lti_services
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, Api
from tests.integration.lti_course import COURSE, Course, course_fixture, tool_key_fixture  # noqa: F401
from tests.lti_platform.platform import INSTRUCTOR, LEARNER, TEACHING_ASSISTANT


def enrol(course: Course, count: int, *, start: int = 1) -> list[str]:
    """`count` learners in the course, named learner-<n> (Student <n>), each with an address."""
    subs = []
    for n in range(start, start + count):
        sub = f"learner-{n:02d}"
        course.platform.add_user(sub, "Student", f"Number{n:02d}", f"student{n:02d}@example.edu")
        course.platform.add_member(COURSE, sub, [LEARNER])
        subs.append(sub)
    return subs


def sync(api: Api) -> dict[str, Any]:
    answer = api.call("lti_admin", "roster_sync", path_params={"exam_id": EXAM})
    assert answer.status == 200, answer.body
    [report] = answer.body["links"]
    return dict(report)


def roster(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            """SELECT s.nickname, s.first_name, s.last_name, s.email, l.joined_via, l.left_at
                 FROM student s JOIN lti_learner l ON l.student_id = s.id ORDER BY s.nickname"""
        ).fetchall()
    return {row["nickname"]: row for row in rows}


def test_a_sync_adds_the_learners_and_only_them_across_the_platforms_pages(
    api: Api, course: Course, clean_database: str
) -> None:
    # Given a course of 31 members over 3 pages: 28 learners, an instructor, a TA, an administrator
    course.platform.page_size = 12
    enrol(course, 28)
    for sub, roles in (
        ("teacher", [INSTRUCTOR]),
        ("assistant", [TEACHING_ASSISTANT]),
        ("admin", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"]),
    ):
        course.platform.add_user(sub, sub.title(), "Staff")
        course.platform.add_member(COURSE, sub, roles)

    report = sync(api)

    assert report["status"] == "done", report
    assert (report["members"], len(report["added"]), report["not_learners"]) == (31, 28, 3)
    assert report["left"] == []
    assert report["trigger"] == "console"
    assert report["course"] == "Physics 101"
    entries = roster(clean_database)
    assert len(entries) == 28
    assert {row["joined_via"] for row in entries.values()} == {"sync"}
    assert entries["student.number01"]["email"] == "student01@example.edu"
    # And its report is the course's last sync in the exam's LMS state
    state = api.call("lti_admin", "exam", path_params={"exam_id": EXAM}).body
    assert state["links"][0]["last_sync"]["sync_id"] == report["sync_id"]
    # And a second sync with nothing changed changes nothing
    again = sync(api)
    assert (again["added"], again["left"], again["unchanged"]) == ([], [], 28)


def test_a_learner_dropped_is_marked_as_left_keeps_everything_and_joiners_are_added(
    api: Api, course: Course, clean_database: str
) -> None:
    subs = enrol(course, 5)
    assert len(sync(api)["added"]) == 5
    # When the course drops one learner and enrols two
    course.platform.drop_member(COURSE, subs[0])
    enrol(course, 2, start=6)
    report = sync(api)
    # Then the report names them
    assert sorted(a["nickname"] for a in report["added"]) == ["student.number06", "student.number07"]
    assert [x["nickname"] for x in report["left"]] == ["student.number01"]
    assert report["unchanged"] == 4
    # And the one who left is still on the roster, marked, with their code (never deleted)
    entries = roster(clean_database)
    assert len(entries) == 7
    assert entries["student.number01"]["left_at"] is not None
    students = api.call("list_students", "first_page", path_params={"exam_id": EXAM}).body["items"]
    left = next(s for s in students if s["nickname"] == "student.number01")
    assert left["from_lms"] is True
    assert left["left_course_at"] is not None
    # And enrolled again, they rejoin
    course.platform.add_member(COURSE, subs[0], [LEARNER])
    assert [x["nickname"] for x in sync(api)["rejoined"]] == ["student.number01"]
    assert roster(clean_database)["student.number01"]["left_at"] is None


def test_a_course_too_large_fails_the_sync_and_changes_nothing(
    api: Api, course: Course, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    course.platform.page_size = 2
    enrol(course, 7)  # 4 pages
    monkeypatch.setattr(lti_services, "MAX_PAGES", 3)
    report = sync(api)
    assert report["status"] == "failed"
    assert "more than 3 pages" in report["detail"]
    assert roster(clean_database) == {}
    state = api.call("lti_admin", "exam", path_params={"exam_id": EXAM}).body
    assert state["links"][0]["last_sync"]["status"] == "failed"


def test_a_platform_refusing_the_class_list_fails_the_sync_with_its_status(
    api: Api, course: Course, clean_database: str
) -> None:
    enrol(course, 2)
    course.platform.state.courses.pop(COURSE)  # the course is gone at the platform: 404
    report = sync(api)
    assert report["status"] == "failed"
    assert "404" in report["detail"]


def test_an_exam_in_no_course_with_a_class_list_is_409(api: Api, course: Course, clean_database: str) -> None:
    with psycopg.connect(clean_database) as conn:
        conn.execute("UPDATE lti_link SET memberships_url = NULL")
    answer = api.call("lti_admin", "roster_sync", path_params={"exam_id": EXAM})
    assert answer.status == 409
    assert answer.body["type"] == "urn:exam-depository:problem:lti-no-roster-service"
