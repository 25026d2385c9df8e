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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import aws as aws_clients
from exam_depository.adapters import db, signing
from exam_depository.adapters.db import audit as db_audit
from exam_depository.api import views
from exam_depository.domain import audit, audit_log
from exam_depository.domain.access import Role
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.usecases import audit as audit_reading
from exam_depository.usecases import checkpoints, expiry, export_builder
from joserfc import jwk, jws
from psycopg.rows import dict_row

from bench.environment import StatementCounter
from tests.audit_recipe import verify_offline
from tests.faults import closed_port
from tests.integration.conftest import EXAM, OTHER_EXAMINER, Api, ApiResponse, Bucket, move_window
from tests.integration.test_audit_recipe import exported_log
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


def _events(conn: psycopg.Connection[dict[str, Any]], exam_pk: int) -> list[audit_log.AuditItem]:
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
    assert audit_log.chain_break([first, second]) is None
    assert db_audit.head(conn, exam_pk) == audit_log.Head(2, second.hash, second.at)


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
    before = _counts()
    # When the application's own connection (the master user's, through the secret) tries
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), db.transaction() as app:
        app.execute(statement)
    # Then nothing changed
    assert _counts() == before
    assert before["marks"] == 1
    assert before["events"] >= 2


def _counts() -> dict[str, Any]:
    with db.transaction() as app:
        row = app.execute(
            "SELECT (SELECT count(*) FROM audit_event) AS events, (SELECT count(*) FROM audit_checkpoint) AS marks"
        ).fetchone()
    assert row is not None
    return row


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
    appended = [item.target for item in items if item.target.startswith("student:anon-")]
    assert appended == ["student:anon-000001", "student:anon-000003"]
    assert audit_log.chain_break(items) is None


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


def test_concurrent_appends_queue_into_one_unbroken_chain(api: Api, conn: psycopg.Connection[dict[str, Any]]) -> None:
    # Given an exam with no event yet, and 20 requests at once, each appending its event in its
    # own unit of work
    exam_pk = _exam(conn, "concurrent")
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
    assert audit_log.chain_break(items) is None
    assert all(later.at >= earlier.at for earlier, later in itertools.pairwise(items))


def _head(exam_pk: int) -> audit_log.Head:
    with db.transaction() as app:
        return db.audit.head(app, exam_pk)


def _app_events(exam_pk: int) -> list[audit_log.AuditItem]:
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
    assert by_pseudonym == by_nickname
    assert {item["target"] for item in by_nickname} <= {f"student:{ann['pseudonym']}", "students"}
    appended = [item["action"] for item in by_nickname if item["seq"] > already]
    assert appended == ["extension.set", "student.code_regenerated", "extension.set"]
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
    # And a student named with a control character is a mistake of the client's, not a 500
    for unstorable in ("ann\x00", "ann\x1b"):
        refused = _audit(api, {"nickname": unstorable})
        assert (refused.status, refused.body["type"]) == (400, "urn:exam-depository:problem:invalid-query")


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
    assert tuple(rows[0]) == audit_log.CSV_COLUMNS
    items = _app_events(exam_pk)
    assert rows[1:] == [audit_log.csv_cells(item) for item in items]
    assert [int(row[0]) for row in rows[1:]] == list(range(1, len(items) + 1))

    # And filters are refused with it: the download is the whole log
    filtered = _audit(api, {"nickname": "ann"}, headers={"Accept": "text/csv"})
    assert (filtered.status, filtered.body["type"]) == (400, "urn:exam-depository:problem:invalid-query")

    # And a client that takes CSV among other types gets it, one that refuses it (q=0) the JSON page
    for accept in ("application/json, TEXT/CSV;q=0.5", "text/csv; charset=utf-8"):
        assert _audit(api, headers={"Accept": accept}).headers["Content-Type"].startswith("text/csv"), accept
    for accept in ("text/csv;q=0, application/json", "text/csv; q=0.000", "*/*", "text/csv-schema"):
        assert _audit(api, headers={"Accept": accept}).headers["Content-Type"] == "application/json", accept


