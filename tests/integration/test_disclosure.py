"""What each role is shown of an exam's students, and what the audit log records of each route:
a grader of an anonymous exam sees pseudonyms only (in answers, searches and paths), an
invigilator no code of either kind and no pseudonym; the answers that show upload codes, or pair
names with pseudonyms in an anonymous exam, are themselves events; every change is one, and a
close signs a checkpoint of the log."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import signing
from exam_depository.api.models.student_details import StudentDetail
from exam_depository.api.models.student_summaries import StudentPage

from tests.faults import closed_port
from tests.integration.conftest import EXAM, Api, Bucket, move_window
from tests.integration.test_papers import EXAM as PAPER_EXAM
from tests.integration.test_papers import PDF, _link, _timed_exam, _upload_paper

Record = Callable[..., dict[str, Any]]
NAMES = ("nickname", "first_name", "last_name", "email")
BLIND = "blind-2026"  # an anonymous exam


def _hand_in(api: Api, bucket: Bucket, record: Record, upload_code: str) -> None:
    form = api.request_upload(upload_code).body
    bucket.upload(form, b"%PDF answers")
    assert record(bucket.notification(form["fields"]["key"], len(b"%PDF answers"))) == {"batchItemFailures": []}


def _later(instant: str) -> str:
    """An instant an hour after this one (an extension's due time past the exam's)."""
    return (datetime.fromisoformat(instant) + timedelta(hours=1)).isoformat()


def _page(api: Api, exam_id: str, **query: str) -> list[dict[str, Any]]:
    response = api.call("list_students", "first_page", path_params={"exam_id": exam_id}, query=query or None)
    assert response.status == 200, response.body
    page = StudentPage.model_validate(response.body)  # the page the database writes holds to the model
    return [item.model_dump(mode="json") for item in page.items]


def _events(database_url: str, exam_id: str) -> list[tuple[str, str, list[str]]]:
    """The exam's audit log, oldest first: (action, target, subjects)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT action, target, subjects FROM audit_event
               WHERE exam_pk = (SELECT id FROM exam WHERE slug = %s) ORDER BY seq""",
            (exam_id,),
        ).fetchall()
    return [(action, target, list(subjects)) for action, target, subjects in rows]


@pytest.fixture
def blind(api: Api, bucket: Bucket, record: Record) -> dict[str, Any]:
    """An anonymous exam with two students, one of whom handed in; a grader and an invigilator."""
    exam = api.create_exam(BLIND, anonymous=True)
    mary = api.create_student("mobrien", exam_id=BLIND, email="mary@example.org")
    zoe = api.create_student("zlukas", exam_id=BLIND, first_name="Zoë", last_name="Łukasiewicz")
    _hand_in(api, bucket, record, mary["upload_code"])
    grader, invigilator = api.as_key("grader0001"), api.as_key("invigil001")
    grader.join(api, "grader", exam_id=BLIND)
    invigilator.join(api, "invigilator", exam_id=BLIND)
    return {"exam": exam, "mary": mary, "zoe": zoe, "grader": grader, "invigilator": invigilator}


def test_a_grader_of_an_anonymous_exam_sees_pseudonyms_only(blind: dict[str, Any]) -> None:
    grader, mary, zoe = blind["grader"], blind["mary"], blind["zoe"]

    # The roster page: no nickname, name, email or upload code; the pseudonym and the files' codes
    items = _page(grader, BLIND)
    assert [item["pseudonym"] for item in items] == sorted([mary["pseudonym"], zoe["pseudonym"]])
    for item in items:
        assert {name: item[name] for name in (*NAMES, "upload_code")} == dict.fromkeys((*NAMES, "upload_code"))
    (marys,) = [item for item in items if item["pseudonym"] == mary["pseudonym"]]
    assert marys["current"]["verification_code"] is not None  # a grader downloads answers

    # A search by name finds no one (it would tell whom a pseudonym is); by pseudonym, its student
    assert _page(grader, BLIND, q="Mary") == []
    assert _page(grader, BLIND, q="mobrien") == []
    assert [item["pseudonym"] for item in _page(grader, BLIND, q=zoe["pseudonym"].lower())] == [zoe["pseudonym"]]

    # A student's detail: named by pseudonym in the path (any case), never by nickname
    path = {"exam_id": BLIND, "nickname": mary["pseudonym"].lower()}
    detail = grader.call("get_student", "by_nickname", path_params=path)
    assert detail.status == 200, detail.body
    shown = StudentDetail.model_validate(detail.body)
    assert (shown.pseudonym, shown.nickname, shown.first_name, shown.email) == (mary["pseudonym"], None, None, None)
    assert shown.upload_code is None
    assert [submission.verification_code is not None for submission in shown.submissions] == [True]
    by_nickname = grader.call("get_student", "by_nickname", path_params={"exam_id": BLIND, "nickname": "mobrien"})
    assert by_nickname.status == 404


def test_a_grader_of_an_anonymous_exam_reads_the_roster_in_pseudonym_order_not_in_the_order_added(
    api: Api, database_url: str
) -> None:
    # Given an anonymous exam whose students were added in the order of their names (a class
    # list), their pseudonyms in the reverse order, and a grader
    api.create_exam(BLIND, anonymous=True)
    added = ["aaron", "berta", "carla", "dimitri", "emma"]
    for nickname in added:
        api.create_student(nickname, exam_id=BLIND)
    with psycopg.connect(database_url) as conn:
        for rank, nickname in enumerate(reversed(added)):
            conn.execute("UPDATE student SET pseudonym = %s WHERE nickname = %s", (f"anon-{rank}00000", nickname))
    grader = api.as_key("grader0001")
    grader.join(api, "grader", exam_id=BLIND)

    # When the grader reads the roster, two students a page
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        response = grader.call("list_students", "first_page", path_params={"exam_id": BLIND}, query=query)
        assert response.status == 200, response.body
        seen += [item["pseudonym"] for item in response.body["items"]]
        cursor = response.body["next_cursor"]
        if cursor is None:
            break

    # Then each student comes once, in the pseudonyms' order: the order they were added in would
    # tell whom each pseudonym is
    assert seen == [f"anon-{rank}00000" for rank in range(5)]
    # And the owner still reads them in the order they were added
    assert [item["nickname"] for item in _page(api, BLIND)] == added


def test_an_invigilator_sees_names_but_no_code_of_either_kind_and_no_pseudonym(blind: dict[str, Any]) -> None:
    invigilator = blind["invigilator"]

    items = _page(invigilator, BLIND)
    assert [(item["nickname"], item["first_name"]) for item in items] == [("mobrien", "Mary-Ann"), ("zlukas", "Zoë")]
    for item in items:
        assert (item["pseudonym"], item["upload_code"]) == (None, None)
    assert (items[0]["current"]["verification_code"], items[0]["current"]["receipt"]) == (None, None)

    detail = invigilator.call("get_student", "by_nickname", path_params={"exam_id": BLIND, "nickname": "mobrien"})
    assert detail.status == 200, detail.body
    assert (detail.body["pseudonym"], detail.body["upload_code"], detail.body["email"]) == (
        None,
        None,
        "mary@example.org",
    )
    assert [(s["verification_code"], s["receipt"]) for s in detail.body["submissions"]] == [(None, None)]
    # An extension's answer shows the invigilator what their reads do
    extended = invigilator.call(
        "set_extension",
        "valid",
        path_params={"exam_id": BLIND, "nickname": "mobrien"},
        body={"due_at": _later(blind["exam"]["due_at"])},
    )
    assert extended.status == 200, extended.body
    assert (extended.body["nickname"], extended.body["pseudonym"], extended.body["upload_code"]) == (
        "mobrien",
        None,
        None,
    )
    assert (extended.body["current"]["verification_code"], extended.body["current"]["receipt"]) == (None, None)


@pytest.mark.parametrize("role", ["grader", "invigilator"])
def test_the_roster_csv_with_its_upload_codes_is_refused_to_graders_and_invigilators(
    blind: dict[str, Any], role: str
) -> None:
    response = blind[role].call("list_students", "roster_csv", path_params={"exam_id": BLIND})
    assert response.status == 403
    assert response.body["type"] == "urn:exam-depository:problem:role-forbids"
    assert (response.body["role"], response.body["action"]) == (role, "roster.download")
    assert f"As a{'n' if role == 'invigilator' else ''} {role} of this exam" in response.body["detail"]


def test_only_the_reads_that_show_codes_or_reveal_names_are_logged(
    api: Api, blind: dict[str, Any], database_url: str
) -> None:
    mary, zoe = blind["mary"], blind["zoe"]
    before = len(_events(database_url, BLIND))

    # The grader's and the invigilator's reads show no code and reveal no name: nothing is logged
    _page(blind["grader"], BLIND)
    _page(blind["invigilator"], BLIND)
    blind["invigilator"].call("get_student", "by_nickname", path_params={"exam_id": BLIND, "nickname": "zlukas"})
    assert len(_events(database_url, BLIND)) == before

    # The owner's page, detail and CSV show codes and pair names with pseudonyms: each is logged,
    # naming the students shown by pseudonym
    _page(api, BLIND)
    api.call("get_student", "by_nickname", path_params={"exam_id": BLIND, "nickname": "zlukas"})
    csv = api.call("list_students", "roster_csv", path_params={"exam_id": BLIND})
    assert csv.status == 200
    both = sorted([mary["pseudonym"], zoe["pseudonym"]])
    zoe_target = f"student:{zoe['pseudonym']}"
    assert [(a, t, sorted(s)) for a, t, s in _events(database_url, BLIND)[before:]] == [
        ("student.code_shown", "students", both),
        ("student.name_revealed", "students", both),
        ("student.code_shown", zoe_target, [zoe["pseudonym"]]),
        ("student.name_revealed", zoe_target, [zoe["pseudonym"]]),
        ("student.code_shown", "students", both),
        ("student.name_revealed", "students", both),
    ]


def test_an_owners_read_of_an_exam_that_is_not_anonymous_logs_the_codes_only(api: Api, database_url: str) -> None:
    api.create_student("mobrien")
    before = len(_events(database_url, EXAM))
    _page(api, EXAM)
    assert [action for action, _, _ in _events(database_url, EXAM)[before:]] == ["student.code_shown"]
    # An empty page shows no code: nothing is logged
    _page(api, EXAM, q="nobody-has-this")
    assert len(_events(database_url, EXAM)) == before + 1


ROSTER_CSV = "nickname,first_name,last_name\r\nzlukas,Zoë,Łukasiewicz\r\n"
EXTENSIONS_CSV = "nickname,due_at,cutoff_at,extra_attempts\r\nzlukas,{due},{due},1\r\n"
ACCOMMODATIONS_CSV = "nickname,extra_time_percent,extra_time_minutes\r\nzlukas,50,0\r\n"


def _csv(text: str) -> dict[str, Any]:
    """A CSV body as API Gateway hands it over (a binary media type: base64)."""
    return {"raw_body": base64.b64encode(text.encode()).decode(), "headers": {"Content-Type": "text/csv"}}


def test_every_route_of_an_exam_appends_the_event_it_is_recorded_by(api: Api, database_url: str) -> None:
    """Each examiner route, called once by the owner, and what the log gained: written out."""
    later = _later(api.call("get_exam", "by_id").body["due_at"])
    mary = {"exam_id": EXAM, "nickname": "mobrien"}
    zoe = {"exam_id": EXAM, "nickname": "zlukas"}
    student = {"nickname": "mobrien", "first_name": "Mary-Ann", "last_name": "O'Brien"}
    routes: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("create_student", "valid", {"body": student}, ["student.added"]),
        ("import_students", "roster", _csv(ROSTER_CSV), ["students.imported"]),
        ("get_exam", "by_id", {}, []),
        ("list_exams", "first_page", {}, []),
        ("update_exam", "later_due", {"body": {"title": "Physics, again"}}, ["exam.updated"]),
        ("update_exam", "later_due", {"body": {"title": "Physics, again"}}, []),  # nothing changed
        ("list_students", "first_page", {}, ["student.code_shown"]),
        ("list_students", "roster_csv", {}, ["student.code_shown"]),
        ("get_student", "by_nickname", {"path_params": mary}, ["student.code_shown"]),
        ("regenerate_upload_code", "by_nickname", {"path_params": mary}, ["student.code_regenerated"]),
        ("set_extension", "valid", {"path_params": mary, "body": {"due_at": later}}, ["extension.set"]),
        ("remove_extension", "by_nickname", {"path_params": mary}, ["extension.removed"]),
        ("import_extensions", "extensions", _csv(EXTENSIONS_CSV.format(due=later)), ["extensions.imported"]),
        ("set_accommodation", "extra_time", {"path_params": zoe}, ["accommodation.set"]),
        ("import_accommodations", "accommodations", _csv(ACCOMMODATIONS_CSV), ["accommodations.imported"]),
        ("create_export", "start", {}, ["export.created"]),
        ("delete_student", "by_nickname", {"path_params": mary}, ["student.removed"]),
        ("close_exam", "now", {}, ["exam.closed"]),
    ]
    for function, case, request, expected in routes:
        before = len(_events(database_url, EXAM))
        response = api.call(function, case, **request)
        assert response.status < 300, (function, response.body)
        assert [action for action, _, _ in _events(database_url, EXAM)[before:]] == expected, function
    assert _events(database_url, EXAM)[0][0] == "exam.created"

    # The paper's form, on an exam that has not opened
    opens = datetime.now(UTC) + timedelta(days=1)
    times = {"opens_at": opens.isoformat(), "due_at": (opens + timedelta(hours=2)).isoformat()}
    api.create_exam("later", **times, cutoff_at=times["due_at"])
    form = api.call("request_paper_upload", "pdf", path_params={"exam_id": "later"})
    assert form.status == 201, form.body
    assert [(action, target) for action, target, _ in _events(database_url, "later")] == [
        ("exam.created", "exam"),
        ("paper.form_issued", f"paper:{form.body['paper_id']}"),
    ]


def test_deleting_an_exam_leaves_only_its_tombstone_with_what_it_held(api: Api, database_url: str) -> None:
    api.create_student("mobrien")
    api.create_student("zlukas")
    with psycopg.connect(database_url) as conn:
        (exam_pk,) = conn.execute("SELECT id FROM exam WHERE slug = %s", (EXAM,)).fetchone() or (None,)
    events_before = len(_events(database_url, EXAM))

    assert api.call("delete_exam", "by_id").status == 204

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, action, target, before, after FROM audit_event WHERE exam_pk = %s", (exam_pk,)
        ).fetchall()
    ((seq, action, target, before, after),) = rows
    assert (seq, action, target) == (events_before + 1, "exam.deleted", "exam")
    assert before["title"] == "Physics, December 2026"
    assert after == {"students": 2, "files": 0, "exports": 0, "papers": 0, "events_removed": events_before}


def test_a_paper_recorded_and_a_students_first_link_to_it_are_each_recorded_once(
    api: Api, bucket: Bucket, record: Record, database_url: str
) -> None:
    # Given an untimed exam with a recorded paper, opened now
    _timed_exam(api, duration_minutes=None)
    form, notification = _upload_paper(api, bucket)
    assert record(notification) == {"batchItemFailures": []}
    # (recorded by the recorder, once however often S3 says so)
    assert record(notification) == {"batchItemFailures": []}
    with psycopg.connect(database_url) as conn:
        uploaded = conn.execute(
            "SELECT actor, role, target, after FROM audit_event WHERE action = 'paper.uploaded'"
        ).fetchall()
    ((actor, role, target, after),) = uploaded
    assert (actor, role, target) == ("system:recorder", None, f"paper:{form['paper_id']}")
    sha256 = hashlib.sha256(PDF).hexdigest()
    assert after == {"filename": "question-paper.pdf", "size": len(PDF), "sha256": sha256}
    student = api.create_student(exam_id=PAPER_EXAM)
    move_window(database_url, PAPER_EXAM, opens_at=datetime.now(UTC) - timedelta(minutes=1))
    before = len(_events(database_url, PAPER_EXAM))

    # When the student asks for the paper's link three times
    for _ in range(3):
        assert _link(api, student["upload_code"]).status == 200

    # Then the log holds one first download, by the student named by pseudonym
    assert _events(database_url, PAPER_EXAM)[before:] == [
        ("paper.first_download", f"paper:{form['paper_id']}", [student["pseudonym"]])
    ]
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT actor, role, request_id FROM audit_event WHERE action = 'paper.first_download'",
        ).fetchone()
    # (from where: the request of the sample event, as every other event of a route records it)
    assert row == (f"student:{student['pseudonym']}", None, "5b8e0c4e-7f7a-4d51-9a0e-2f3c1f0b9a11")


def _checkpoints(database_url: str, exam_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT reason FROM audit_checkpoint WHERE exam_pk = (SELECT id FROM exam WHERE slug = %s)""",
            (exam_id,),
        ).fetchall()
    return [reason for (reason,) in rows]


def test_a_close_signs_a_checkpoint_of_the_log_and_is_done_whatever_kms_answers(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A close signs the log's head with the receipts' key
    assert api.call("close_exam", "now").status == 200
    assert _checkpoints(database_url, EXAM) == ["closed"]

    # With KMS unreachable, another exam still closes (its checkpoint comes from the expiry job)
    api.create_exam("unsigned")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", f"http://127.0.0.1:{closed_port()}")
    aws_clients.reset()
    signing.reset()
    closed = api.call("close_exam", "now", path_params={"exam_id": "unsigned"})
    assert closed.status == 200, closed.body
    assert closed.body["state"] == "closed"
    assert _checkpoints(database_url, "unsigned") == []
    assert [action for action, _, _ in _events(database_url, "unsigned")] == ["exam.created", "exam.closed"]
