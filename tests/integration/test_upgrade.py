"""An upgraded deployment loses nothing: a database filled under the first edition's schema
(0001) is migrated to this one, its students land in the unowned legacy exam, their codes and
files keep working, and ops hand the exam to an examiner with the documented command; databases
filled under later schemas keep their pseudonyms, retention, search, and, once timed exams come,
every window, late flag and receipt; and once types are checked and files scanned, every exam
accepts any type and every earlier file is served, unscanned, as before."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import db, signing
from exam_depository.adapters.db import schema
from exam_depository.domain import audit, codes, jws
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from local_stack.functions import LambdaContext, sample_event
from tests.conftest import _with_database
from tests.integration.conftest import BUCKET, EXAMINER, OTHER_EXAMINER, REGION, Api, Bucket

OLD_CODE, OLD_VERIFICATION = "7K3MQ9TX2WFD8HNBC4RZ", "Q2RBM7TZ3KXD9WFAH5NP"
PSEUDONYM = re.compile(r"^anon-[0-9A-HJKMNP-TV-Z]{6}$")
Record = Callable[..., dict[str, Any]]


def _migrate_to(url: str, last: str) -> None:
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    wanted = every.__class__([m for m in every if m.id <= last])
    with backend.lock():
        backend.apply_migrations(backend.to_apply(wanted))


@contextmanager
def _database_at(server_url: str, last: str) -> Iterator[str]:
    """A database of its own, migrated up to `last`, dropped afterwards."""
    name = f"exam_depository_upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        _migrate_to(url, last)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _served(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The functions reach this database from now on."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("DB_SECRET_ARN")
    config.reset()
    db.reset()


@pytest.fixture
def first_edition_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own, at schema 0001, holding what the first edition wrote."""
    with _database_at(server_url, "0001.initial-schema") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            student = conn.execute(
                """INSERT INTO student (nickname, first_name, last_name, email, upload_code)
                   VALUES ('mobrien', 'Mary-Ann', 'O''Brien', 'm@example.org', %s),
                          ('zl', 'Zoë', 'Ł', NULL, 'ZZZZ9TX2WFD8HNBC4RZ0')
                   RETURNING id""",
                (OLD_CODE,),
            ).fetchone()
            assert student is not None
            upload = conn.execute(
                """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                                       s3_sequencer)
                   VALUES (gen_random_uuid(), %s, 'submissions/old/answers.pdf', 'answers.pdf', 'application/pdf',
                           now(), 'recorded', '0A')
                   RETURNING id""",
                (student[0],),
            ).fetchone()
            assert upload is not None
            conn.execute(
                """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                           size_bytes, sha256, submitted_at, expires_at, status)
                   VALUES (%s, %s, 1, %s, 'answers.pdf', 'application/pdf', 12, repeat('a', 64), now(),
                           now() + interval '72 hours', 'current')""",
                (upload[0], student[0], OLD_VERIFICATION),
            )
        _served(url, monkeypatch)
        yield url
        db.reset()


def test_a_first_edition_database_upgrades_without_losing_anything(
    first_edition_database: str, handler: Callable[[str], ModuleType], bucket: Bucket
) -> None:
    # When the migrations of this release run
    applied = schema.migrate(first_edition_database)

    # Then the students are in one exam that belongs to no one, their records intact
    assert applied[:4] == [
        "0002.object-versions",
        "0003.exams",
        "0004.receipts-and-exports",
        "0005.retention-from-window-end",
    ]
    assert applied == [migration.id for migration in read_migrations(str(schema.MIGRATIONS))][1:]
    with psycopg.connect(first_edition_database) as conn:
        exams = conn.execute("SELECT slug, examiner_id, max_attempts FROM exam").fetchall()
        assert exams == [("legacy", None, 5)]
        assert conn.execute("SELECT count(*) FROM student WHERE exam_id IS NOT NULL").fetchone() == (2,)
        assert conn.execute("SELECT version_id, status FROM upload").fetchone() == ("null", "recorded")
        assert conn.execute("SELECT late FROM submission").fetchone() == (False,)
    api = Api(handler)

    # And the upload code and the verification code work as before
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": OLD_CODE})
    assert progress.status == 200, progress.body
    assert progress.body["exam"]["title"] == "Students from before exams"
    assert progress.body["current"]["verification_code"] == "Q2RB-M7TZ-3KXD-9WFA-H5NP"
    verification = api.call("get_verification", "by_code", path_params={"verification_code": OLD_VERIFICATION})
    assert verification.body["student"] == {"first_name": "Mary-Ann", "last_name": "O'Brien"}
    assert api.request_upload(OLD_CODE).status == 201  # the legacy exam is open

    # And no examiner sees the exam until ops assign it (make assign-exam: the administer function)
    assert api.call("list_exams", "first_page").body["items"] == []
    administer = handler("administer")
    assigned = administer.lambda_handler(sample_event("administer", "assign_exam"), LambdaContext())
    assert assigned == {"done": f"exam legacy now belongs to the examiner of key {EXAMINER}"}
    listed = api.call("list_exams", "first_page").body["items"]
    assert [(e["exam_id"], e["counts"]["students"], e["counts"]["handed_in"]) for e in listed] == [("legacy", 2, 1)]
    legacy = api.call("get_student", "by_nickname", path_params={"exam_id": "legacy", "nickname": "mobrien"})
    assert legacy.body["upload_code"] == "7K3M-Q9TX-2WFD-8HNB-C4RZ"


