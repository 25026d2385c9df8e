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

from bench.environment import Environment, StatementCounter, notification
from local_stack.functions import LambdaContext, load_function

ROOT = Path(__file__).resolve().parent.parent
UPLOADS_PER_STUDENT = 4  # within the limit of 5: every notification must end as a record


def _seed(env: Environment, notifications: int) -> list[str]:
    env.sql("TRUNCATE student, upload, submission RESTART IDENTITY CASCADE")
    students = notifications // UPLOADS_PER_STUDENT
    env.sql(
        """INSERT INTO student (nickname, first_name, last_name, upload_code)
           SELECT 'r' || g, 'First', 'Last', upper(md5('r' || g)) FROM generate_series(1, %s) g""",
        (students,),
    )
    rows = env.sql(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at)
           SELECT gen_random_uuid(), s.id, 'submissions/' || gen_random_uuid() || '/answer ' || n || '.pdf',
                  'answer.pdf', 'application/pdf', now() + interval '1 hour'
           FROM student s, generate_series(1, %s) n ORDER BY s.id, n
           RETURNING object_key""",
        (UPLOADS_PER_STUDENT,),
    )
    keys = [row[0] for row in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF " + key.encode()), keys))
    return keys


def _s3_get_ceiling(env: Environment, keys: list[str]) -> float:
    """How many GETs per second the S3 endpoint itself answers here (10 threads, no recording):
    every recorded notification costs one, so recording cannot go faster than this."""
    sample = keys[: min(len(keys), 2000)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda key: env.s3.get_object(Bucket=env.bucket, Key=key)["Body"].read(), sample))
    return round(len(sample) / (time.perf_counter() - started), 1)


def measure(env: Environment, counter: StatementCounter, notifications: int, workers: int) -> dict[str, Any]:
    keys = _seed(env, notifications)
    s3_get_per_s = _s3_get_ceiling(env, keys)
    template = json.loads((ROOT / "events/record_submissions/object_created.json").read_text())["Records"][0]
    records = []
    for number, key in enumerate(keys):
        record = copy.deepcopy(template)
        record["messageId"] = f"m{number}"
        record["body"] = notification(key, 5 + len(key), number + 1)
        records.append(record)
    random.Random(7).shuffle(records)  # noqa: S311 (an arrival order, not a secret)
    batches: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
    for start in range(0, len(records), 10):
        batches.put(records[start : start + 10])
    per_batch: list[tuple[int, int, int]] = []  # (messages, statements, transactions)
    failures: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        module = load_function("record_submissions", f"bench_record_{worker}")
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
    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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
        "s3_get_per_s_ceiling": s3_get_per_s,
        "lost": len(records) - uploads_recorded,
        "duplicated": doubled + (recorded - uploads_recorded),
        "failed_messages": len(failures),
        "one_current_per_student": current == students,
        "sql_per_batch_median": statements[len(statements) // 2],
        "transactions_per_batch_median": transactions[len(transactions) // 2],
    }
