"""record_per_s: a burst of notifications (SQS batches of 10, shuffled) recorded by concurrent
workers, each with its own instance of the record function; then the lost and duplicated count."""

from __future__ import annotations

import copy
import json
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.environment import Environment, StatementCounter, notification, pseudonym
from local_stack.functions import LambdaContext, load_function

ROOT = Path(__file__).resolve().parent.parent
UPLOADS_PER_STUDENT = 4  # within the limit of 5: every notification must end as a record


def _seed(env: Environment, notifications: int) -> list[tuple[str, str]]:
    exam_id = env.fresh_exam()
    students = notifications // UPLOADS_PER_STUDENT
    env.sql(
        f"""INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
            SELECT %s, 'r' || g, 'First', 'Last', upper(md5('r' || g)), {pseudonym("g")}
            FROM generate_series(1, %s) g""",
        (exam_id, students),
    )
    rows = env.sql(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at)
           SELECT gen_random_uuid(), s.id,
                  'submissions/' || s.exam_id || '/' || gen_random_uuid() || '/answer ' || n || '.pdf',
                  'answer.pdf', 'application/pdf', now() + interval '1 hour'
           FROM student s, generate_series(1, %s) n ORDER BY s.id, n
           RETURNING object_key""",
        (UPLOADS_PER_STUDENT,),
    )
    keys = [row[0] for row in rows]

    def put(key: str) -> tuple[str, str]:
        return key, env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF " + key.encode())["VersionId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(put, keys))


def _s3_get_rate(env: Environment, objects: list[tuple[str, str]]) -> float:
    """The floor: how many GETs of these versions per second the S3 endpoint itself answers,
    10 at a time (the recorder's readers: one pool per process), bodies read to the end. The
    recorder makes one per object, so it cannot record faster than this."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(
            pool.map(
                lambda pair: env.s3.get_object(Bucket=env.bucket, Key=pair[0], VersionId=pair[1])["Body"].read(),
                objects,
            )
        )
    return round(len(objects) / (time.perf_counter() - started), 1)


def measure(env: Environment, counter: StatementCounter, notifications: int, workers: int) -> dict[str, Any]:
    objects = _seed(env, notifications)
    # Before the run: the recorder deletes what each student's later file supersedes.
    s3_get_per_s = _s3_get_rate(env, objects)
    template = json.loads((ROOT / "events/record_submissions/object_created.json").read_text())["Records"][0]
    records = []
    for number, (key, version) in enumerate(objects):
        record = copy.deepcopy(template)
        record["messageId"] = f"m{number}"
        record["body"] = notification(key, 5 + len(key), number + 1, version)
        records.append(record)
    random.Random(7).shuffle(records)  # noqa: S311 (an arrival order, not a secret)
    batches: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
    for start in range(0, len(records), 10):
        batches.put(records[start : start + 10])
    per_batch: list[tuple[int, int, int]] = []  # (messages, statements, transactions)
    failures: list[str] = []
    lock = threading.Lock()

    # Loaded before the clock starts, one instance per worker as Lambda gives each its own.
    modules = [load_function("record_submissions", f"bench_record_{worker}") for worker in range(workers)]

    def work(module: Any) -> None:
        while True:
            try:
                batch = batches.get_nowait()
            except queue.Empty:
                return
            counter.reset()
            result = module.lambda_handler({"Records": batch}, LambdaContext())
            with lock:
                per_batch.append((len(batch), counter.statements, counter.transactions))
                failures.extend(item["itemIdentifier"] for item in result["batchItemFailures"])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work, module) for module in modules]:
            done.result()  # a worker's exception ends the benchmark, not just its thread
    seconds = time.perf_counter() - started

    ((recorded, uploads_recorded, current, students),) = env.sql(
        """SELECT (SELECT count(*) FROM submission), (SELECT count(*) FROM upload WHERE status = 'recorded'),
                  (SELECT count(*) FROM submission WHERE status = 'current'), (SELECT count(*) FROM student)"""
    )
    ((doubled,),) = env.sql("SELECT count(*) FROM (SELECT upload_id FROM submission GROUP BY 1 HAVING count(*) > 1) d")
    statements = sorted(s for _, s, _ in per_batch)
    transactions = sorted(t for _, _, t in per_batch)
    return {
        "notifications": len(records),
        "workers": workers,
        "seconds": round(seconds, 2),
        "record_per_s": round(len(records) / seconds, 1),
        "s3_get_per_s": s3_get_per_s,
        "ratio": round(len(records) / seconds / s3_get_per_s, 2),
        "lost": len(records) - uploads_recorded,
        "duplicated": doubled + (recorded - uploads_recorded),
        "failed_messages": len(failures),
        "one_current_per_student": current == students,
        "sql_per_batch_median": statements[len(statements) // 2],
        "transactions_per_batch_median": transactions[len(transactions) // 2],
    }