@pytest.fixture
def before_pseudonyms_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own, at schema 0004, holding two exams of an examiner (one anonymous)
    with students, one of whom handed in."""
    with _database_at(server_url, "0005.retention-from-window-end") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, 1)", (EXAMINER,))
            for slug, anonymous in (("named", False), ("blind", True)):
                exam = conn.execute(
                    """INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts,
                                         anonymous)
                       VALUES (1, %s, 'Old', now() - interval '1 hour', now() + interval '1 hour',
                               now() + interval '1 hour', 'UTC', 5, %s)
                       RETURNING id""",
                    (slug, anonymous),
                ).fetchone()
                assert exam is not None
                with conn.cursor() as cur:
                    cur.executemany(
                        """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code)
                           VALUES (%s, %s, 'A', 'B', %s)""",
                        [(exam[0], f"s{n}", codes.new_code()) for n in range(300)],
                    )
        _served(url, monkeypatch)
        yield url
        db.reset()


def test_existing_students_get_a_pseudonym_random_and_unique_in_their_exam(
    before_pseudonyms_database: str, handler: Callable[[str], ModuleType], bucket: Bucket, record: Record
) -> None:
    # When the migration that brings pseudonyms runs on students made before them
    applied = schema.migrate(before_pseudonyms_database)

    # Then every student has one of the documented shape, unique in its exam, drawn at random
    assert "0006.pseudonyms" in applied
    with psycopg.connect(before_pseudonyms_database) as conn:
        rows = conn.execute("SELECT e.slug, s.nickname, s.pseudonym FROM student s JOIN exam e ON e.id = s.exam_id")
        pseudonyms = {(slug, nickname): pseudonym for slug, nickname, pseudonym in rows.fetchall()}
    assert len(pseudonyms) == 600
    assert all(PSEUDONYM.match(pseudonym) for pseudonym in pseudonyms.values())
    for exam in ("named", "blind"):
        assert len({p for (slug, _), p in pseudonyms.items() if slug == exam}) == 300
    assert len(set(pseudonyms.values())) > 590  # two exams' draws are independent (30 bits each)
    symbols = "".join(pseudonym.removeprefix("anon-") for pseudonym in pseudonyms.values())
    assert len(set(symbols)) == 32  # every symbol of the alphabet is drawn

    # And the examiner sees each student's pseudonym, and it names them in an anonymous exam's receipt
    api = Api(handler)
    student = api.call("get_student", "by_nickname", path_params={"exam_id": "blind", "nickname": "s7"}).body
    assert student["pseudonym"] == pseudonyms[("blind", "s7")]
    form = api.request_upload(codes.display(_upload_code(before_pseudonyms_database, "blind", "s7"))).body
    bucket.upload(form, b"%PDF after the upgrade")
    assert record(bucket.notification(form["fields"]["key"], 22)) == {"batchItemFailures": []}
    receipt = api.call("get_student", "by_nickname", path_params={"exam_id": "blind", "nickname": "s7"}).body[
        "current"
    ]["receipt"]
    assert json.loads(base64.urlsafe_b64decode(receipt.split(".")[1] + "=="))["nickname"] == student["pseudonym"]
    # And they never change: migrating again does nothing
    assert schema.migrate(before_pseudonyms_database) == []


def _upload_code(url: str, slug: str, nickname: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT upload_code FROM student s JOIN exam e ON e.id = s.exam_id WHERE e.slug = %s AND s.nickname = %s",
            (slug, nickname),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_new_installation_has_no_legacy_exam(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM exam WHERE slug = 'legacy'").fetchone() == (0,)


@pytest.fixture
def second_edition_database(server_url: str) -> Iterator[str]:
    """A database of its own at schema 0004 (the second edition), to fill and then upgrade."""
    with _database_at(server_url, "0004.receipts-and-exports") as url:
        yield url


def test_files_recorded_under_the_three_day_rule_are_kept_until_the_retention_after_their_cutoff(
    second_edition_database: str,
) -> None:
    # Given an exam that runs 1 to 24 December (due at noon, cut-off a quarter past), recorded
    # under the second edition's rule: kept 3 days after the upload
    url = second_edition_database
    cutoff = "2026-12-24 12:15+00"
    files = {
        # nickname: (handed in, extension's cut-off, status)
        "early": ("2026-12-04 10:00+00", None, "current"),  # 17 days before the deadline
        "stale": ("2026-12-01 10:00+00", None, "current"),  # its 3 days are over, the job not run yet
        "extended": ("2026-12-20 10:00+00", "2026-12-30 12:00+00", "current"),
        "after": ("2026-12-27 09:00+00", "2026-12-30 12:00+00", "current"),  # after the exam's cut-off
        "gone": ("2026-11-01 10:00+00", None, "expired"),  # already expired and deleted: stays so
    }
    with psycopg.connect(url, autocommit=True) as conn:
        (exam_id,) = conn.execute(
            """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
               VALUES ('physics', 'Physics', '2026-10-01 09:00+00', '2026-12-24 12:00+00', %s, 'UTC', 5)
               RETURNING id""",
            (cutoff,),
        ).fetchone() or (None,)
        for n, (nickname, (submitted, extension, status)) in enumerate(files.items()):
            (student_id,) = conn.execute(
                """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, extension_due_at,
                                        extension_cutoff_at)
                   VALUES (%s, %s, 'A', 'B', %s, %s, %s) RETURNING id""",
                (exam_id, nickname, f"CODE{n}", extension, extension),
            ).fetchone() or (None,)
            upload_id = uuid.uuid4()
            conn.execute(
                """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                                       version_id)
                   VALUES (%s, %s, %s, 'a.pdf', 'application/pdf', %s, 'recorded', 'v1')""",
                (upload_id, student_id, f"submissions/{exam_id}/{upload_id}/a.pdf", submitted),
            )
            conn.execute(
                """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                           size_bytes, sha256, submitted_at, expires_at, status, late)
                   VALUES (%s, %s, 1, %s, 'a.pdf', 'application/pdf', 4, repeat('a', 64), %s,
                           %s::timestamptz + interval '3 days', %s, false)""",
                (upload_id, student_id, f"VERIFY{n}", submitted, submitted, status),
            )

    # When this release's migrations run
    applied = schema.migrate(url)

    # Then every file not yet expired is kept 3 days after the later of its upload and its cut-off
    assert applied[0] == "0005.retention-from-window-end"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT s.nickname, to_char(x.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), x.status
               FROM submission x JOIN student s ON s.id = x.student_id ORDER BY s.id"""
        ).fetchall()
    assert rows == [
        ("early", "2026-12-27 12:15", "current"),
        ("stale", "2026-12-27 12:15", "current"),
        ("extended", "2027-01-02 12:00", "current"),
        ("after", "2027-01-02 12:00", "current"),
        ("gone", "2026-11-04 10:00", "expired"),
    ]
    # And what S3 accepted after a cut-off moved earlier can now be rejected with its reason
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE upload SET status = 'rejected', rejection_reason = 'after_cutoff' WHERE version_id = 'v1'")


