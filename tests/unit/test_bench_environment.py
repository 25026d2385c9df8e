"""The bench starts its handlers with the keys the functions' environment names: `make bench` died
at its start when the LMS sessions' key was added to that environment and not to the bench's keys.
And it tells a floor which statements are writes (stood in for by a one-row UPDATE) and which are
reads, locking ones among them (made again without their lock clauses)."""

from __future__ import annotations

import os

import pytest

from bench.environment import bench_keys, writes
from bench.floors import unlocked
from local_stack.functions import handler_environment


def test_the_benchs_keys_give_the_functions_their_whole_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # what it sets stays in this test
    keys = bench_keys()
    handler_environment("postgresql://bench@127.0.0.1/bench", "http://127.0.0.1:9", "bench", "eu-west-1", keys)
    assert os.environ["LTI_SESSIONS_KEY"] == keys["lti_sessions_key"]["value"]
    assert os.environ["AWS_ACCESS_KEY_ID"] == keys["s3_access_key"]


@pytest.mark.parametrize(
    ("statement", "is_write"),
    [
        ("INSERT INTO upload (id) VALUES (%s)", True),
        ("UPDATE upload SET status = 'recorded' WHERE id = %s", True),
        ("DELETE FROM upload WHERE id = ANY(%s)", True),
        ("INSERT INTO x VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1", True),
        ("WITH locked AS (SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR UPDATE) DELETE FROM export", True),
        # A lock that skips locked rows or refuses to wait returns, or fails, by what others hold.
        ("SELECT h.exam_pk FROM audit_head h FOR UPDATE OF h SKIP LOCKED", True),
        ("SELECT id FROM export WHERE id = %s FOR UPDATE NOWAIT", True),
        # A lock clause split over two lines is not recognised: it stays a write, as before.
        ("SELECT id FROM export WHERE id = %s FOR\n  UPDATE", True),
        ("SELECT object_key, updated_at, object_deleted_at FROM upload WHERE object_key = ANY(%s)", False),
        ("SELECT s.id FROM student s\n WHERE s.upload_code = %s FOR UPDATE OF s", False),
        ("SELECT u.id FROM upload u JOIN student s ON s.id = u.student_id\n ORDER BY s.id FOR UPDATE OF s, u", False),
        ("SELECT e.id FROM exam e JOIN exam_member m ON true FOR UPDATE OF e FOR SHARE OF m", False),
        ("SELECT s.id FROM student s ORDER BY s.id FOR NO KEY UPDATE OF s", False),
        ("select e.id from exam e for key share of e", False),
    ],
)
def test_a_locking_read_is_no_write_so_that_its_floor_reads_its_rows(statement: str, is_write: bool) -> None:
    # A floor stands a one-row UPDATE in for a write; a read runs as itself, a locking one unlocked
    assert writes(statement) is is_write


@pytest.mark.parametrize(
    ("locking_read", "replayed"),
    [
        (
            "SELECT s.id FROM student s\n WHERE s.upload_code = %s FOR UPDATE OF s",
            "SELECT s.id FROM student s\n WHERE s.upload_code = %s",
        ),
        (
            "SELECT u.id FROM upload u ORDER BY s.id, u.issue_seq\n  FOR UPDATE OF s, u",
            "SELECT u.id FROM upload u ORDER BY s.id, u.issue_seq",
        ),
        (
            "SELECT e.id FROM exam e WHERE e.slug = %(slug)s FOR UPDATE OF e FOR SHARE OF m",
            "SELECT e.id FROM exam e WHERE e.slug = %(slug)s",
        ),
        (
            "SELECT id FROM student WHERE exam_id = %s ORDER BY id FOR NO KEY UPDATE",
            "SELECT id FROM student WHERE exam_id = %s ORDER BY id",
        ),
        ("select e.id from exam e for key share of e", "select e.id from exam e"),
        (
            "SELECT object_key FROM upload WHERE object_key = ANY(%s)",
            "SELECT object_key FROM upload WHERE object_key = ANY(%s)",
        ),
    ],
)
def test_a_floor_reads_a_locking_reads_rows_without_its_lock(locking_read: str, replayed: str) -> None:
    assert unlocked(locking_read) == replayed
