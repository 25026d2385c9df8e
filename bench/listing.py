"""list_page_ms: GET /students?limit=500 with 1,000 and 10,000 students, each with a submission."""

from __future__ import annotations

import time
from typing import Any

from bench.cold import summary
from bench.environment import Environment, StatementCounter
from local_stack.functions import LambdaContext, api_event, load_function


def _seed(env: Environment, students: int) -> None:
    """Students with one current submission each, written in bulk (the API is not what is measured)."""
    env.sql("TRUNCATE student, upload, submission RESTART IDENTITY CASCADE")
    env.sql(
        """INSERT INTO student (nickname, first_name, last_name, email, upload_code)
           SELECT 'n' || g, 'First' || g, 'Last' || g, NULL, upper(md5(g::text))
           FROM generate_series(1, %s) g""",
        (students,),
    )
    env.sql(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at,
                               status, s3_sequencer)
           SELECT gen_random_uuid(), id, 'submissions/' || id || '/a.pdf', 'a.pdf', 'application/pdf', now(),
                  'recorded', '0A'
           FROM student"""
    )
    env.sql(
        """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                   size_bytes, sha256, submitted_at, expires_at, status)
           SELECT u.id, u.student_id, u.issue_seq, upper(md5('v' || u.student_id)), 'a.pdf', 'application/pdf',
                  1000, repeat('a', 64), now(), now() + interval '72 hours', 'current'
           FROM upload u"""
    )
    env.sql("ANALYZE")


def measure(env: Environment, counter: StatementCounter, sizes: tuple[int, ...], runs: int) -> dict[str, Any]:
    module = load_function("list_students", "bench_list")
    results = {}
    for students in sizes:
        _seed(env, students)
        durations, statements = [], set()
        for _ in range(runs):
            event = api_event("list_students", "first_page", query={"limit": "500"})
            counter.reset()
            started = time.perf_counter()
            response = module.lambda_handler(event, LambdaContext())
            durations.append((time.perf_counter() - started) * 1000)
            assert response["statusCode"] == 200, response["body"][:300]
            statements.add(counter.statements)
        results[str(students)] = {
            "list_page_ms": summary(durations),
            "sql_per_page": max(statements),
        }
    return results