@pytest.mark.parametrize("had_unaccent", [False, True], ids=["without unaccent", "with unaccent already"])
def test_a_roster_made_before_the_search_is_searched_without_its_accents_once_migrated(
    server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    aws: None,
    handler: Callable[[str], ModuleType],
    had_unaccent: bool,
) -> None:
    # Given a database at schema 0007 (before the search) with students, and unaccent or not (an
    # operator's database may have it for its own use)
    with _database_at(server_url, "0007.extension-removed-at") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, 1)", (EXAMINER,))
            (exam_pk,) = conn.execute(
                """INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
                   VALUES (1, 'old', 'Old', now() - interval '1 hour', now() + interval '1 hour',
                           now() + interval '1 hour', 'UTC', 5)
                   RETURNING id"""
            ).fetchone() or (None,)
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
                       VALUES (%s, %s, %s, %s, %s, %s)""",
                    [
                        (exam_pk, nickname, first, last, codes.new_code(), codes.new_pseudonym())
                        for nickname, first, last in (("hm", "Hans", "Müller"), ("zl", "Zoë", "Ł"), ("kp", "Kim", "P"))
                    ],
                )
            if had_unaccent:
                conn.execute("CREATE EXTENSION unaccent")
        _served(url, monkeypatch)

        # When this release's migrations run
        applied = schema.migrate(url)

        # Then the search's extension is there, and the students made before it are found by it
        assert applied[0] == "0008.unaccent"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'").fetchone() == (1,)
        api = Api(handler)
        for q, found in (("MULLER", ["hm"]), ("zoe", ["zl"]), ("müll", ["hm"])):
            page = api.call("list_students", "first_page", path_params={"exam_id": "old"}, query={"q": q})
            assert [item["nickname"] for item in page.body["items"]] == found, page.body
        assert schema.migrate(url) == []
        db.reset()


def _old_receipt(claims: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """A receipt as the release before timed exams signed it (no started_at, no due_at), with the
    deployment's KMS key: (its text, its kid, its public key)."""
    key = jws.public_key(signing.public_key_der())
    return jws.sign(key, claims, signing.sign), key.kid, key.jwk


@pytest.fixture
def before_timed_exams_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0008 (before timed exams), filled as that release did: two
    exams, students with and without extensions, files on time and late with their receipts and
    their objects in S3, an export done."""
    now = datetime.now(UTC).replace(microsecond=0)
    with _database_at(server_url, "0008.unaccent") as url:
        s3 = boto3.client("s3", region_name=REGION)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, 1)", (EXAMINER,))
            exams = {}
            for slug, opens, due, cutoff in (
                ("physics", -3, 1, 1.25),  # open
                ("chem", -5, -1, 2),  # in its late period
            ):
                (exams[slug],) = conn.execute(
                    """INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
                       VALUES (1, %s, 'Old', %s, %s, %s, 'Europe/Paris', 5) RETURNING id""",
                    (slug, *(now + timedelta(hours=h) for h in (opens, due, cutoff))),
                ).fetchone() or (None,)
            for slug, nickname, extension, handed_in in UPGRADED:
                ext = None if extension is None else now + timedelta(hours=extension)
                (student_id,) = conn.execute(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym,
                                            extension_due_at, extension_cutoff_at)
                       VALUES (%s, %s, 'A', 'B', %s, %s, %s, %s) RETURNING id""",
                    (
                        exams[slug],
                        nickname,
                        codes.new_code(),
                        codes.new_pseudonym(),
                        ext,
                        ext and ext + timedelta(minutes=15),
                    ),
                ).fetchone() or (None,)
                if handed_in is None:
                    continue
                submitted = now + timedelta(hours=handed_in)
                state = conn.execute(
                    """SELECT greatest(e.due_at, s.extension_due_at), greatest(e.cutoff_at, s.extension_cutoff_at)
                       FROM student s JOIN exam e ON e.id = s.exam_id WHERE s.id = %s""",
                    (student_id,),
                ).fetchone()
                assert state is not None
                late, expires = submitted > state[0], max(submitted, state[1]) + timedelta(days=3)
                upload_id, content = uuid.uuid4(), f"%PDF {nickname}".encode()
                key = f"submissions/{exams[slug]}/{upload_id}/a.pdf"
                version = s3.put_object(Bucket=BUCKET, Key=key, Body=content)["VersionId"]
                verification = codes.new_code()
                receipt, kid, jwk = _old_receipt(
                    {
                        "iss": "exam-depository-test",
                        "iat": int(submitted.timestamp()),
                        "exam": slug,
                        "nickname": nickname,
                        "filename": "a.pdf",
                        "size": len(content),
                        "sha256": hashlib.sha256(content).hexdigest(),
                        "sha256_checked_by_s3": False,
                        "s3_version": version,
                        "submitted_at": submitted.isoformat().replace("+00:00", "Z"),
                        "late": late,
                        "verification_code": codes.display(verification),
                        "attempt": 1,
                        "attempts": 5,
                        "previous_receipt_sha256": None,
                    }
                )
                conn.execute(
                    "INSERT INTO receipt_key (kid, jwk) VALUES (%s, %s) ON CONFLICT DO NOTHING", (kid, Jsonb(jwk))
                )
                conn.execute(
                    """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                                           version_id)
                       VALUES (%s, %s, %s, 'a.pdf', 'application/pdf', %s, 'recorded', %s)""",
                    (upload_id, student_id, key, submitted, version),
                )
                conn.execute(
                    """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename,
                                               content_type, size_bytes, sha256, submitted_at, expires_at, status, late,
                                               receipt)
                       SELECT %s, %s, issue_seq, %s, 'a.pdf', 'application/pdf', %s, %s, %s, %s, 'current', %s, %s
                       FROM upload WHERE id = %s""",
                    (
                        upload_id,
                        student_id,
                        verification,
                        len(content),
                        hashlib.sha256(content).hexdigest(),
                        submitted,
                        expires,
                        late,
                        receipt,
                        upload_id,
                    ),
                )
            conn.execute(
                """INSERT INTO export (id, exam_id, status, files_total, files_done, bytes, object_key, finished_at,
                                       expires_at)
                   VALUES (%s, %s, 'done', 1, 1, 100, %s, now(), now() + interval '1 day')""",
                (OLD_EXPORT, exams["physics"], f"exports/{exams['physics']}/{OLD_EXPORT}/physics.zip"),
            )
        s3.put_object(Bucket=BUCKET, Key=f"exports/{exams['physics']}/{OLD_EXPORT}/physics.zip", Body=b"PK")
        _served(url, monkeypatch)
        yield url
        db.reset()


