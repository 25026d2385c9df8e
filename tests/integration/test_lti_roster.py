"""The roster read from the course's class list (NRPS) through `POST /exams/{exam_id}/lti/roster-sync`:
the tool gets a token, reads every page the platform links (`rel="next"`), adds the learners it does
not know, marks those the course no longer lists as having left (never deleting them), moves a
learner of another course of the exam whom it lists (a change of section), and answers its report.
The platform is the test platform on loopback, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import exam_depository.adapters.db.lti_sync
import psycopg
import pytest
from exam_depository.usecases import lti_services
from psycopg.rows import dict_row

from local_stack.functions import LambdaContext
from tests.faults import printed_metric
from tests.integration.conftest import EXAM, Api, Bucket
from tests.integration.lti_course import COURSE, Course, course_fixture, tool_key_fixture  # noqa: F401
from tests.lti_platform.platform import INSTRUCTOR, LEARNER, TEACHING_ASSISTANT

SECTION_2 = "physics-102"


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
    api: Api, course: Course, clean_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol(course, 2)
    course.platform.state.courses.pop(COURSE)  # the course is gone at the platform: 404
    report = sync(api)
    assert report["status"] == "failed"
    assert "404" in report["detail"]
    assert printed_metric(capsys.readouterr().out, "LtiSyncFailed") == 1  # LtiSyncFailedAlarm's


def test_an_exam_in_no_course_with_a_class_list_is_409(api: Api, course: Course, clean_database: str) -> None:
    with psycopg.connect(clean_database) as conn:
        conn.execute("UPDATE lti_link SET memberships_url = NULL")
    answer = api.call("lti_admin", "roster_sync", path_params={"exam_id": EXAM})
    assert answer.status == 409
    assert answer.body["type"] == "urn:exam-depository:problem:lti-no-roster-service"


def place_in_section_2(course: Course, database_url: str) -> tuple[UUID, str]:
    """The exam placed in a second course of the same platform, "Physics 101, section 2", with a
    gradebook column of its own: its link's id and its line item's id."""
    course.platform.add_course(SECTION_2, "Physics 101, section 2")
    placed = course.platform.add_link(
        SECTION_2, course.tool, "Physics", {"exam_id": EXAM}, line_item_label="Physics: hand-in"
    )
    assert placed.line_item_id is not None
    line_item = course.platform.line_item(placed.line_item_id)
    link_id = uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, context_title,
                   resource_link_id, lineitem_url, memberships_url)
               VALUES (%s, %s, %s, %s, %s, 'Physics 101, section 2', %s, %s, %s)""",
            (
                link_id,
                course.exam_pk,
                course.registration_pk,
                course.tool.deployment_id,
                SECTION_2,
                placed.id,
                course.platform.line_item_url(line_item),
                course.platform.url(f"/courses/{SECTION_2}/memberships"),
            ),
        )
    return link_id, line_item.id


def sync_courses(api: Api) -> dict[str, dict[str, Any]]:
    """Every course of the exam synced (in the order they were placed): each one's report by title."""
    answer = api.call("lti_admin", "roster_sync", path_params={"exam_id": EXAM})
    assert answer.status == 200, answer.body
    return {report["course"]: report for report in answer.body["links"]}


def names(people: list[dict[str, Any]]) -> list[str]:
    return [person["nickname"] for person in people]


def learner_row(database_url: str, nickname: str) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            """SELECT s.id, s.upload_code, l.link_id, l.left_at
                 FROM student s JOIN lti_learner l ON l.student_id = s.id WHERE s.nickname = %s""",
            (nickname,),
        ).fetchone()
    assert row is not None
    return dict(row)


