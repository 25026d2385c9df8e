"""LTI's model in PostgreSQL: a learner launching twice is one student, a class list's sync adds,
marks leavers, lets them rejoin and follows the platform's names, a learner belongs to the course
that last listed or launched them (a change of section), a sync and a launch for the same
user at once make one student, the recorder queues one hand-in status per upload and course (a
replayed notification none, a student from no course no statement), the scores' claim, release
and sweep, and a teacher's `lti:` identity is never made by a key's first call."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import boto3
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import db
from exam_depository.adapters.db import lti, lti_launch, lti_scores, lti_sync
from exam_depository.domain.errors import NotFound
from exam_depository.domain.lti import LaunchFacts
from exam_depository.domain.lti_roster import Member, roster_diff
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, REGION, Api, Bucket

Record = Callable[..., dict[str, Any]]
Conn = psycopg.Connection[dict[str, Any]]
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LINEITEM = "https://lms.example/courses/c1/lineitems/7/lineitem?type_id=3"


@pytest.fixture
def conn(database_url: str, aws: None) -> Iterator[Conn]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


def _connect(url: str) -> Conn:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


class Course:
    """A registration with one deployment, the exam placed in course c1 (with a gradebook column
    and a class list unless told otherwise)."""

    def __init__(self, conn: Conn, *, lineitem: str | None = LINEITEM, issuer: str = "https://lms.example") -> None:
        row = conn.execute(
            """INSERT INTO lti_registration (owner_id, issuer, client_id, auth_login_url, auth_token_url,
                                             key_set_url, how)
               SELECT (SELECT examiner_id FROM examiner_key LIMIT 1), %(iss)s, 'client-1', %(iss)s || '/auth',
                      %(iss)s || '/token', %(iss)s || '/jwks', 'manual'
               RETURNING id""",
            {"iss": issuer},
        ).fetchone()
        assert row is not None
        self.registration_id = int(row["id"])
        conn.execute("INSERT INTO lti_deployment VALUES (%s, 'd1')", (self.registration_id,))
        exam = conn.execute("SELECT id FROM exam WHERE slug = %s", (EXAM,)).fetchone()
        assert exam is not None
        self.exam_pk = int(exam["id"])
        self.link_id = self.place(conn, "c1", lineitem=lineitem)

    def place(self, conn: Conn, context_id: str, *, lineitem: str | None = LINEITEM) -> UUID:
        link_id = uuid.uuid4()
        conn.execute(
            """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, context_title,
                                     lineitem_url, memberships_url)
               VALUES (%s, %s, %s, 'd1', %s, 'Physics 101', %s, 'https://lms.example/memberships')""",
            (link_id, self.exam_pk, self.registration_id, context_id, lineitem),
        )
        return link_id

    def facts(self, sub: str, **changes: Any) -> LaunchFacts:
        facts = LaunchFacts(
            registration_id=self.registration_id,
            deployment_id="d1",
            sub=sub,
            message_type="LtiResourceLinkRequest",
            roles=(LEARNER,),
            context_id="c1",
            context_title="Physics 101",
            resource_link_id="rl-1",
            custom={"exam_id": EXAM, "link": str(self.link_id)},
            given_name="Ann",
            family_name="Lee",
            name=None,
            email=None,
            locale=None,
            ags=None,
            memberships_url=None,
            deep_linking=None,
            target_link_uri="https://tool.example/lti/launch",
        )
        return replace(facts, **changes)

    def launch(self, conn: Conn, sub: str, link_id: UUID | None = None, **changes: Any) -> lti_launch.LearnerOutcome:
        with conn.transaction():
            return lti_launch.learner_for_launch(
                conn,
                self.exam_pk,
                link_id or self.link_id,
                self.facts(sub, **changes),
                email=changes.get("email"),
                email_address=None if changes.get("email") is None else str(changes["email"]).lower(),
                now=datetime.now(UTC),
            )

    def sync(self, conn: Conn, members: list[Member]) -> lti_sync.AppliedSync:
        with conn.transaction():
            diff = roster_diff(members, lti_sync.current_learners(conn, self.link_id))
            emails = {m.sub: (m.email, m.email.lower()) if m.email else None for m in members}
            return lti_sync.apply_sync(conn, self.link_id, diff, emails, datetime.now(UTC))


def _students(conn: Conn) -> list[tuple[str, str, str, str | None, bool | None]]:
    rows = conn.execute(
        """SELECT s.nickname, s.first_name, s.last_name, s.email, l.left_at IS NOT NULL AS left
             FROM student s LEFT JOIN lti_learner l ON l.student_id = s.id ORDER BY s.id"""
    ).fetchall()
    return [(r["nickname"], r["first_name"], r["last_name"], r["email"], r["left"]) for r in rows]


def _member(sub: str, given: str, family: str, *, email: str | None = None, status: str = "Active") -> Member:
    return Member(sub, (LEARNER,), status, given, family, None, email)


def test_a_learner_launching_twice_is_one_student_who_follows_the_platforms_names(api: Api, conn: Conn) -> None:
    course = Course(conn)

    first = course.launch(conn, "u-ann")
    again = course.launch(conn, "u-ann", given_name="Anne", email="Anne@Example.org")

    assert (first.created, again.created, again.rejoined) == (True, False, False)
    assert (again.student_id, again.nickname, again.pseudonym) == (first.student_id, "ann.lee", first.pseudonym)
    assert _students(conn) == [("ann.lee", "Anne", "Lee", "Anne@Example.org", False)]
    # And another learner of the same names gets a nickname of their own; one with no names a stand-in
    other = course.launch(conn, "u-ann-2")
    nameless = course.launch(conn, "u-3", given_name=None, family_name=None)
    assert other.nickname == "ann.lee-2"
    assert nameless.nickname.startswith("student.")
    assert conn.execute("SELECT count(*) AS n FROM lti_user").fetchone() == {"n": 3}
    # And the student has an upload code of their own, as any student
    codes = conn.execute("SELECT upload_code FROM student").fetchall()
    assert len({row["upload_code"] for row in codes}) == 3


def test_a_sync_adds_marks_leavers_lets_them_rejoin_and_follows_names(api: Api, conn: Conn) -> None:
    course = Course(conn)
    course.launch(conn, "u-ann")
    teacher = Member("u-teach", (INSTRUCTOR,), "Active", "Tess", "Teacher", None, None)

    # When the class list holds Ann, Bo and Cy (and a teacher)
    first = course.sync(
        conn, [_member("u-ann", "Ann", "Lee"), _member("u-bo", "Bo", "Chen"), _member("u-cy", "Cy", "Ng"), teacher]
    )
    # Then Bo and Cy are added, Ann matched, the teacher not a student
    assert [s.nickname for s in first.added] == ["bo.chen", "cy.ng"]
    assert (first.left, first.rejoined, first.updated) == ([], [], [])
    assert len(first.subjects) == 2

    # When Bo is dropped, Cy renamed and given an address
    second = course.sync(
        conn, [_member("u-ann", "Ann", "Lee"), _member("u-cy", "Cyrus", "Ng", email="cy@example.org"), teacher]
    )
    assert [s.nickname for s in second.left] == ["bo.chen"]
    assert [(s.nickname, s.first_name) for s in second.updated] == [("cy.ng", "Cyrus")]
    assert _students(conn) == [
        ("ann.lee", "Ann", "Lee", None, False),
        ("bo.chen", "Bo", "Chen", None, True),
        ("cy.ng", "Cyrus", "Ng", "cy@example.org", False),
    ]
    # And the same list again changes nothing
    same = course.sync(
        conn, [_member("u-ann", "Ann", "Lee"), _member("u-cy", "Cyrus", "Ng", email="cy@example.org"), teacher]
    )
    assert (same.added, same.left, same.rejoined, same.updated) == ([], [], [], [])

    # When Bo comes back: they rejoin, as the same student; a launch rejoins a leaver too
    back = course.sync(conn, [_member("u-ann", "Ann", "Lee"), _member("u-bo", "Bo", "Chen")])
    assert [s.nickname for s in back.rejoined] == ["bo.chen"]
    assert [s.nickname for s in back.left] == ["cy.ng"]
    relaunch = course.launch(conn, "u-cy", given_name="Cyrus", family_name="Ng", email="cy@example.org")
    assert (relaunch.created, relaunch.rejoined, relaunch.nickname) == (False, True, "cy.ng")
    assert [row[4] for row in _students(conn)] == [False, False, False]
    synced = conn.execute("SELECT synced_at FROM lti_link WHERE id = %s", (course.link_id,)).fetchone()
    assert synced is not None
    assert synced["synced_at"] is not None


def _course_of(conn: Conn, student_id: int) -> tuple[UUID, bool]:
    row = conn.execute(
        "SELECT link_id, left_at IS NOT NULL AS left FROM lti_learner WHERE student_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return row["link_id"], row["left"]


def test_a_learner_belongs_to_the_course_that_last_listed_or_launched_them(api: Api, conn: Conn) -> None:
    # Given the exam in two sections of one platform, Ann launched from section 1
    course = Course(conn)
    section_2 = course.place(conn, "c2")
    ann = course.launch(conn, "u-ann")

    # When she launches from section 2 (she changed section): one student, section 2's from now on
    again = course.launch(conn, "u-ann", link_id=section_2, context_id="c2")
    assert (again.student_id, again.created, again.rejoined) == (ann.student_id, False, False)
    assert _course_of(conn, ann.student_id) == (section_2, False)
    # And section 1's class list, which no longer names her, does not mark her as having left
    applied = course.sync(conn, [_member("u-bo", "Bo", "Chen")])
    assert ([s.nickname for s in applied.added], applied.left) == (["bo.chen"], [])
    assert _course_of(conn, ann.student_id) == (section_2, False)

    # When the exam is also placed through another platform whose class list names a user of the
    # same id: a user id is its platform's, so that is another student, and Ann stays where she is
    other = Course(conn, issuer="https://other-lms.example")
    elsewhere = other.sync(conn, [_member("u-ann", "Ann", "Lee")])
    assert [s.nickname for s in elsewhere.added] == ["ann.lee-2"]
    assert elsewhere.rejoined == []
    assert _course_of(conn, ann.student_id) == (section_2, False)


def test_a_sync_and_a_launch_for_the_same_user_at_once_make_one_student(
    api: Api, conn: Conn, database_url: str
) -> None:
    course = Course(conn)
    # The sync read its difference before the launch made Ann: it still finds her to add
    diff = roster_diff([_member("u-ann", "Ann", "Lee")], lti_sync.current_learners(conn, course.link_id))
    assert len(diff.add) == 1

    with _connect(database_url) as launching, _connect(database_url) as syncing:
        # When the launch holds the exam's lock and the sync waits for it
        launching_tx = launching.transaction()
        launching_tx.__enter__()
        outcome = lti_launch.learner_for_launch(
            launching, course.exam_pk, course.link_id, course.facts("u-ann"), email=None, email_address=None,
            now=datetime.now(UTC),
        )  # fmt: skip
        applied: list[lti_sync.AppliedSync] = []

        def sync() -> None:
            with syncing.transaction():
                applied.append(lti_sync.apply_sync(syncing, course.link_id, diff, {}, datetime.now(UTC)))

        worker = threading.Thread(target=sync)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), "the sync waits for the launch's lock"
        launching_tx.__exit__(None, None, None)
        worker.join(timeout=30)
        assert not worker.is_alive()

    # Then Ann is one student: the sync found the launch's entry and made none
    assert outcome.created
    assert applied[0].added == []
    assert _students(conn) == [("ann.lee", "Ann", "Lee", None, False)]


def _jobs(url: str) -> list[dict[str, str]]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while received := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for item in received:
            bodies.append(json.loads(item["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
    return bodies


@pytest.fixture
def jobs_queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(boto3.client("sqs", region_name=REGION).create_queue(QueueName="lti-jobs")["QueueUrl"])
    monkeypatch.setenv("LTI_JOBS_QUEUE_URL", url)
    config.reset()
    return url


def _upload(api: Api, bucket: Bucket, code: str, content: bytes = b"%PDF-1.7 answers") -> dict[str, Any]:
    form = api.request_upload(code).body
    bucket.upload(form, content)
    return bucket.notification(form["fields"]["key"], len(content))


def test_the_recorder_queues_one_score_per_upload_and_course_and_hands_it_over(
    api: Api, bucket: Bucket, record: Record, conn: Conn, jobs_queue: str
) -> None:
    course = Course(conn)
    second_course = course.place(conn, "c2")  # the exam is in two courses; Ann came from the first last
    no_column = course.place(conn, "c3", lineitem=None)
    ann = course.launch(conn, "u-ann", link_id=second_course)
    course.launch(conn, "u-ann")  # the same user from the first course: one student, the first course's now
    bo = course.launch(conn, "u-bo", link_id=no_column, given_name="Bo", family_name="Chen")
    api.create_student("plain")
    codes = {
        row["nickname"]: row["upload_code"]
        for row in conn.execute("SELECT nickname, upload_code FROM student").fetchall()
    }

    # When Ann hands in, and the notification is delivered twice
    notification = _upload(api, bucket, codes[ann.nickname])
    assert record(notification) == {"batchItemFailures": []}
    assert record(notification) == {"batchItemFailures": []}

    # Then one score is queued for her course's column, as the gradebook will get it, and handed over once
    scores = conn.execute(
        """SELECT c.id, c.link_id, c.state, c.payload, c.enqueued_at, x.submitted_at
             FROM lti_score c JOIN submission x ON x.upload_id = c.upload_id"""
    ).fetchall()
    assert len(scores) == 1
    (score,) = scores
    assert (score["link_id"], score["state"]) == (course.link_id, "queued")
    assert score["enqueued_at"] is not None
    submitted = score["submitted_at"].astimezone(UTC)
    assert score["payload"] == {
        "userId": "u-ann",
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "timestamp": submitted.strftime("%Y-%m-%dT%H:%M:%S.") + f"{submitted.microsecond // 1000:03d}Z",
        "submission": {
            "submittedAt": submitted.strftime("%Y-%m-%dT%H:%M:%S.") + f"{submitted.microsecond // 1000:03d}Z"
        },
        "comment": "Handed in: answers.pdf (16 bytes), attempt 1 of 5.",
    }
    assert _jobs(jobs_queue) == [{"kind": "score", "id": str(score["id"])}]

    # When a student from a course without a column, and one from no course, hand in: nothing is queued
    assert record(_upload(api, bucket, codes[bo.nickname])) == {"batchItemFailures": []}
    assert record(_upload(api, bucket, codes["plain"])) == {"batchItemFailures": []}
    assert conn.execute("SELECT count(*) AS n FROM lti_score").fetchone() == {"n": 1}
    assert _jobs(jobs_queue) == []

    # When Ann hands in again: a second score, attempt 2
    assert record(_upload(api, bucket, codes[ann.nickname])) == {"batchItemFailures": []}
    comments = conn.execute("SELECT payload->>'comment' AS c FROM lti_score ORDER BY queued_at").fetchall()
    assert [row["c"] for row in comments][-1] == "Handed in: answers.pdf (16 bytes), attempt 2 of 5."


def test_scores_are_claimed_once_released_swept_and_given_up(api: Api, conn: Conn) -> None:
    course = Course(conn)
    ann = course.launch(conn, "u-ann")
    api.create_student("plain")
    code = conn.execute("SELECT upload_code FROM student WHERE id = %s", (ann.student_id,)).fetchone()
    assert code is not None
    upload_id = UUID(api.request_upload(code["upload_code"]).body["upload_id"])
    now = datetime.now(UTC)
    notice = lti.ScoreNotice(upload_id, ann.student_id, now, False, "answers.pdf", 2048, 1, 5)
    with conn.transaction():
        (score_id,) = lti.queue_scores(conn, [notice])
        assert lti.queue_scores(conn, [notice]) == []  # replayed: nothing more

    # When two senders claim it: one gets it, with its line item, registration and owner
    with conn.transaction():
        (claimed,) = lti_scores.claim_scores(conn, [score_id], now)
        assert lti_scores.claim_scores(conn, [score_id], now) == []
    assert (claimed.lineitem_url, claimed.registration.issuer, claimed.registration.deployment_ids) == (
        LINEITEM,
        "https://lms.example",
        ["d1"],
    )
    assert (claimed.owner.exam_pk, claimed.owner.pseudonym, claimed.owner.lti_user) == (
        course.exam_pk,
        ann.pseudonym,
        "u-ann",
    )
    assert claimed.payload["comment"] == "Handed in: answers.pdf (2 KiB), attempt 1 of 5."

    # When the platform was busy: released, claimed again later
    lti_scores.release_scores(conn, [score_id], "503 from the platform")
    (again,) = lti_scores.claim_scores(conn, [score_id], now)
    assert again.id == score_id
    state = lti_sync.exam_lti_state(conn, course.exam_pk)
    assert state.scores == {"queued": 0, "sending": 1, "sent": 0, "superseded": 0, "failed": 0}
    assert [(link.line_item, link.roster_service, link.platform) for link in state.links] == [
        (True, True, "https://lms.example")
    ]

    # When the sender that claimed it died: the sweep queues it again after the grace, and hands it over
    swept = lti_scores.sweep_scores(conn, now + timedelta(minutes=16), timedelta(minutes=15))
    assert (swept.resend, swept.failed) == ([score_id], [])
    # And once it has had every attempt, the sweep gives it up, naming whose it was
    conn.execute("UPDATE lti_score SET attempts = 8 WHERE id = %s", (score_id,))
    given_up = lti_scores.sweep_scores(conn, now + timedelta(minutes=40), timedelta(minutes=15))
    assert given_up.resend == []
    assert [(owner.id, owner.pseudonym) for owner in given_up.failed] == [(score_id, ann.pseudonym)]
    assert lti_scores.claim_scores(conn, [score_id], now) == []
    assert lti_sync.exam_lti_state(conn, course.exam_pk).scores["failed"] == 1


def test_settled_scores_and_the_syncs_report_show_in_the_exams_state(api: Api, conn: Conn) -> None:
    course = Course(conn)
    sync_id = lti_sync.begin_sync(conn, course.link_id, "console")
    lti_sync.end_sync(conn, sync_id, {"status": "done", "added": [], "members": 3}, None)
    failed_id = lti_sync.begin_sync(conn, course.link_id, "schedule")
    lti_sync.end_sync(conn, failed_id, None, "course too large")

    rows = conn.execute("SELECT status, detail FROM lti_sync ORDER BY started_at").fetchall()
    assert [(row["status"], row["detail"]) for row in rows] == [("done", None), ("failed", "course too large")]
    (link,) = lti_sync.exam_lti_state(conn, course.exam_pk).links
    assert link.course == "Physics 101"
    # The links due for a scheduled sync: this one (never synced, the exam open), not one synced just now
    assert lti_sync.links_due(conn, datetime.now(UTC) - timedelta(hours=6), 3) == [course.link_id]
    conn.execute("UPDATE lti_link SET synced_at = now()")
    assert lti_sync.links_due(conn, datetime.now(UTC) - timedelta(hours=6), 3) == []


def test_expired_logins_tickets_offers_and_deep_links_are_purged_a_day_later(api: Api, conn: Conn) -> None:
    course = Course(conn)
    ann = course.launch(conn, "u-ann")
    old, recent = datetime.now(UTC) - timedelta(days=2), datetime.now(UTC) - timedelta(hours=1)
    for n, expires_at in enumerate((old, recent)):
        conn.execute(
            "INSERT INTO lti_ticket (ticket_sha256, student_id, expires_at) VALUES (%s, %s, %s)",
            (f"{n:064x}", ann.student_id, expires_at),
        )
        conn.execute(
            """INSERT INTO lti_login (state_sha256, registration_id, nonce, target_link_uri, storage, expires_at)
               VALUES (%s, %s, %s, 'https://tool.example/lti/launch', 'cookie', %s)""",
            (f"{n:064x}", course.registration_id, f"nonce{n}" * 8, expires_at),
        )
    assert lti.purge_expired(conn, datetime.now(UTC)) == 2
    assert conn.execute("SELECT count(*) AS n FROM lti_ticket").fetchone() == {"n": 1}


def test_a_teachers_lti_identity_is_never_made_by_a_first_call(api: Api, conn: Conn) -> None:
    unknown = f"lti:{uuid.uuid4()}"
    with db.transaction() as tx, pytest.raises(NotFound, match="launch the tool again"):
        db.exams.examiner_for_key(tx, unknown)
    assert conn.execute("SELECT count(*) AS n FROM examiner_key WHERE api_key_id LIKE 'lti:%'").fetchone() == {"n": 0}
    # And creating an exam with such a session answers 404, making no one
    now = datetime.now(UTC)
    later = (now + timedelta(hours=1)).isoformat()
    body = {"exam_id": "chemistry", "title": "Chemistry", "opens_at": now.isoformat(), "due_at": later,
            "cutoff_at": later, "timezone": "UTC"}  # fmt: skip
    response = api.call("create_exam", "valid", body=body, api_key_id=unknown)
    assert response.status == 404, response.body
    assert response.body["detail"] == "This session's user is unknown: launch the tool again."
    # And the database refuses an lti: key of another form
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO examiner_key (api_key_id, examiner_id) SELECT 'lti:someone', id FROM examiner LIMIT 1"
        )


def test_the_roster_shows_who_came_from_the_lms_and_who_left_the_course(api: Api, conn: Conn) -> None:
    import csv
    import io

    course = Course(conn)
    course.launch(conn, "u-ann")
    course.launch(conn, "u-bo", given_name="Bo", family_name="Chen")
    api.create_student("plain")
    course.sync(conn, [_member("u-ann", "Ann", "Lee")])  # Bo is no longer listed

    listed = api.call("list_students", "first_page", query={"limit": "500"}).body["items"]
    shown = {s["nickname"]: (s["from_lms"], s["left_course_at"] is not None) for s in listed}
    assert shown == {"ann.lee": (True, False), "bo.chen": (True, True), "plain": (False, False)}
    bo = api.call("get_student", "by_nickname", path_params={"exam_id": EXAM, "nickname": "bo.chen"}).body
    assert bo["from_lms"] is True
    assert bo["left_course_at"] is not None

    text = api.call("list_students", "roster_csv").body
    rows = {row["nickname"]: row for row in csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))}
    assert (rows["ann.lee"]["from_lms"], rows["ann.lee"]["left_course_at"]) == ("true", "")
    assert (rows["plain"]["from_lms"], rows["bo.chen"]["left_course_at"]) == ("false", bo["left_course_at"])


def test_send_codes_skips_students_from_the_lms(api: Api, conn: Conn, mail_queue: str) -> None:
    course = Course(conn)
    course.launch(conn, "u-ann", email="ann@example.org")
    api.create_student("plain", email="plain@example.org")

    sent = api.call("student_mail", "send_codes", path_params={"exam_id": EXAM}, body={})

    # Then only the student added by hand is invited: Ann opens the exam from her course
    assert sent.status == 202, sent.body
    assert sent.body["queued"] == 1
    assert sent.body["skipped"]["from_lms"] == 1
    invited = conn.execute("SELECT s.nickname FROM message m JOIN student s ON s.id = m.student_id").fetchall()
    assert invited == [{"nickname": "plain"}]