# (exam, nickname, extension's due in hours from now or None, handed in hours from now or None)
UPGRADED = [
    ("physics", "ann", None, -2.0),  # on time
    ("physics", "bob", 3.0, None),  # an extension, nothing handed in yet
    ("chem", "cy", None, -0.5),  # late, in the late period
    ("chem", "dee", 1.0, -0.5),  # an extension made it on time
]
OLD_EXPORT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _windows_and_files(url: str) -> dict[str, tuple[Any, ...]]:
    """Each student's window, and their file's late flag and expiry, as the database holds them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT s.nickname, greatest(e.due_at, s.extension_due_at), greatest(e.cutoff_at, s.extension_cutoff_at),
                      x.late, x.expires_at, x.receipt
               FROM student s JOIN exam e ON e.id = s.exam_id LEFT JOIN submission x ON x.student_id = s.id"""
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_a_database_from_before_timed_exams_keeps_every_window_flag_and_receipt_once_migrated(
    before_timed_exams_database: str, handler: Callable[[str], ModuleType], bucket: Bucket, record: Record
) -> None:
    url = before_timed_exams_database
    before = _windows_and_files(url)

    # When this release's migration runs
    applied = schema.migrate(url)

    # Then the timed exams' migration comes first, and every new column is at its default
    assert applied[0] == "0009.timed-exams"
    assert _windows_and_files(url) == before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM exam WHERE duration_minutes IS NOT NULL").fetchone() == (0,)
        assert conn.execute(
            """SELECT count(*) FROM student WHERE started_at IS NOT NULL OR extra_time_percent <> 0
               OR extra_time_minutes <> 0 OR extra_time_accepted_until IS NOT NULL"""
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*), count(due_at) FROM submission").fetchone() == (3, 0)

    # And the API answers the same windows and flags, with the new fields at their defaults
    api = Api(handler)
    for exam_id in ("physics", "chem"):
        exam = api.call("get_exam", "by_id", path_params={"exam_id": exam_id}).body
        assert (exam["duration_minutes"], exam["counts"]["started"], exam["paper"]) == (None, 0, None)
        page = api.call("list_students", "first_page", path_params={"exam_id": exam_id}).body["items"]
        for item in page:
            due, cutoff, late, expires, receipt = before[item["nickname"]]
            detail = api.call(
                "get_student", "by_nickname", path_params={"exam_id": exam_id, "nickname": item["nickname"]}
            ).body
            assert item == {name: value for name, value in detail.items() if name not in ("submissions", "messages")}
            assert (datetime.fromisoformat(item["due_at"]), datetime.fromisoformat(item["cutoff_at"])) == (due, cutoff)
            assert (item["started_at"], item["extra_time_percent"], item["extra_time_minutes"]) == (None, 0, 0)
            assert item["time_allowed_seconds"] is None
            if receipt is None:
                assert item["current"] is None
                continue
            assert (item["current"]["late"], item["current"]["due_at"]) == (late, None)
            assert datetime.fromisoformat(item["current"]["expires_at"]) == expires
            # And the receipts issued before are still genuine, without the new claims
            checked = api.call("verify_receipt", "not_a_receipt", body={"receipt": receipt}).body
            assert checked["genuine"] is True, checked
            assert "started_at" not in checked["claims"]
            assert "due_at" not in checked["claims"]
    export = api.call("get_export", "progress", path_params={"exam_id": "physics", "export_id": str(OLD_EXPORT)})
    assert export.body["status"] == "done"

    # And a new upload records the due time it was measured against, and the receipt states it
    code = _upload_code(url, "physics", "bob")
    form = api.request_upload(code).body
    bucket.upload(form, b"%PDF after the upgrade")
    assert record(bucket.notification(form["fields"]["key"], 22)) == {"batchItemFailures": []}
    current = api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body["current"]
    assert datetime.fromisoformat(current["due_at"]) == before["bob"][0]
    claims = json.loads(base64.urlsafe_b64decode(current["receipt"].split(".")[1] + "=="))
    assert (claims["started_at"], datetime.fromisoformat(claims["due_at"])) == (None, before["bob"][0])
    assert current["late"] is False
    # And migrating again applies nothing
    assert schema.migrate(url) == []


# What a database at 0009 (before members) holds, made as that release's SQL made it: two
# examiners, the first with two keys (a rotated one linked), both with an exam "physics"; the
# first also "chem"; the legacy exam of an upgrade, owned by no one. Each exam has a student.
BEFORE_MEMBERS = {
    # key id: examiner
    EXAMINER: 1,
    "a1-rotated": 1,
    OTHER_EXAMINER: 2,
}
# (examiner, exam id, title); None: the legacy exam
BEFORE_MEMBERS_EXAMS = [(1, "physics", "Physics (first)"), (2, "physics", "Physics (second)"), (1, "chem", "Chem")]
# The statement with which the release before members created an exam (db.exams.insert_exam then).
OLDER_LAYERS_INSERT = """
    INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts, anonymous,
                      duration_minutes)
    VALUES (%s, %s, %s, now() - interval '1 hour', now() + interval '1 hour', now() + interval '1 hour', 'UTC', 5,
            false, NULL)
    RETURNING id"""


@pytest.fixture
def before_members_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0009 (before members), filled as that release did."""
    with _database_at(server_url, "0009.timed-exams") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in set(BEFORE_MEMBERS.values()):
                conn.execute("INSERT INTO examiner DEFAULT VALUES")
            for key, examiner in BEFORE_MEMBERS.items():
                conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (key, examiner))
            exams = [
                conn.execute(OLDER_LAYERS_INSERT, (examiner, slug, title)).fetchone()
                for examiner, slug, title in BEFORE_MEMBERS_EXAMS
            ]
            legacy = conn.execute(
                """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts, created_at)
                   VALUES ('legacy', 'Students from before exams', now() - interval '9 days', now() + interval '1 day',
                           now() + interval '1 day', 'UTC', 5, now() - interval '10 days')
                   RETURNING id"""
            ).fetchone()
            # The exams were made at different moments (what each owner's joined_at must show).
            conn.execute(
                "UPDATE exam SET created_at = created_at - make_interval(days => id::int) WHERE slug <> 'legacy'"
            )
            for row in [*exams, legacy]:
                assert row is not None
                conn.execute(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
                       VALUES (%s, 'ann', 'A', 'B', %s, %s)""",
                    (row[0], codes.new_code(), codes.new_pseudonym()),
                )
        _served(url, monkeypatch)
        yield url
        db.reset()


def _owners(url: str) -> list[tuple[str, str, int, str, bool]]:
    """Each exam's members: (exam id, title, examiner, role, joined when the exam was made)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT e.slug, e.title, m.examiner_id, m.role, m.joined_at = e.created_at
               FROM exam_member m JOIN exam e ON e.id = m.exam_id ORDER BY e.id, m.examiner_id"""
        ).fetchall()
    return [(slug, title, examiner, role, at_creation) for slug, title, examiner, role, at_creation in rows]