def test_a_learner_who_changes_section_moves_to_it_once_the_old_one_lets_her_go_and_is_scored_there(
    api: Api,
    course: Course,
    bucket: Bucket,
    record: Callable[..., dict[str, Any]],
    handler: Callable[[str], ModuleType],
    clean_database: str,
) -> None:
    # Given the exam in two sections of one platform, and Ann in section 1
    section_2, section_2_item = place_in_section_2(course, clean_database)
    course.platform.add_user("ann", "Ann", "Lee", "ann@example.edu")
    course.platform.add_member(COURSE, "ann", [LEARNER])
    first = sync_courses(api)
    assert names(first["Physics 101"]["added"]) == ["ann.lee"]
    assert first["Physics 101, section 2"]["added"] == []

    # When Ann moves to section 2 (section 1 is synced first: it lets her go, section 2 takes her)
    course.platform.drop_member(COURSE, "ann")
    course.platform.add_member(SECTION_2, "ann", [LEARNER])
    second = sync_courses(api)

    # Then she is section 2's learner, no longer marked as having left, and section 2's report has her back
    ann = learner_row(clean_database, "ann.lee")
    assert (ann["link_id"], ann["left_at"]) == (section_2, None), second
    assert names(second["Physics 101, section 2"]["rejoined"]) == ["ann.lee"]
    assert second["Physics 101, section 2"]["added"] == []

    # When she hands in: the status goes to section 2's gradebook column, not section 1's
    form = api.request_upload(ann["upload_code"]).body
    bucket.upload(form, b"%PDF-1.7 answers")
    assert record(bucket.notification(form["fields"]["key"], 16)) == {"batchItemFailures": []}
    with psycopg.connect(clean_database) as conn:
        scores = conn.execute("SELECT id, link_id FROM lti_score").fetchall()
    assert [link for _, link in scores] == [section_2]
    jobs = [
        {"messageId": f"m-{score_id}", "receiptHandle": "r", "body": json.dumps({"kind": "score", "id": str(score_id)})}
        for score_id, _ in scores
    ]
    assert handler("lti_worker").lambda_handler({"Records": jobs}, LambdaContext())["batchItemFailures"] == []
    assert [score["userId"] for score in course.platform.scores(section_2_item)] == ["ann"]
    assert course.platform.scores(course.line_item_id) == []

    # When she moves back, section 1 synced first: section 2 still holds her (as far as section 1
    # knows, both list her), so it leaves her there; section 2, which no longer lists her, lets her go
    course.platform.drop_member(SECTION_2, "ann")
    course.platform.add_member(COURSE, "ann", [LEARNER])
    third = sync_courses(api)
    assert third["Physics 101"]["rejoined"] == []
    assert names(third["Physics 101, section 2"]["left"]) == ["ann.lee"]
    # Then section 1's next sync takes her back
    fourth = sync_courses(api)
    assert names(fourth["Physics 101"]["rejoined"]) == ["ann.lee"]
    assert fourth["Physics 101, section 2"]["left"] == []
    ann = learner_row(clean_database, "ann.lee")
    assert (ann["link_id"], ann["left_at"]) == (course.link_id, None)


def test_a_learner_listed_by_both_courses_is_not_moved_by_every_sync(
    api: Api, course: Course, clean_database: str
) -> None:
    # Given Ann listed by both courses of the exam (cross-listed sections, a lecture and its lab)
    place_in_section_2(course, clean_database)
    course.platform.add_user("ann", "Ann", "Lee", "ann@example.edu")
    course.platform.add_member(COURSE, "ann", [LEARNER])
    course.platform.add_member(SECTION_2, "ann", [LEARNER])
    sync_courses(api)
    where = learner_row(clean_database, "ann.lee")["link_id"]
    assert where == course.link_id  # the course that listed her first

    # When nothing changes in the LMS: the next syncs change nothing and report nothing
    for _ in range(2):
        again = sync_courses(api)
        assert [(r["rejoined"], r["left"]) for r in again.values()] == [([], []), ([], [])], again
        assert learner_row(clean_database, "ann.lee")["link_id"] == where


@pytest.mark.parametrize("given", ["Bob\x00", "Bob\ud800"], ids=["nul", "lone-surrogate"])
def test_a_class_list_name_or_address_that_cannot_be_stored_is_left_out_and_the_member_added(
    api: Api, course: Course, clean_database: str, given: str
) -> None:
    # The platform sends Bob's given name (and his full name) and his address holding a NUL or a
    # lone surrogate (JSON carries them, nothing stores them): they are left out, not a 500
    course.platform.add_user("bob", given, "Lee", "bob\x00@example.edu")
    course.platform.add_member(COURSE, "bob", [LEARNER])
    report = sync(api)
    assert report["status"] == "done", report
    [bob] = roster(clean_database).values()
    assert (bob["first_name"], bob["last_name"], bob["email"]) == ("Student", "Lee", None)


def test_a_sync_failing_unexpectedly_ends_as_failed_alarms_and_says_only_the_failures_type(
    api: Api,
    course: Course,
    clean_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    enrol(course, 2)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("Student Number01 <student01@example.edu>")  # text that may name someone

    monkeypatch.setattr(exam_depository.adapters.db.lti_sync, "apply_sync", broken)
    answer = api.call("lti_admin", "roster_sync", path_params={"exam_id": EXAM})
    assert answer.status == 500  # re-raised: the route answers as before, the worker's SQS retry stays
    with psycopg.connect(clean_database, row_factory=dict_row) as conn:
        [row] = conn.execute("SELECT status, detail, finished_at, report FROM lti_sync").fetchall()
    assert (row["status"], row["detail"]) == ("failed", "RuntimeError")
    assert row["finished_at"] is not None  # not shown as still running
    assert row["report"]["status"] == "failed"
    assert "student01" not in json.dumps(row["report"])
    assert printed_metric(capsys.readouterr().out, "LtiSyncFailed") == 1  # LtiSyncFailedAlarm's
    assert roster(clean_database) == {}