def test_a_log_too_large_for_one_answer_goes_gzipped_or_is_refused_naming_the_export(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log, and Lambda's answer limit scaled down to lie between its gzipped and plain sizes
    exam_pk = _app_exam_pk()
    _append(exam_pk, *(_about(f"anon-{n:06d}") for n in range(50)))
    with db.transaction() as app:
        content = b"".join(audit_log.csv_chunks(db.audit.stream(app, exam_pk, db.audit.head(app, exam_pk).seq)))
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

    # And a log too large even to gzip into an answer is refused before it is all read
    monkeypatch.setattr(audit_reading, "MAX_CSV_BYTES", len(content) // 2)
    unread = _audit(api, headers={"Accept": "text/csv", "Accept-Encoding": "gzip"})
    assert (unread.status, unread.body["detail"]) == (413, refused.body["detail"])


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


# --- tampering, checkpoints ------------------------------------------------------------------


@contextmanager
def _triggers_off(conn: psycopg.Connection[dict[str, Any]]) -> Iterator[None]:
    """What the table's owner can do, and the chain and checkpoints answer: the trigger off."""
    conn.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
    try:
        yield
    finally:
        conn.execute("ALTER TABLE audit_event ENABLE TRIGGER USER")


def _jwks(api: Api) -> Any:
    return api.call("get_jwks", "keys").body


def test_a_tampered_event_is_caught_by_the_chain_and_a_consistent_rewrite_by_the_checkpoint(
    api: Api, conn: psycopg.Connection[dict[str, Any]], tmp_path: Path
) -> None:
    # Given a log of five events whose head was signed at the exam's close
    exam_pk = _app_exam_pk()
    _append(exam_pk, *(_about(f"anon-{n:06d}") for n in range(5 - _head(exam_pk).seq)))
    token = checkpoints.sign_checkpoint(exam_pk, "closed")
    assert token is not None
    signed = audit_log.Checkpoint(5, _head(exam_pk).hash)
    intact = _csv_of(api)
    assert verify_offline(tmp_path / "intact", intact, token, _jwks(api)).returncode == 0

    # When someone who can write the database changes event 3's extension, the trigger off
    with _triggers_off(conn):
        conn.execute(
            """UPDATE audit_event SET after = '{"due_at": "2026-12-20T10:00:00Z"}'::jsonb
               WHERE exam_pk = %s AND seq = 3""",
            (exam_pk,),
        )
    # Then the chain breaks there, for chain_break and for the documented verifier
    assert audit_log.chain_break(_app_events(exam_pk)) == audit_log.Break(3, "hash does not match the event")
    changed = verify_offline(tmp_path / "changed", _csv_of(api), token, _jwks(api))
    assert (changed.returncode, changed.stderr.strip()) == (1, "broken at seq 3: its hash does not match the event")

    # And when they rewrite the tail consistently, every hash from there on recomputed
    with _triggers_off(conn):
        previous = _app_events(exam_pk)[1].hash
        for item in _app_events(exam_pk)[2:]:
            new_hash = audit.link(previous, item.seq, audit.at_text(item.at), audit.item_body(item))
            conn.execute(
                "UPDATE audit_event SET prev_hash = %s, hash = %s WHERE exam_pk = %s AND seq = %s",
                (previous, new_hash, exam_pk, item.seq),
            )
            previous = new_hash
        conn.execute("UPDATE audit_head SET hash = %s WHERE exam_pk = %s", (previous, exam_pk))
    # Then the chain holds, and only the signed checkpoint tells
    rewritten = _app_events(exam_pk)
    assert audit_log.chain_break(rewritten) is None
    assert audit_log.chain_break(rewritten, checkpoint=signed) == audit_log.Break(
        5, "hash differs from the signed checkpoint's"
    )
    caught = verify_offline(tmp_path / "rewritten", _csv_of(api), token, _jwks(api))
    assert (caught.returncode, caught.stderr.strip()) == (
        1,
        "broken at seq 5: its hash is not the one the checkpoint signed",
    )


def _csv_of(api: Api) -> bytes:
    answer = _audit(api, headers={"Accept": "text/csv"})
    assert answer.status == 200, answer.body
    return str(answer.body).encode()


def test_checkpoints_are_signed_by_a_published_key_and_say_what_they_sign(api: Api) -> None:
    # Given an exam with events, checkpointed as at its close
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"))
    head = _head(exam_pk)
    token = checkpoints.sign_checkpoint(exam_pk, "closed")
    assert token is not None

    # Then /.well-known/jwks.json's keys verify it, as an audit checkpoint of that head
    keys = jwk.KeySet.import_key_set(_jwks(api))
    signed = jws.deserialize_compact(token, keys, algorithms=["ES256"])
    assert signed.protected["typ"] == "audit-checkpoint+jwt"
    claims = json.loads(signed.payload)
    assert claims | {"iat": 0, "exam_created_at": ""} == {
        "iss": "exam-depository-test",
        "iat": 0,
        "purpose": "audit-checkpoint",
        "exam": EXAM,
        "exam_created_at": "",
        "seq": head.seq,
        "hash": head.hash,
        "at": audit.at_text(head.at),
        "reason": "closed",
    }
    # and it is kept; the same head again keeps the first
    assert checkpoints.sign_checkpoint(exam_pk, "closed") is not None
    with db.transaction() as app:
        kept = app.execute("SELECT seq, hash, reason, token FROM audit_checkpoint").fetchall()
    assert kept == [{"seq": head.seq, "hash": head.hash, "reason": "closed", "token": token}]


def test_an_export_records_its_start_and_links_and_its_zip_passes_the_documented_verifier(
    api: Api, handler: Callable[[str], ModuleType], database_url: str, tmp_path: Path
) -> None:
    # Given an exported exam
    log, checkpoint, jwks = exported_log(api, handler, database_url)
    assert json.loads(base64.urlsafe_b64decode(checkpoint.split(".")[1] + "=="))["exam"] == EXAM

    # Then the ZIP's log and checkpoint pass the documented verifier, the export's start in it
    verified = verify_offline(tmp_path, log, checkpoint, jwks)
    assert verified.returncode == 0, verified.stderr
    rows = list(csv.reader(io.StringIO(log.decode(), newline="")))
    assert rows[-1][4] == "export.created"
    assert verified.stdout.startswith(
        f"chain intact: {len(rows) - 1} events; checkpoint at seq {len(rows) - 1} (exported"
    )

    # And each link to the ZIP the examiner is given is recorded after it, with its expiry
    export_id = rows[-1][5].removeprefix("export:")
    done = api.call("get_export", "progress", path_params={"export_id": export_id})
    assert done.body["url"]
    newest = _audit(api, {"limit": "1"}).body["items"][0]
    assert (newest["action"], newest["target"]) == ("export.link_issued", f"export:{export_id}")
    assert newest["after"]["expires_at"].endswith("Z")


def test_a_reviewers_download_link_is_recorded_by_pseudonym(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]]
) -> None:
    # Given a student's recorded submission
    student = api.create_student()
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"%PDF")
    record(bucket.notification(form["fields"]["key"], 4))
    code = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]["verification_code"]

    # When a reviewer asks for a link to it by its verification code
    link = api.call("get_download_url", "by_code", path_params={"verification_code": code.lower()})
    assert link.status == 200

    # Then the exam's log says so, naming the student by pseudonym only, with the request's id
    (event,) = _audit(api, {"action": "verification.link_issued"}).body["items"]
    assert (event["actor"], event["role"], event["target"]) == ("reviewer", None, f"verification:{code}")
    assert event["after"] == {"pseudonym": student["pseudonym"], "expires_at": link.body["expires_at"]}
    assert event["request_id"] == "5b8e0c4e-7f7a-4d51-9a0e-2f3c1f0b9a11"  # the sample event's
    assert _audit(api, {"nickname": student["nickname"], "action": "verification.link_issued"}).body["items"] == [event]