def test_a_database_from_before_members_makes_each_exams_examiner_its_owner(
    before_members_database: str, handler: Callable[[str], ModuleType]
) -> None:
    url = before_members_database

    # When this release's migrations run
    applied = schema.migrate(url)

    # Then each exam's examiner is its one member, an owner, joined when the exam was made; the
    # legacy exam has none
    assert applied[0] == "0010.members"
    assert _owners(url) == [
        ("physics", "Physics (first)", 1, "owner", True),
        ("physics", "Physics (second)", 2, "owner", True),
        ("chem", "Chem", 1, "owner", True),
    ]
    # And both keys of the first examiner see their exams as the same owner; the second examiner
    # sees their own "physics"; a key of no one sees nothing, the legacy exam included
    api = Api(handler)
    seen = {}
    for key in (EXAMINER, "a1-rotated"):
        listed = api.as_key(key).call("list_exams", "first_page").body["items"]
        assert [(e["exam_id"], e["title"], e["role"]) for e in listed] == [
            ("physics", "Physics (first)", "owner"),
            ("chem", "Chem", "owner"),
        ]
        seen[key] = api.as_key(key).call("members", "list", path_params={"exam_id": "physics"}).body["items"]
    assert seen[EXAMINER] == seen["a1-rotated"]
    assert len(seen[EXAMINER]) == 1
    second = api.as_key(OTHER_EXAMINER).call("get_exam", "by_id", path_params={"exam_id": "physics"}).body
    assert (second["title"], second["role"]) == ("Physics (second)", "owner")
    assert api.as_key("nobody-yet").call("list_exams", "first_page").body["items"] == []
    assert api.as_key("nobody-yet").call("get_exam", "by_id", path_params={"exam_id": "legacy"}).status == 404

    # And the legacy exam gets its owner when ops assign it (make assign-exam)
    handler("administer").lambda_handler(sample_event("administer", "assign_exam"), LambdaContext())
    assert [row for row in _owners(url) if row[0] == "legacy"] == [
        ("legacy", "Students from before exams", 1, "owner", True)
    ]
    assert api.call("get_exam", "by_id", path_params={"exam_id": "legacy"}).body["role"] == "owner"
    owner_id = api.call("members", "list", path_params={"exam_id": "legacy"}).body["items"][0]["member_id"]
    with psycopg.connect(url) as conn:
        assigned = conn.execute(
            """SELECT a.actor, a.role, a.action, a.after, a.request_id
               FROM audit_event a JOIN exam e ON e.id = a.exam_pk WHERE e.slug = 'legacy'"""
        ).fetchall()
    assert assigned == [("ops", None, "exam.assigned", {"owner": owner_id}, LambdaContext.aws_request_id)]

    # And an exam the older layer inserts (a deployment rolled back, the schema not) gets its
    # owner by trigger, and the older layer deletes it as before
    with psycopg.connect(url, autocommit=True) as conn:
        made = conn.execute(OLDER_LAYERS_INSERT, (2, "biology", "Biology")).fetchone()
        assert made is not None
        assert ("biology", "Biology", 2, "owner", True) in _owners(url)
        conn.execute("DELETE FROM exam WHERE id = %s", (made[0],))
    assert not [row for row in _owners(url) if row[0] == "biology"]
    assert schema.migrate(url) == []


def test_the_migrations_after_timed_exams_roll_back_and_apply_again(before_members_database: str) -> None:
    url = before_members_database
    schema.migrate(url)

    # When every migration after 0009 is rolled back (their rollback files, newest first)
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    later = every.__class__([m for m in every if m.id > "0009.timed-exams"])
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(later))

    # Then the schema is 0009's again: the older layer's statements find the creators' exams
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('exam_member'), to_regclass('invitation')").fetchone() == (None, None)
        mine = conn.execute(
            """SELECT e.slug FROM exam e JOIN examiner_key k ON k.examiner_id = e.examiner_id AND k.api_key_id = %s
               ORDER BY e.id""",
            (OTHER_EXAMINER,),
        ).fetchall()
        assert mine == [("physics",)]
    # And the audit log is gone with its trigger: the older layer inserts and deletes exams as before
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT to_regclass('audit_event'), to_regclass('audit_head'), to_regclass('audit_checkpoint')"
        ).fetchone() == (None, None, None)
        made = conn.execute(OLDER_LAYERS_INSERT, (2, "biology", "Biology")).fetchone()
        assert made is not None
        conn.execute("DELETE FROM exam WHERE id = %s", (made[0],))
    # And migrating again brings every owner back, and every exam's head
    assert schema.migrate(url)[:2] == ["0010.members", "0011.audit"]
    assert [row[2:] for row in _owners(url)] == [(1, "owner", True), (2, "owner", True), (1, "owner", True)]
    assert len(_heads(url)) == len(BEFORE_MEMBERS_EXAMS) + 1


def _heads(url: str) -> dict[str, tuple[int, str, bool]]:
    """Each exam's audit head: (seq, hash, dated when the exam was made)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT e.slug || '/' || e.id, h.seq, h.hash, h.at = e.created_at
               FROM exam e JOIN audit_head h ON h.exam_pk = e.id ORDER BY e.id"""
        ).fetchall()
    return {name: (seq, hash_, dated) for name, seq, hash_, dated in rows}


def test_a_database_from_before_the_audit_log_gives_every_exam_a_genesis_head(
    before_members_database: str, handler: Callable[[str], ModuleType]
) -> None:
    url = before_members_database

    # When this release's migrations run
    assert "0011.audit" in schema.migrate(url)

    # Then every exam, the legacy one included, has a head at the genesis, dated when it was made
    genesis = (0, audit.GENESIS, True)
    assert _heads(url) == {"physics/1": genesis, "physics/2": genesis, "chem/3": genesis, "legacy/4": genesis}

    # And an exam the older layer inserts (a deployment rolled back, the schema not) gets its head
    # by trigger, takes events, and the older layer deletes it with its events present
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        made = conn.execute(OLDER_LAYERS_INSERT, (2, "biology", "Biology")).fetchone()
        assert made is not None
        assert _heads(url)[f"biology/{made['id']}"][:2] == (0, audit.GENESIS)
        with conn.transaction():
            event = audit.Event(audit.Actor("ops", None, None), audit.AuditAction.EXAM_ASSIGNED, "exam")
            db.audit.append(conn, made["id"], [event])
        conn.execute("DELETE FROM exam WHERE id = %s", (made["id"],))
        left = conn.execute("SELECT count(*) AS events FROM audit_event WHERE exam_pk = %s", (made["id"],)).fetchone()
    assert left == {"events": 1}  # until the expiry job's retention purges it (test_audit)
    assert schema.migrate(url) == []


# --- before accepted types and malware scans (0011) ----------------------------------------------

BEFORE_CONTENT_CODE, BEFORE_CONTENT_VERIFICATION = "8K3MQ9TX2WFD8HNBC4RZ", "R2RBM7TZ3KXD9WFAH5NP"


