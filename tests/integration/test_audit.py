"""The audit log in PostgreSQL and over the API: the chain PostgreSQL computes is the domain's;
the application's own connection cannot change the log; an event commits with its change or not
at all; concurrent appends queue into one unbroken chain; the route's pages, filters and CSV; a
tampered log caught; deletion's tombstone and its retention; checkpoints that verify."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import itertools
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from exam_depository.adapters import db
from exam_depository.adapters.db import audit as db_audit
from exam_depository.api import views
from exam_depository.domain import audit
from exam_depository.domain.access import Role
from exam_depository.usecases import checkpoints
from psycopg.rows import dict_row

from tests.integration.conftest import EXAM, OTHER_EXAMINER, Api, ApiResponse
from tests.unit.test_audit import VECTOR_AT, VECTOR_EVENT, VECTOR_HASH

OWNER = audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", Role.OWNER, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")


def _connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


@pytest.fixture
def conn(clean_database: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with _connect(clean_database) as connection:
        yield connection


def _exam(conn: psycopg.Connection[dict[str, Any]], slug: str = "physics-2026-12") -> int:
    """An exam as any layer inserts it: its head comes from the trigger."""
    row = conn.execute(
        """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
           VALUES (%s, 'Physics', now(), now() + interval '1 hour', now() + interval '1 hour', 'UTC', 3)
           RETURNING id""",
        (slug,),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _events(conn: psycopg.Connection[dict[str, Any]], exam_pk: int) -> list[audit.AuditItem]:
    with conn.transaction():
        return list(db_audit.stream(conn, exam_pk, db_audit.head(conn, exam_pk).seq))


def test_postgresql_hashes_an_event_as_the_domains_link_does(conn: psycopg.Connection[dict[str, Any]]) -> None:
    # Given an exam, and an event whose body holds text that is not ASCII, nested values and a null
    exam_pk = _exam(conn)
    event = audit.Event(
        OWNER,
        audit.AuditAction.EXAM_UPDATED,
        "exam",
        before={"title": "Physik — Dezember", "attempts": 3},
        after={"title": "Física, «diciembre» 😀", "attempts": 5, "zone": None},
    )
    # When it is appended twice
    with conn.transaction():
        db_audit.append(conn, exam_pk, [event, event])
    # Then each stored hash is `link` of the previous hash, the seq, the stored instant and the body
    first, second = _events(conn, exam_pk)
    assert first.prev_hash == audit.GENESIS
    assert first.hash == audit.link(audit.GENESIS, 1, audit.at_text(first.at), audit.body(event))
    assert second.prev_hash == first.hash
    assert second.hash == audit.link(first.hash, 2, audit.at_text(second.at), audit.body(event))
    # and the body rebuilt from the stored columns is the one hashed
    assert audit.item_body(second) == audit.body(event)
    assert audit.chain_break([first, second]) is None
    assert db_audit.head(conn, exam_pk) == audit.Head(2, second.hash, second.at)


def test_postgresql_appends_the_pinned_link_vector(conn: psycopg.Connection[dict[str, Any]]) -> None:
    # Given an exam whose chain's head stands at the pinned instant (a century ahead: the append
    # keeps an instant later than the clock)
    exam_pk = _exam(conn)
    conn.execute("UPDATE audit_head SET at = %s WHERE exam_pk = %s", (VECTOR_AT, exam_pk))
    # When the pinned event is appended
    with conn.transaction():
        db_audit.append(conn, exam_pk, [VECTOR_EVENT])
    # Then PostgreSQL stored the pinned hash, at the pinned instant
    (event,) = _events(conn, exam_pk)
    assert (event.seq, event.at, event.prev_hash, event.hash) == (1, VECTOR_AT, audit.GENESIS, VECTOR_HASH)


# --- append-only, and atomic with the change ---------------------------------------------------


def _app_exam_pk(exam_id: str = EXAM) -> int:
    with db.transaction() as app:
        row = app.execute("SELECT id FROM exam WHERE slug = %s", (exam_id,)).fetchone()
    assert row is not None
    return int(row["id"])


def _append(exam_pk: int, *events: audit.Event) -> None:
    with db.transaction() as app:
        db.audit.append(app, exam_pk, list(events))


def _about(pseudonym: str, action: audit.AuditAction = audit.AuditAction.EXTENSION_SET) -> audit.Event:
    return audit.Event(
        OWNER, action, f"student:{pseudonym}", after={"due_at": "2026-12-14T10:00:00Z"}, subjects=(pseudonym,)
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'ops'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "UPDATE audit_checkpoint SET hash = repeat('1', 64)",
        "DELETE FROM audit_checkpoint",
        "TRUNCATE audit_checkpoint",
    ],
)
def test_the_application_cannot_change_or_delete_its_log(api: Api, statement: str) -> None:
    # Given an exam with events and a signed checkpoint
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"), _about("anon-000002"))
    assert checkpoints.sign_checkpoint(exam_pk, "closed") is not None
    # When the application's own connection (the master user's, through the secret) tries
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), db.transaction() as app:
        app.execute(statement)
    # Then nothing changed
    with db.transaction() as app:
        counts = app.execute(
            "SELECT (SELECT count(*) FROM audit_event) AS events, (SELECT count(*) FROM audit_checkpoint) AS marks"
        ).fetchone()
    assert counts == {"events": 2, "marks": 1}


def test_an_event_whose_change_fails_after_the_append_is_not_kept(api: Api) -> None:
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"))
    before = _head(exam_pk)

    # When a unit of work appends its event and then fails
    def append_then_fail() -> None:
        with db.transaction() as app:
            db.audit.append(app, exam_pk, [_about("anon-000002")])
            raise RuntimeError("S3 refused")

    with pytest.raises(RuntimeError, match="S3 refused"):
        append_then_fail()

    # Then neither the event nor the head moved; the next append follows the first event
    assert _head(exam_pk) == before
    _append(exam_pk, _about("anon-000003"))
    items = _app_events(exam_pk)
    assert [item.target for item in items] == ["student:anon-000001", "student:anon-000003"]
    assert audit.chain_break(items) is None


def test_an_event_that_does_not_follow_the_chain_is_refused_by_the_database(
    conn: psycopg.Connection[dict[str, Any]],
) -> None:
    exam_pk = _exam(conn)
    with pytest.raises(psycopg.errors.CheckViolation, match="follow"):
        conn.execute(
            """INSERT INTO audit_event (exam_pk, seq, at, actor, action, target, prev_hash, hash)
               VALUES (%s, 2, now(), 'ops', 'exam.assigned', 'exam', repeat('0', 64), repeat('1', 64))""",
            (exam_pk,),
        )


def test_concurrent_appends_queue_into_one_unbroken_chain(api: Api) -> None:
    # Given 20 requests at once, each appending its event in its own unit of work
    exam_pk = _app_exam_pk()
    together = threading.Barrier(20, timeout=60)

    def append(n: int) -> None:
        together.wait()
        with db.transaction() as app:
            app.execute("SELECT pg_sleep(0.01 * %s)", (n % 3,))  # the units overlap
            db.audit.append(app, exam_pk, [_about(f"anon-{n:06d}")])

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(append, range(20)))

    # Then the events are seqs 1..20, every one of them, and the chain holds
    items = _app_events(exam_pk)
    assert [item.seq for item in items] == list(range(1, 21))
    assert sorted(item.target for item in items) == sorted(f"student:anon-{n:06d}" for n in range(20))
    assert audit.chain_break(items) is None
    assert all(later.at >= earlier.at for earlier, later in itertools.pairwise(items))


def _head(exam_pk: int) -> audit.Head:
    with db.transaction() as app:
        return db.audit.head(app, exam_pk)


def _app_events(exam_pk: int) -> list[audit.AuditItem]:
    with db.transaction() as app:
        return list(db.audit.stream(app, exam_pk, db.audit.head(app, exam_pk).seq))


# --- the route ------------------------------------------------------------------------------


def _audit(api: Api, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> ApiResponse:
    return api.call("list_audit", "first_page", query=query, headers=headers)


def test_the_log_is_paged_newest_first_and_filtered_by_student_or_action(api: Api) -> None:
    # Given events about two students, of two kinds
    ann, bob = api.create_student("ann"), api.create_student("bob")
    exam_pk = _app_exam_pk()
    already = _head(exam_pk).seq  # what the exam's creation and the roster appended
    _append(
        exam_pk,
        _about(ann["pseudonym"]),
        _about(bob["pseudonym"]),
        _about(ann["pseudonym"], audit.AuditAction.STUDENT_CODE_REGENERATED),
        _about(ann["pseudonym"]),
        _about(bob["pseudonym"], audit.AuditAction.EXTENSION_REMOVED),
    )
    total = already + 5

    # When the whole log is read two events a page
    seen: list[int] = []
    cursor = None
    while True:
        page = _audit(api, {"limit": "2"} | ({"cursor": cursor} if cursor else {}))
        assert page.status == 200, page.body
        seen += [item["seq"] for item in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    # Then it comes newest first, each event once
    assert seen == list(range(total, 0, -1))

    # And an item is the shape, `at` in UTC
    newest = _audit(api, {"limit": "1"}).body["items"][0]
    assert list(newest) == [
        "seq",
        "at",
        "actor",
        "role",
        "action",
        "target",
        "before",
        "after",
        "request_id",
        "prev_hash",
        "hash",
    ]
    assert (newest["action"], newest["target"], newest["actor"]) == (
        "extension.removed",
        f"student:{bob['pseudonym']}",
        OWNER.id,
    )
    assert newest["at"].endswith("Z")

    # And a student's events are found by nickname, or by pseudonym, and an action's by its name
    by_nickname = _audit(api, {"nickname": "ANN"}).body["items"]
    by_pseudonym = _audit(api, {"nickname": ann["pseudonym"]}).body["items"]
    ann_events = [item for item in by_nickname if item["target"] == f"student:{ann['pseudonym']}"]
    assert len(ann_events) == 3
    assert by_pseudonym == by_nickname
    assert {item["seq"] for item in ann_events} <= {item["seq"] for item in by_nickname}
    removed = _audit(api, {"action": "extension.removed"}).body["items"]
    assert [(item["action"], item["target"]) for item in removed] == [
        ("extension.removed", f"student:{bob['pseudonym']}")
    ]
    filtered = _audit(api, {"nickname": "ann", "action": "extension.set", "limit": "1"}).body
    assert [item["seq"] for item in filtered["items"]] == [already + 4]

    # And a cursor serves only the filters it came with; an unknown action is refused
    other = _audit(api, {"cursor": filtered["next_cursor"]})
    assert (other.status, other.body["type"]) == (400, "urn:exam-depository:problem:invalid-query")
    assert _audit(api, {"action": "exam.burnt"}).status == 422
    assert _audit(api, {"limit": "501"}).status == 422


def test_the_whole_log_downloads_as_csv_oldest_first_exactly_as_hashed(api: Api) -> None:
    api.create_student("ann")
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"), _about("anon-000002"))

    # When the CSV is asked for, as a browser does (gzip)
    answer = _audit(api, headers={"Accept": "text/csv", "Accept-Encoding": "gzip"})

    # Then it is the chain, oldest first, gzipped, named after the exam
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{EXAM}-audit.csv"'
    assert answer.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(base64.b64decode(answer.body)).decode()
    plain = _audit(api, headers={"Accept": "text/csv", "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.body == text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == audit.CSV_COLUMNS
    items = _app_events(exam_pk)
    assert rows[1:] == [audit.csv_cells(item) for item in items]
    assert [int(row[0]) for row in rows[1:]] == list(range(1, len(items) + 1))

    # And filters are refused with it: the download is the whole log
    filtered = _audit(api, {"nickname": "ann"}, headers={"Accept": "text/csv"})
    assert (filtered.status, filtered.body["type"]) == (400, "urn:exam-depository:problem:invalid-query")


def test_a_log_too_large_for_one_answer_goes_gzipped_or_is_refused_naming_the_export(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log, and Lambda's answer limit scaled down to lie between its gzipped and plain sizes
    exam_pk = _app_exam_pk()
    _append(exam_pk, *(_about(f"anon-{n:06d}") for n in range(50)))
    with db.transaction() as app:
        content = b"".join(audit.csv_chunks(db.audit.stream(app, exam_pk, db.audit.head(app, exam_pk).seq)))
    plain = len(json.dumps(content.decode()))
    gzipped = len(base64.b64encode(gzip.compress(content, 9)))
    assert gzipped < plain
    monkeypatch.setattr(views, "LAMBDA_ANSWER_BYTES", views._ENVELOPE_BYTES + (plain + gzipped) // 2)

    # Then a client that takes gzip gets it, and one that does not is told the export holds it
    taken = _audit(api, headers={"Accept": "text/csv", "Accept-Encoding": "gzip"})
    assert taken.status == 200
    assert gzip.decompress(base64.b64decode(taken.body)) == content
    refused = _audit(api, headers={"Accept": "text/csv"})
    assert (refused.status, refused.body["type"]) == (413, "urn:exam-depository:problem:payload-too-large")
    assert "export" in refused.body["detail"]


def test_only_owners_and_co_examiners_read_the_log(api: Api) -> None:
    co_examiner, grader, invigilator = (api.as_key(key) for key in ("co0000000001", "gr0000000001", "in0000000001"))
    co_examiner.join(api, "co_examiner")
    grader.join(api, "grader")
    invigilator.join(api, "invigilator")
    assert _audit(co_examiner).status == 200
    for member, role in ((grader, "grader"), (invigilator, "invigilator")):
        refused = _audit(member)
        assert (refused.status, refused.body["type"], refused.body["role"]) == (
            403,
            "urn:exam-depository:problem:role-forbids",
            role,
        )
        assert _audit(member, headers={"Accept": "text/csv"}).status == 403
    assert _audit(api.as_key(OTHER_EXAMINER)).status == 404