# --- deletion, retention, the expiry job ------------------------------------------------------


def _rows_of_exam(conn: psycopg.Connection[dict[str, Any]], exam_pk: int) -> dict[str, Any]:
    row = conn.execute(
        """SELECT (SELECT array_agg(action ORDER BY seq) FROM audit_event WHERE exam_pk = %(e)s) AS actions,
                  (SELECT count(*) FROM audit_checkpoint WHERE exam_pk = %(e)s) AS checkpoints,
                  (SELECT count(*) FROM audit_head WHERE exam_pk = %(e)s) AS heads""",
        {"e": exam_pk},
    ).fetchone()
    assert row is not None
    return row


def _age(conn: psycopg.Connection[dict[str, Any]], exam_pk: int, days: int) -> None:
    """Make the exam's log `days` older, as if it had been written then."""
    with _triggers_off(conn):
        conn.execute("UPDATE audit_event SET at = at - make_interval(days => %s) WHERE exam_pk = %s", (days, exam_pk))
    conn.execute("UPDATE audit_head SET at = at - make_interval(days => %s) WHERE exam_pk = %s", (days, exam_pk))


def test_a_deleted_exam_keeps_only_its_tombstone_until_the_retention_and_never_less_than_30_days(
    api: Api, conn: psycopg.Connection[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an exam with events and a checkpoint
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"), _about("anon-000002"))
    assert checkpoints.sign_checkpoint(exam_pk, "closed") is not None
    head = _head(exam_pk)

    # When it is deleted as the use case does: the tombstone, the rows, the rest of the log
    tombstone = audit.Event(
        OWNER,
        audit.AuditAction.EXAM_DELETED,
        "exam",
        before={"title": "Physics, December 2026"},
        after={"students": 0, "files": 0, "exports": 0, "papers": 0, "events_removed": head.seq},
    )
    with db.transaction() as app:
        db.audit.append(app, exam_pk, [tombstone])
        app.execute("DELETE FROM exam WHERE id = %s", (exam_pk,))
        assert db.audit.forget_deleted_exam(app, exam_pk) == head.seq

    # Then only the tombstone is left, naming the head at the deletion
    assert _rows_of_exam(conn, exam_pk) == {"actions": ["exam.deleted"], "checkpoints": 0, "heads": 1}
    (kept,) = conn.execute("SELECT seq, prev_hash FROM audit_event WHERE exam_pk = %s", (exam_pk,)).fetchall()
    assert kept == {"seq": head.seq + 1, "prev_hash": head.hash}

    # And nothing removes it before 30 days, whatever the application asks: the purge leaves it,
    # and the trigger refuses a DELETE
    with db.transaction() as app:
        assert db.audit.purge(app, tombstones_before=datetime.now(UTC) + timedelta(days=1)) == 0
    _age(conn, exam_pk, 29)
    with db.transaction() as app:
        assert db.audit.purge(app, tombstones_before=datetime.now(UTC)) == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_event WHERE exam_pk = %s", (exam_pk,))
    assert _rows_of_exam(conn, exam_pk)["actions"] == ["exam.deleted"]

    # And the expiry job keeps it for AuditRetentionDays (365 by default), then purges it
    _age(conn, exam_pk, 2)  # 31 days old
    now = datetime.now(UTC)
    assert expiry.purge_audit(now) == 0
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    config.reset()
    assert expiry.purge_audit(now) == 1
    assert _rows_of_exam(conn, exam_pk) == {"actions": None, "checkpoints": 0, "heads": 0}


def test_an_exam_an_older_release_deletes_goes_with_its_events_kept_until_the_retention(
    api: Api, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    # Given an exam with events, deleted by SQL that knows nothing of the log (a rolled-back release)
    exam_pk = _app_exam_pk()
    _append(exam_pk, _about("anon-000001"))
    conn.execute("DELETE FROM exam WHERE id = %s", (exam_pk,))
    left = _rows_of_exam(conn, exam_pk)
    assert (left["actions"][-1], len(left["actions"]), left["heads"]) == ("extension.set", _head(exam_pk).seq, 1)

    # Then its log stays for the retention after its last event, then goes
    assert expiry.purge_audit(datetime.now(UTC)) == 0
    _age(conn, exam_pk, 366)
    assert expiry.purge_audit(datetime.now(UTC)) == 1
    assert _rows_of_exam(conn, exam_pk) == {"actions": None, "checkpoints": 0, "heads": 0}


def test_the_expiry_job_signs_a_checkpoint_of_every_exam_whose_last_cutoff_passed(
    api: Api, clean_database: str
) -> None:
    # Given an exam over, and one whose student has an extension still running
    now = datetime.now(UTC)
    api.create_exam("over")
    api.create_exam("extended")
    api.create_student("late", exam_id="extended")
    for exam_id in ("over", "extended", EXAM):
        move_window(
            clean_database,
            exam_id,
            opens_at=now - timedelta(days=2),
            due_at=now - timedelta(days=1),
            cutoff_at=now - timedelta(days=1),
        )
    with psycopg.connect(clean_database) as admin:
        admin.execute(
            "UPDATE student SET extension_due_at = %s, extension_cutoff_at = %s", (now + timedelta(hours=1),) * 2
        )
    _append(_app_exam_pk("over"), _about("anon-000001"))

    # When the job runs, twice
    first = expiry.expire_submissions(now, checkpoint=checkpoints.sign_checkpoint)
    second = expiry.expire_submissions(now, checkpoint=checkpoints.sign_checkpoint)

    # Then the exams over got one `closed` checkpoint each, of their head, and the extended none yet
    assert (first.checkpoints, second.checkpoints) == (2, 0)
    with db.transaction() as app:
        marks = app.execute(
            """SELECT e.slug, c.seq, c.hash, h.seq AS head_seq, h.hash AS head_hash FROM audit_checkpoint c
               JOIN exam e ON e.id = c.exam_pk JOIN audit_head h ON h.exam_pk = c.exam_pk
               WHERE c.reason = 'closed' ORDER BY e.slug"""
        ).fetchall()
    assert [mark["slug"] for mark in marks] == ["over", EXAM]
    assert all((mark["seq"], mark["hash"]) == (mark["head_seq"], mark["head_hash"]) for mark in marks)

    # And once the extension is over too, the next run signs that exam's
    later = now + timedelta(hours=2)
    assert expiry.expire_submissions(later, checkpoint=checkpoints.sign_checkpoint).checkpoints == 1


def test_closing_signs_a_checkpoint_and_deleting_leaves_the_tombstone_not_before_s3_is_done(
    api: Api, conn: psycopg.Connection[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an exam with a student, closed by its owner
    api.create_student("ann")
    assert api.call("close_exam", "now").status == 200
    exam_pk = _app_exam_pk()
    head = _head(exam_pk)
    (closed,) = conn.execute("SELECT seq, hash, token FROM audit_checkpoint WHERE reason = 'closed'").fetchall()
    # Then the close's checkpoint is of the log's head, and verifies against the published keys
    assert (closed["seq"], closed["hash"]) == (head.seq, head.hash)
    assert _audit(api, {"limit": "1"}).body["items"][0]["action"] == "exam.closed"
    claims = json.loads(jws.deserialize_compact(closed["token"], jwk.KeySet.import_key_set(_jwks(api))).payload)
    assert (claims["seq"], claims["hash"], claims["reason"]) == (head.seq, head.hash, "closed")

    # When deleting it fails because S3 cannot be reached (nothing listens on its endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    config.reset()
    aws_clients.reset()
    assert api.call("delete_exam", "by_id").status == 503
    # Then the log is as it was: no tombstone of a deletion that did not happen
    assert _head(exam_pk) == head
    assert _rows_of_exam(conn, exam_pk)["checkpoints"] == 1

    # And when it succeeds, only the tombstone is left, chained to that head, saying what went
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    config.reset()
    aws_clients.reset()
    assert api.call("delete_exam", "by_id").status == 204
    (tombstone,) = conn.execute("SELECT * FROM audit_event WHERE exam_pk = %s", (exam_pk,)).fetchall()
    assert (tombstone["seq"], tombstone["prev_hash"], tombstone["action"]) == (head.seq + 1, head.hash, "exam.deleted")
    assert tombstone["after"] == {"students": 1, "files": 0, "exports": 0, "papers": 0, "events_removed": head.seq}
    assert _rows_of_exam(conn, exam_pk) == {"actions": ["exam.deleted"], "checkpoints": 0, "heads": 1}


def test_an_export_whose_checkpoint_cannot_be_signed_is_retried_then_fails_saying_so(
    api: Api, handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an export queued while KMS refuses the signing key (one that does not exist)
    response = api.call("create_export", "start", path_params={"exam_id": EXAM})
    export_id = response.body["export_id"]
    monkeypatch.setenv("RECEIPT_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000")
    config.reset()
    signing.reset()

    # Then a try before the last is left to SQS to retry, and the last fails the export, saying so
    with pytest.raises(ServiceUnavailable):
        export_builder.build_export(UUID(export_id), last_try=False, checkpoint=checkpoints.sign_checkpoint)
    built = export_builder.build_export(UUID(export_id), last_try=True, checkpoint=checkpoints.sign_checkpoint)
    assert built.outcome == "failed"
    failed = api.call("get_export", "progress", path_params={"export_id": export_id}).body
    assert (failed["status"], failed["error"]) == (
        "failed",
        "S3, KMS or the database was unavailable on every try; start the export again.",
    )


# --- a roster page's disclosures, appended by the page's own statement --------------------------


def test_a_roster_page_appends_its_disclosures_in_its_own_statement_as_append_would_and_the_chain_verifies(
    api: Api, tmp_path: Path
) -> None:
    # Given an anonymous exam of three students: its owner is shown their codes, and their names
    # beside their pseudonyms (two events per page that shows any)
    api.create_exam("blind-2026", anonymous=True)
    for nickname in ("ann", "bob", "cat"):
        api.create_student(nickname, exam_id="blind-2026")
    exam_pk = _app_exam_pk("blind-2026")
    before = _head(exam_pk).seq
    path = {"exam_id": "blind-2026"}

    # When the owner reads the roster in pages of two, each page counted, then a search that finds no one
    counter = StatementCounter()
    pages: list[dict[str, Any]] = []
    statements: list[int] = []
    with counter.installed():
        for query in ({"limit": "2"}, {"limit": "2", "cursor": "next"}, {"q": "nobody-has-this"}):
            if query.get("cursor") == "next":
                query["cursor"] = pages[-1]["next_cursor"]
            counter.reset()
            answer = api.call("list_students", "first_page", path_params=path, query=query)
            assert answer.status == 200, answer.body
            pages.append(answer.body)
            statements.append(len(counter.trace.statements))

    # Then each page is two statements (the exam, the page), the empty one appended nothing, and
    # each page that showed students appended its two events: the count and the pseudonyms it
    # showed, hashed over the body text `append` writes for such an event
    assert statements == [2, 2, 2]
    assert [len(page["items"]) for page in pages] == [2, 1, 0]
    events = _app_events(exam_pk)
    appended = events[before:]
    assert len(appended) == 4
    shown = [[item["pseudonym"] for item in page["items"]] for page in pages[:2]]
    with db.transaction() as app:
        subjects = app.execute(
            "SELECT subjects FROM audit_event WHERE exam_pk = %s AND seq > %s ORDER BY seq", (exam_pk, before)
        ).fetchall()
    for item, (action, pseudonyms), row in zip(
        appended,
        [
            (action, page)
            for page in shown
            for action in (audit.AuditAction.STUDENT_CODE_SHOWN, audit.AuditAction.STUDENT_NAME_REVEALED)
        ],
        subjects,
        strict=True,
    ):
        assert item.role is not None
        written_by_append = audit.Event(
            audit.Actor(item.actor, Role(item.role), item.request_id),
            action,
            "students",
            after={"count": len(pseudonyms)},
            subjects=tuple(pseudonyms),
        )
        assert (item.action, item.target, item.before, item.after) == (
            action,
            "students",
            None,
            {"count": len(pseudonyms)},
        )
        assert item.hash == audit.link(item.prev_hash, item.seq, audit.at_text(item.at), audit.body(written_by_append))
        assert row["subjects"] == pseudonyms
    assert _head(exam_pk).seq == events[-1].seq
    assert _head(exam_pk).hash == events[-1].hash

    # And the whole chain verifies, by chain_break and by the documented verifier
    assert audit_log.chain_break(events) is None
    token = checkpoints.sign_checkpoint(exam_pk, "closed")
    assert token is not None
    log = api.call("list_audit", "first_page", path_params=path, headers={"Accept": "text/csv"})
    assert log.status == 200, log.body
    verified = verify_offline(tmp_path / "pages", str(log.body).encode(), token, _jwks(api))
    assert verified.returncode == 0, verified.stderr


def test_pages_read_while_others_append_queue_into_one_unbroken_chain(api: Api) -> None:
    # Given an exam with students, and 16 requests at once: half the owner's roster pages, half
    # units of work that append an event of their own (overlapping)
    api.create_student("ann")
    api.create_student("bob")
    exam_pk = _app_exam_pk()
    before = _head(exam_pk).seq
    together = threading.Barrier(16, timeout=60)

    def read_or_append(n: int) -> None:
        together.wait()
        if n % 2:
            assert api.call("list_students", "first_page").status == 200
            return
        with db.transaction() as app:
            app.execute("SELECT pg_sleep(0.01 * %s)", (n % 3,))
            db.audit.append(app, exam_pk, [_about(f"anon-{n:06d}")])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(read_or_append, range(16)))

    # Then every page's event and every other is in the chain, one after another, and it holds
    items = _app_events(exam_pk)
    assert [item.seq for item in items] == list(range(1, before + 17))
    assert sorted(item.action for item in items[before:]) == ["extension.set"] * 8 + ["student.code_shown"] * 8
    assert audit_log.chain_break(items) is None