@pytest.fixture
def before_content_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0011 (before accepted types and scans), filled as that
    release did: an exam of the sample events' examiner, a student with a recorded file and an
    upload rejected for its checksum."""
    with _database_at(server_url, "0011.audit") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, 1)", (EXAMINER,))
            exam = conn.execute(OLDER_LAYERS_INSERT, (1, "physics", "Physics")).fetchone()
            assert exam is not None
            student = conn.execute(
                """INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
                   VALUES (%s, 'ann', 'A', 'B', %s, %s) RETURNING id""",
                (exam[0], BEFORE_CONTENT_CODE, codes.new_pseudonym()),
            ).fetchone()
            assert student is not None
            conn.execute(
                """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                                       version_id, rejection_reason)
                   VALUES (gen_random_uuid(), %(s)s, 'submissions/1/a/answers.pdf', 'answers.pdf', 'application/pdf',
                           now(), 'recorded', 'v1', NULL),
                          (gen_random_uuid(), %(s)s, 'submissions/1/b/answers.pdf', 'answers.pdf', 'application/pdf',
                           now(), 'rejected', 'v2', 'checksum_mismatch')""",
                {"s": student[0]},
            )
            conn.execute(
                """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                           size_bytes, sha256, submitted_at, expires_at, status, due_at)
                   SELECT id, student_id, issue_seq, %s, 'answers.pdf', 'application/pdf', 12, repeat('a', 64),
                          now(), now() + interval '30 days', 'current', now() + interval '1 hour'
                   FROM upload WHERE status = 'recorded'""",
                (BEFORE_CONTENT_VERIFICATION,),
            )
        _served(url, monkeypatch)
        yield url
        db.reset()


def test_a_database_from_before_accepted_types_serves_its_files_as_before_once_migrated(
    before_content_database: str, handler: Callable[[str], ModuleType]
) -> None:
    url = before_content_database

    # When that release's migration runs (and the ones after it)
    assert schema.migrate(url)[0] == "0012.content-and-scans"

    # Then every exam accepts any type, and the files recorded before were never scanned (null)
    # and are served as before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT accepted_types, check_pdfs FROM exam").fetchall() == [([], False)]
        assert conn.execute(
            "SELECT found_type, warnings, scan, scan_detail, scan_released_at FROM submission"
        ).fetchall() == [(None, [], None, None, None)]
        assert conn.execute(
            "SELECT rejection_reason, accepted_types, found_type FROM upload ORDER BY issue_seq"
        ).fetchall() == [(None, [], None), ("checksum_mismatch", [], None)]
    api = Api(handler)
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "physics"}).body
    assert (exam["accepted_types"], exam["check_pdfs"]) == ([], False)
    assert exam["scan_counts"] == {"scanning": 0, "threat": 0, "unsupported": 0, "failed": 0}
    progress = api.call("get_upload_status", "by_code", path_params={"upload_code": BEFORE_CONTENT_CODE}).body
    assert (progress["exam"]["accepted_types"], progress["exam"]["accept"]) == ([], None)
    assert [(u["rejection_reason"], u["found_type"]) for u in progress["uploads"]] == [
        (None, None),
        ("checksum_mismatch", None),
    ]
    link = api.call("get_download_url", "by_code", path_params={"verification_code": BEFORE_CONTENT_VERIFICATION})
    assert link.status == 200, link.body
    # And a form for any type is issued, as before
    form = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": BEFORE_CONTENT_CODE},
        body={"filename": "program.exe", "content_type": "application/x-msdownload"},
    )
    assert form.status == 201, form.body


def test_the_content_and_scans_migration_rolls_back_and_applies_again(before_content_database: str) -> None:
    url = before_content_database
    schema.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE exam SET accepted_types = '{pdf}', check_pdfs = true")
        conn.execute(
            """UPDATE upload SET rejection_reason = 'wrong-type', found_type = 'windows-program'
               WHERE status = 'rejected'"""
        )
        conn.execute("UPDATE submission SET scan = 'threat', warnings = '{scanned_pdf}'")
        upload = conn.execute("SELECT id FROM upload WHERE status = 'recorded'").fetchone()
        assert upload is not None
        conn.execute(
            """INSERT INTO object_scan (upload_id, version_id, result, scanned_at, event_id, scanner)
               VALUES (%s, 'v1', 'THREATS_FOUND', now(), 'e1', 'tag')""",
            (upload[0],),
        )

    # When 0012 is rolled back (its rollback file)
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(every.__class__([m for m in every if m.id > "0011.audit"])))

    # Then the schema is 0011's again: no new column or table, and the older layer's reasons only
    with psycopg.connect(url) as conn:
        added = conn.execute(
            """SELECT table_name || '.' || column_name FROM information_schema.columns
               WHERE (table_name, column_name) IN (('exam', 'accepted_types'), ('upload', 'found_type'),
                                                   ('submission', 'scan'), ('submission', 'warnings'))"""
        ).fetchall()
        assert added == []
        assert conn.execute("SELECT to_regclass('object_scan')").fetchone() == (None,)
        assert conn.execute("SELECT rejection_reason FROM upload ORDER BY issue_seq").fetchall() == [
            (None,),
            ("checksum_mismatch",),
        ]
    # And migrating again applies it
    assert schema.migrate(url)[0] == "0012.content-and-scans"


# --- before mail (0012) --------------------------------------------------------------------------

BEFORE_MAIL_STUDENTS = [
    # (nickname, email as that release stored it, the address mail goes to once migrated)
    ("ana", "Ana.Lopez@Example.ORG", "ana.lopez@example.org"),
    ("ben", "ben@example.org", "ben@example.org"),
    ("cem", None, None),
    ("dia", "dïa@example.org", None),  # not plain ASCII: counts as no address until given again
]


@pytest.fixture
def before_mail_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0012 (before mail), filled as that release did: an exam of
    the sample events' examiner whose students' addresses are unique, as its index required."""
    with _database_at(server_url, "0012.content-and-scans") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, 1)", (EXAMINER,))
            exam = conn.execute(OLDER_LAYERS_INSERT, (1, "physics", "Physics")).fetchone()
            assert exam is not None
            for nickname, email, _ in BEFORE_MAIL_STUDENTS:
                conn.execute(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, email, upload_code, pseudonym)
                       VALUES (%s, %s, 'A', 'B', %s, %s, %s)""",
                    (exam[0], nickname, email, codes.new_code(), codes.new_pseudonym()),
                )
        _served(url, monkeypatch)
        yield url
        db.reset()


def _rollback_mail(url: str) -> None:
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    with backend.lock():
        backend.rollback_migrations(
            backend.to_rollback(every.__class__([m for m in every if m.id > "0012.content-and-scans"]))
        )


def test_a_database_from_before_mail_gets_each_address_as_mail_goes_to_it_and_then_allows_duplicates(
    before_mail_database: str, handler: Callable[[str], ModuleType]
) -> None:
    url = before_mail_database

    # When this release's migration runs
    assert schema.migrate(url) == ["0013.mail", "0014.claim-token", "0015.address-invitations", "0016.lti"]

    # Then each address is kept as written, and mail goes to its lower-cased ASCII form (none
    # for one that is not plain ASCII); nobody was mailed; every exam sends receipts, in English
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT nickname, email, email_address, email_state, invitations, invited_at FROM student
                ORDER BY nickname"""
        ).fetchall()
        assert rows == [(nickname, email, address, None, 0, None) for nickname, email, address in BEFORE_MAIL_STUDENTS]
        assert conn.execute("SELECT email_receipts, language, codes_sent_at FROM exam").fetchall() == [
            (True, "en", None)
        ]
    api = Api(handler)
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "physics"}).body
    assert (exam["email_receipts"], exam["language"], exam["email_counts"]["queued"]) == (True, "en", 0)
    # And the same address on a second student of the exam is now accepted, and shown
    added = api.call(
        "create_student",
        "valid",
        path_params={"exam_id": "physics"},
        body={"nickname": "eve", "first_name": "E", "last_name": "V", "email": "BEN@example.org"},
    )
    assert added.status == 201, added.body
    ben = api.call("get_student", "by_nickname", path_params={"exam_id": "physics", "nickname": "ben"}).body
    assert ben["email_shared"] is True


