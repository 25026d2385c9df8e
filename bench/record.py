"""record_per_s: a burst of notifications (SQS batches of 10, shuffled) recorded by concurrent
workers, each with its own instance of the record function; then the lost and duplicated count.
Every student has an address: each recording queues its receipt's email too (mail on).

Its floor is the same outside work done bare at the same concurrency: every batch's trace
(bench.floors) replayed by as many workers, each on its own psycopg connection: the same
requests per object (the GET, or HEAD, of its version; the KMS Sign of its receipt; the
DeleteObjects of what it superseded, 10 at a time as the recorder's pools make them) and the
same transactions with the same statements. The recorder deleted the versions it read, so the
floor first writes the same objects again and makes its requests of their new versions."""

from __future__ import annotations

import copy
import json
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from bench import floors
from bench.environment import Environment, StatementCounter, Trace, notification, pseudonym
from local_stack.functions import LambdaContext, load_function

ROOT = Path(__file__).resolve().parent.parent
UPLOADS_PER_STUDENT = 4  # within the limit of 5: every notification must end as a record


def _seed(env: Environment, notifications: int) -> list[tuple[str, str]]:
    exam_id = env.fresh_exam()
    students = notifications // UPLOADS_PER_STUDENT
    # Every student has an address: each recording also queues its receipt's email in its
    # transaction and hands it to the mail queue after the commit, as a deployment with mail does.
    env.sql(
        f"""INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym, email, email_address)
            SELECT %s, 'r' || g, 'First', 'Last', upper(md5('r' || g)), {pseudonym("g")},
                   'r' || g || '@example.edu', 'r' || g || '@example.edu'
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
    return _put(env, [row[0] for row in rows])


def _put(env: Environment, keys: list[str]) -> list[tuple[str, str]]:
    def put(key: str) -> tuple[str, str]:
        return key, env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF " + key.encode())["VersionId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(put, keys))


def _with_versions(value: Any, versions: dict[str, str]) -> Any:
    """`value` (a request's parameters) with every version id of `versions` replaced."""
    if isinstance(value, str):
        return versions.get(value, value)
    if isinstance(value, dict):
        return {name: _with_versions(item, versions) for name, item in value.items()}
    if isinstance(value, list):
        return [_with_versions(item, versions) for item in value]
    return value


def _floor_seconds(env: Environment, traces: list[Trace], workers: int, versions: dict[str, str]) -> float:
    """Seconds for `workers` to replay `traces` bare, each on its own connection."""
    pending: queue.SimpleQueue[Trace] = queue.SimpleQueue()
    for trace in traces:
        pending.put(
            replace(
                trace,
                aws_requests=[
                    replace(request, params=_with_versions(request.params, versions)) for request in trace.aws_requests
                ],
            )
        )
    connections = [psycopg.connect(env.database_url, autocommit=True, prepare_threshold=5) for _ in range(workers)]

    def work(worker: int) -> None:
        while True:
            try:
                trace = pending.get_nowait()
            except queue.Empty:
                return
            floors.replay(trace, connections[worker], floor_row=worker + 1)

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in [pool.submit(work, worker) for worker in range(workers)]:
                done.result()
        return time.perf_counter() - started
    finally:
        for conn in connections:
            conn.close()


def measure(env: Environment, counter: StatementCounter, notifications: int, workers: int) -> dict[str, Any]:
    objects = _seed(env, notifications)
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
    traces: list[Trace] = []
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
                traces.append(counter.trace)
                per_batch.append((len(batch), counter.statements, counter.transactions))
                failures.extend(item["itemIdentifier"] for item in result["batchItemFailures"])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work, module) for module in modules]:
            done.result()  # a worker's exception ends the benchmark, not just its thread
    seconds = time.perf_counter() - started

    with counter.paused():  # the floor's own requests are not the recorder's
        # The same objects again, under new versions, for the floor to read and delete.
        again = dict(_put(env, [key for key, _ in objects]))
        floor_seconds = _floor_seconds(env, traces, workers, {version: again[key] for key, version in objects})

    ((recorded, uploads_recorded, current, students),) = env.sql(
        """SELECT (SELECT count(*) FROM submission), (SELECT count(*) FROM upload WHERE status = 'recorded'),
                  (SELECT count(*) FROM submission WHERE status = 'current'), (SELECT count(*) FROM student)"""
    )
    ((doubled,),) = env.sql("SELECT count(*) FROM (SELECT upload_id FROM submission GROUP BY 1 HAVING count(*) > 1) d")
    ((receipts,),) = env.sql("SELECT count(*) FROM message WHERE kind = 'receipt'")
    statements = sorted(s for _, s, _ in per_batch)
    transactions = sorted(t for _, _, t in per_batch)
    return {
        "notifications": len(records),
        "workers": workers,
        "seconds": round(seconds, 2),
        "record_per_s": round(len(records) / seconds, 1),
        "floor_per_s": round(len(records) / floor_seconds, 1),
        "ratio": round(floor_seconds / seconds, 2),
        "lost": len(records) - uploads_recorded,
        "duplicated": doubled + (recorded - uploads_recorded),
        "failed_messages": len(failures),
        "one_current_per_student": current == students,
        # One receipt's email queued per recorded file, none twice (the key).
        "receipts_queued": receipts,
        "one_receipt_per_recording": receipts == recorded,
        "sql_per_batch_median": statements[len(statements) // 2],
        "transactions_per_batch_median": transactions[len(transactions) // 2],
    }
