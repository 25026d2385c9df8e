"""Pages of the roster and of the exams, each beside its own statements run bare (bench.floors:
the same SQL, same parameters, same connection, by psycopg alone), so that the ratio is what our
code adds to what the database does: a 500-row page of students at 1,000 and 10,000 students, a
search of the 10,000 (one that finds one student, by a name in another case, and one that finds
none: every row is compared), and a page of exams with their counts at 1,000 exams of 200
students each."""

from __future__ import annotations

from typing import Any

from bench import floors
from bench.cold import summary
from bench.environment import EXAMINER_KEY_ID, Environment, StatementCounter, pseudonym
from local_stack.functions import api_event, load_function

STUDENT_PAGE = 500
# What an examiner types: a name in capitals (one student), and a name no one has (the whole roster read).
SEARCHES = {"one": "LAST9999", "none": "zz-nobody"}
EXAM_PAGE = 100  # the largest page of exams


def _seed_students(env: Environment, exam_ids: list[int], students: int) -> None:
    """`students` in each exam, each with one current submission, written in bulk (the API is
    not what is measured)."""
    env.sql(
        f"""INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
            SELECT e, 'n' || g, 'First' || g, 'Last' || g, upper(md5(e || '-' || g)), {pseudonym("g")}
            FROM unnest(%s::bigint[]) e, generate_series(1, %s) g""",
        (exam_ids, students),
    )
    env.sql(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status,
                               version_id)
           SELECT gen_random_uuid(), s.id, 'submissions/' || s.exam_id || '/' || s.id || '/a.pdf', 'a.pdf',
                  'application/pdf', now(), 'recorded', 'v1'
           FROM student s"""
    )
    env.sql(
        """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                   size_bytes, sha256, submitted_at, expires_at, status, late)
           SELECT u.id, u.student_id, u.issue_seq, upper(md5('v' || u.student_id)), 'a.pdf', 'application/pdf',
                  1000, repeat('a', 64), now(), now() + interval '72 hours', 'current', u.student_id % 7 = 0
           FROM upload u"""
    )
    env.sql("ANALYZE")


def _pages(module: Any, event: dict[str, Any], counter: StatementCounter, runs: int) -> dict[str, Any]:
    floors.invoke_beside_floor(module, event, counter)  # the first plans and caches what later ones reuse
    measured = [floors.invoke_beside_floor(module, event, counter) for _ in range(runs)]
    assert all(m.status == 200 for m in measured)
    page, floor = summary([m.ms for m in measured]), summary([m.floor_ms for m in measured])
    return {
        "page_ms": page,
        "floor_ms": floor,
        "ratio": round(page["median"] / floor["median"], 2),
        "sql_per_page": max(m.statements for m in measured),
    }


def measure(env: Environment, counter: StatementCounter, sizes: tuple[int, ...], runs: int) -> dict[str, Any]:
    students_module = load_function("list_students", "bench_list")
    results: dict[str, Any] = {"students": {}}
    for students in sizes:
        exam_id = env.fresh_exam()
        _seed_students(env, [exam_id], students)
        event = api_event("list_students", "first_page", query={"limit": str(STUDENT_PAGE)})
        results["students"][str(students)] = _pages(students_module, event, counter, runs)
    results["search"] = {
        found: _pages(
            students_module,
            api_event("list_students", "first_page", query={"limit": str(STUDENT_PAGE), "q": text}),
            counter,
            runs,
        )
        | {"q": text, "students": sizes[-1]}
        for found, text in SEARCHES.items()
    }

    exam_id = env.fresh_exam()
    ((examiner_id,),) = env.sql("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (EXAMINER_KEY_ID,))
    rows = env.sql(
        """INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
           SELECT %s, 'exam-' || g, 'Exam ' || g, now() - interval '1 day', now() + interval '1 day',
                  now() + interval '1 day', 'UTC', 5
           FROM generate_series(2, 1000) g RETURNING id""",
        (examiner_id,),
    )
    _seed_students(env, [exam_id, *(row[0] for row in rows)], 200)
    exams_module = load_function("list_exams", "bench_list_exams")
    event = api_event("list_exams", "first_page", query={"limit": str(EXAM_PAGE)})
    results["exams"] = _pages(exams_module, event, counter, runs) | {"exams": 1000, "students_per_exam": 200}
    return results