def test_the_mail_migration_rolls_back_only_once_no_exam_holds_an_address_twice(before_mail_database: str) -> None:
    url = before_mail_database
    schema.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        exam_pk = conn.execute("SELECT id FROM exam").fetchone()
        assert exam_pk is not None
        conn.execute(
            """INSERT INTO student (exam_id, nickname, first_name, last_name, email, email_address, upload_code,
                                    pseudonym)
               VALUES (%s, 'eve', 'E', 'V', 'Ben@Example.org', 'ben@example.org', %s, %s)""",
            (exam_pk[0], codes.new_code(), codes.new_pseudonym()),
        )
        conn.execute(
            """INSERT INTO message (id, exam_pk, student_id, kind, idempotency_key, address)
               SELECT gen_random_uuid(), exam_id, id, 'invitation', 'invitation:' || id || ':1', email_address
                 FROM student WHERE nickname = 'eve'"""
        )

    # When the rollback runs while the exam holds ben's address twice
    # Then it refuses, saying why, and the schema stays this release's
    with pytest.raises(psycopg.errors.RaiseException, match="duplicate addresses: remove them first"):
        _rollback_mail(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('message') IS NOT NULL").fetchone() == (True,)

    # When the duplicate is removed, the rollback goes through: the older layer's unique index is back
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM student WHERE nickname = 'eve'")
    _rollback_mail(url)
    with psycopg.connect(url) as conn:
        added = conn.execute(
            """SELECT table_name || '.' || column_name FROM information_schema.columns
               WHERE (table_name, column_name) IN (('exam', 'email_receipts'), ('exam', 'language'),
                                                   ('student', 'email_address'), ('student', 'email_state'))"""
        ).fetchall()
        assert added == []
        assert conn.execute(
            "SELECT to_regclass('message'), to_regclass('suppressed_address'), to_regclass('mail_pace')"
        ).fetchone() == (None, None, None)
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                """INSERT INTO student (exam_id, nickname, first_name, last_name, email, upload_code, pseudonym)
                   SELECT exam_id, 'eve', 'E', 'V', 'BEN@example.org', %s, %s FROM student WHERE nickname = 'ben'""",
                (codes.new_code(), codes.new_pseudonym()),
            )
    # And migrating again applies it
    assert schema.migrate(url) == ["0013.mail", "0014.claim-token", "0015.address-invitations", "0016.lti"]


# --- before claim tokens (0013) ------------------------------------------------------------------


@pytest.fixture
def before_claim_tokens_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0013 (mail without claim tokens), filled as that release
    did: one message queued, one claimed by its sender an hour ago and never answered, one sent."""
    with _database_at(server_url, "0013.mail") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO examiner DEFAULT VALUES")
            exam = conn.execute(OLDER_LAYERS_INSERT, (1, "physics", "Physics")).fetchone()
            assert exam is not None
            for nickname, state, attempts in (("ana", "queued", 0), ("ben", "sending", 1), ("cem", "sent", 1)):
                conn.execute(
                    """WITH s AS (
                         INSERT INTO student (exam_id, nickname, first_name, last_name, email, email_address,
                                              upload_code, pseudonym)
                         VALUES (%(exam)s, %(nickname)s, 'A', 'B', %(address)s, %(address)s, %(code)s, %(pseudonym)s)
                         RETURNING id)
                       INSERT INTO message (id, exam_pk, student_id, kind, idempotency_key, address, state, attempts,
                                            enqueued_at, claimed_at)
                       SELECT gen_random_uuid(), %(exam)s, s.id, 'invitation', 'invitation:' || s.id || ':1',
                              %(address)s, %(state)s, %(attempts)s, now() - interval '1 hour',
                              CASE WHEN %(attempts)s > 0 THEN now() - interval '1 hour' END
                         FROM s""",
                    {
                        "exam": exam[0],
                        "nickname": nickname,
                        "address": f"{nickname}@example.org",
                        "code": codes.new_code(),
                        "pseudonym": codes.new_pseudonym(),
                        "state": state,
                        "attempts": attempts,
                    },
                )
        _served(url, monkeypatch)
        yield url
        db.reset()


def test_a_database_from_before_claim_tokens_sweeps_and_sends_its_messages_once_migrated(
    before_claim_tokens_database: str,
) -> None:
    url = before_claim_tokens_database

    # When this release's migration runs
    assert schema.migrate(url) == ["0014.claim-token", "0015.address-invitations", "0016.lti"]

    # Then every message is as it was, with no token
    def states() -> dict[str, tuple[str, int, bool]]:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                """SELECT s.nickname, m.state, m.attempts, m.claim_token IS NOT NULL
                     FROM message m JOIN student s ON s.id = m.student_id"""
            ).fetchall()
        return {nickname: (state, attempts, token) for nickname, state, attempts, token in rows}

    assert states() == {"ana": ("queued", 0, False), "ben": ("sending", 1, False), "cem": ("sent", 1, False)}
    # And the older sender's unanswered claim is queued again by the sweep; both are handed over
    with db.transaction() as conn:
        swept = db.sending.sweep(conn, now=datetime.now(UTC), grace=timedelta(minutes=15))
    assert len(swept) == 2
    assert states() == {"ana": ("queued", 0, False), "ben": ("queued", 1, False), "cem": ("sent", 1, False)}
    # And this release's sender claims them with a token it confirms before each SES call
    with db.transaction() as conn:
        claimed = db.sending.claim(conn, swept, now=datetime.now(UTC))
    assert len(claimed) == 2
    assert states() == {"ana": ("sending", 1, True), "ben": ("sending", 2, True), "cem": ("sent", 1, False)}
    with db.statement() as conn:
        assert all(db.sending.confirm(conn, message.message_id, message.token) for message in claimed)
        assert not db.sending.confirm(conn, claimed[0].message_id, uuid.uuid4())


def test_the_claim_token_migration_rolls_back_and_applies_again(before_claim_tokens_database: str) -> None:
    url = before_claim_tokens_database
    schema.migrate(url)
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(every.__class__([m for m in every if m.id > "0013.mail"])))
    with psycopg.connect(url) as conn:
        assert conn.execute(
            """SELECT count(*) FROM information_schema.columns
                WHERE table_name = 'message' AND column_name = 'claim_token'"""
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM message").fetchone() == (3,)
    assert schema.migrate(url) == ["0014.claim-token", "0015.address-invitations", "0016.lti"]


# --- before LTI (0015) ---------------------------------------------------------------------------


@pytest.fixture
def before_lti_database(server_url: str, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[str]:
    """A database of its own at schema 0015 (mail, before LTI), filled as that release did: an
    examiner's exam with two students, one of them with an address."""
    with _database_at(server_url, "0015.address-invitations") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            examiner = conn.execute("INSERT INTO examiner DEFAULT VALUES RETURNING id").fetchone()
            assert examiner is not None
            conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (EXAMINER, examiner[0]))
            exam = conn.execute(OLDER_LAYERS_INSERT, (examiner[0], "physics", "Physics")).fetchone()
            assert exam is not None
            for nickname, email in (("ana", "ana@example.org"), ("ben", None)):
                conn.execute(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, email, email_address,
                                            upload_code, pseudonym)
                       VALUES (%s, %s, 'A', 'B', %s, %s, %s, %s)""",
                    (exam[0], nickname, email, email, codes.new_code(), codes.new_pseudonym()),
                )
        _served(url, monkeypatch)
        yield url
        db.reset()


def _rollback_lti(url: str) -> None:
    backend = get_backend(schema._yoyo_url(url))
    every = read_migrations(str(schema.MIGRATIONS))
    with backend.lock():
        backend.rollback_migrations(
            backend.to_rollback(every.__class__([m for m in every if m.id > "0015.address-invitations"]))
        )


def test_a_database_from_before_lti_keeps_its_rosters_takes_a_course_and_rolls_back(
    before_lti_database: str, handler: Callable[[str], ModuleType]
) -> None:
    from exam_depository.adapters.db import lti_launch
    from exam_depository.domain.lti import LaunchFacts

    url = before_lti_database

    # When this release's migration runs
    assert schema.migrate(url) == ["0016.lti"]

    # Then the roster is as it was, and no student came from a course
    api = Api(handler)
    exam = api.call("get_exam", "by_id", path_params={"exam_id": "physics"})
    assert exam.status == 200, exam.body
    ana = api.call("get_student", "by_nickname", path_params={"exam_id": "physics", "nickname": "ana"}).body
    assert (ana["first_name"], ana["email"]) == ("A", "ana@example.org")

    # And a course can place the exam, a learner land in it and a teacher get an identity
    with psycopg.connect(url, autocommit=True) as conn:
        registration = conn.execute(
            """INSERT INTO lti_registration (owner_id, issuer, client_id, auth_login_url, auth_token_url,
                                             key_set_url, how)
               SELECT examiner_id, 'https://lms.example', 'c1', 'https://lms.example/auth', 'https://lms.example/token',
                      'https://lms.example/jwks', 'manual' FROM examiner_key WHERE api_key_id = %s
               RETURNING id""",
            (EXAMINER,),
        ).fetchone()
        assert registration is not None
        conn.execute("INSERT INTO lti_deployment VALUES (%s, 'd1')", (registration[0],))
        link_id = uuid.uuid4()
        conn.execute(
            """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, lineitem_url)
               SELECT %s, id, %s, 'd1', 'course-1', 'https://lms.example/lineitems/1'
                 FROM exam WHERE slug = 'physics'""",
            (link_id, registration[0]),
        )
        teacher = conn.execute(
            """WITH x AS (INSERT INTO examiner DEFAULT VALUES RETURNING id),
                    u AS (INSERT INTO lti_user (registration_id, sub, examiner_id) SELECT %s, 'teacher', id FROM x
                          RETURNING public_id, examiner_id)
               INSERT INTO examiner_key (api_key_id, examiner_id) SELECT 'lti:' || public_id, examiner_id FROM u
               RETURNING api_key_id""",
            (registration[0],),
        ).fetchone()
        assert teacher is not None
    with db.transaction() as conn:
        found = conn.execute("SELECT id FROM exam WHERE slug = 'physics'").fetchone()
        assert found is not None
        facts = LaunchFacts(
            registration_id=registration[0], deployment_id="d1", sub="learner-1",
            message_type="LtiResourceLinkRequest", roles=("Learner",), context_id="course-1", context_title=None,
            resource_link_id="rl", custom={}, given_name="Cem", family_name="Öz", name=None, email=None, locale=None,
            ags=None, memberships_url=None, deep_linking=None, target_link_uri="https://tool.example/lti/launch",
        )  # fmt: skip
        learner = lti_launch.learner_for_launch(
            conn, found["id"], link_id, facts, email=None, email_address=None, now=datetime.now(UTC)
        )
    assert (learner.created, learner.nickname) == (True, "cem.oz")

    # When the release is rolled back: the teacher's lti: key and every LTI table go; the students stay
    _rollback_lti(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('lti_registration'), to_regclass('lti_score')").fetchone() == (
            None,
            None,
        )
        assert conn.execute("SELECT count(*) FROM examiner_key WHERE api_key_id LIKE 'lti:%'").fetchone() == (0,)
        assert conn.execute("SELECT nickname FROM student ORDER BY id").fetchall() == [("ana",), ("ben",), ("cem.oz",)]
    # And migrating again applies it
    assert schema.migrate(url) == ["0016.lti"]
