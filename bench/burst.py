"""`make burst`: the deadline at the limits (docs/PERFORMANCE.md), once per recorder concurrency.

Two scenarios, each in a fresh local stack at each recorder concurrency (1, 2 and 4 by default;
the recorder's concurrency is fixed when the stack starts):

- spread: 1,000 students start within 10 s;
- same-second: 200 students start within the same second.

Every student is a client of its own (a thread with its own connections, as a browser is) that
starts at its planned moment and does what the upload page does: presign with the file's
SHA-256, POST the form straight to S3, poll the status route every second until the verification
code shows. Like the page, it retries a 429, 503 or 504 and a connection that failed, with
exponential backoff and full jitter after the server's `Retry-After`, for a bounded time: a retry
is not an error the student sees (it is counted apart); only a request that still fails is.

Per run: the errors a student would see, the retries, time to a form (p50/p99), S3's answer to
the code on the student's page (p99), what the database recorded of what S3 accepted (lost,
duplicated, wrong), the peak of the functions' PostgreSQL connections against its
max_connections, how late the clients started and the CPU they took, and the CPU of each part of
the stack. Exit status 1 if any student saw an error or any accepted upload is not recorded
exactly once, as handed in.

    python -m bench.burst [--scenarios spread,same-second] [--scale 1] [--concurrency 1,2,4]

Loopback only; each run starts and stops its own stack, and every wait is bounded. Writes
.local/burst.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import random
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO

import psutil
import psycopg
import requests
from exam_depository.config import MAX_UPLOAD_BYTES
from exam_depository.domain.codes import normalize

from local_stack import background
from local_stack.client import ApiClient

ROOT = Path(__file__).resolve().parent.parent
SEED = 23  # every run hands in the same files at the same moments


@dataclass(frozen=True)
class Scenario:
    name: str
    students: int
    window_s: float  # every student starts within this many seconds of the burst's start
    title: str


SCENARIOS = {
    "spread": Scenario("spread", 1000, 10.0, "1,000 students within 10 s"),
    "same-second": Scenario("same-second", 200, 1.0, "200 students within the same second"),
}
MIN_BYTES = 10 * 1024
# A student's file: 10 KiB to 1 MiB (a class tried at 300 students sent 1 MiB each). Up to 3 MiB
# (--max-kib 3072) triples the bytes MiniStack takes on the same 2 cores.
DEFAULT_MAX_KIB = 1024
POLL_S = 1.0  # the upload page polls the status route once a second
VISIBLE_TIMEOUT_S = 120  # a code still not visible this long after S3's answer is a failure
# The page's retry: a status in RETRY_STATUSES or a failed connection is tried again after
# backoff_s, until RETRY_FOR_S after the request's first try; then the student sees an error.
RETRY_STATUSES = frozenset({429, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_FOR_S = 60.0
SAMPLE_S = 0.1
# As deployed (template.yaml's queue): background.start's 1 s, made for the tests' retries,
# would send a batch that takes longer than a second under load to a second worker.
VISIBILITY_TIMEOUT_S = 180
# A run's students are waited for this long after its window, then the run ends: every
# request's retries are bounded, but a stack that stops answering must not hold `make burst`.
RUN_LIMIT_S = 240.0
LEAD_S = 1.0  # the clients are made before the burst's clock starts, so none starts late for it
CLIENT_STACK_BYTES = 512 * 1024  # per student thread; the default 8 MiB is reserved, not used


def retry_after_s(header: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait: a number of seconds or an HTTP date; None
    when absent or unreadable (the backoff alone then decides)."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def backoff_s(attempt: int, retry_after: float | None, draw: float) -> float:
    """The wait before retry number `attempt` (0 for the first): full jitter, a draw in [0, 1)
    scaled to min(cap, base x 2^attempt), after what `Retry-After` asked. Added, not the larger
    of the two: a class told "5" would otherwise come back within the same instant."""
    window = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt)
    return (retry_after or 0.0) + draw * window


@dataclass(frozen=True)
class HandIn:
    """One student's part: who, when (seconds after the burst starts) and which file."""

    nickname: str
    start_s: float
    size: int
    sha256: str


class Files:
    """Every student's file: its nickname, then one shared run of random bytes cut to its size
    (1,000 files of up to 3 MiB would not all fit in memory)."""

    def __init__(self, rng: random.Random) -> None:
        self.filler = rng.randbytes(MAX_UPLOAD_BYTES)

    def content(self, nickname: str, size: int) -> bytes:
        head = f"{nickname}\n".encode()
        return head + self.filler[: size - len(head)]


def plan(students: int, window_s: float, max_bytes: int) -> tuple[list[HandIn], Files]:
    """Sizes uniform in 10 KiB..max_bytes, start times uniform in the window; in start order.
    Hashed here, before the clock runs: the page hashes while the student waits, not on our CPU."""
    rng = random.Random(SEED)  # noqa: S311 (sizes and times, not secrets)
    files = Files(rng)
    hand_ins = []
    for number in range(students):
        nickname = f"s{number:05d}"
        size = rng.randint(MIN_BYTES, max_bytes)
        digest = hashlib.sha256(files.content(nickname, size)).hexdigest()
        hand_ins.append(HandIn(nickname, rng.uniform(0, window_s), size, digest))
    return sorted(hand_ins, key=lambda hand_in: hand_in.start_s), files


@dataclass
class Outcome:
    """What one student saw; times in seconds after the burst started."""

    nickname: str
    late_start_s: float = 0.0  # behind its planned start: the benchmark's own lag
    form_s: float | None = None  # first presign try to the form, retries included
    s3_answer_at: float | None = None
    s3_accepted: bool = False
    visible_at: float | None = None
    verification_code: str | None = None
    status_polls: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # "presign 503": how many
    error: str | None = None


class GaveUp(Exception):
    """A request still failed when its retry time ran out: what the student sees."""


class Student:
    """One student's client: its own connections, its own draws for the jitter."""

    def __init__(self, api: str, item: HandIn, upload_code: str, files: Files) -> None:
        # A session of its own, which retries nothing by itself: the retries are this class's,
        # made and counted as the page makes them.
        self.client = ApiClient(api, session=requests.Session())
        self.item = item
        self.upload_code = upload_code
        self.files = files
        self.rng = random.Random(f"{SEED}-{item.nickname}")  # noqa: S311 (jitter, not secrets)
        self.outcome = Outcome(item.nickname)

    def request(self, step: str, send: Callable[[], requests.Response]) -> requests.Response:
        """`send` until it is answered with anything but a retried status, as the page does."""
        first = time.monotonic()
        attempt = 0
        while True:
            try:
                response = send()
            except requests.ConnectionError as exc:
                why, wait_for = f"{step} {_connection_failure(exc)}", None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                why = f"{step} {response.status_code} {_problem_kind(response)}".rstrip()
                wait_for = retry_after_s(response.headers.get("Retry-After"), datetime.now(UTC))
            delay = backoff_s(attempt, wait_for, self.rng.random())
            if time.monotonic() + delay - first > RETRY_FOR_S:
                raise GaveUp(f"{why}, still after {RETRY_FOR_S:.0f} s")
            self.outcome.retries[why] += 1
            attempt += 1
            time.sleep(delay)

    def hand_in(self, started: float) -> None:
        """The page's path: presign, POST to S3, poll until the code shows (or why not)."""
        outcome, client = self.outcome, self.client
        outcome.late_start_s = time.monotonic() - started - self.item.start_s
        try:
            asked = time.monotonic()
            presigned = self.request("presign", lambda: client.presign(self.upload_code, sha256=self.item.sha256))
            if presigned.status_code != 201:
                outcome.error = f"presign {presigned.status_code} {_problem_kind(presigned)}"
                return
            outcome.form_s = time.monotonic() - asked
            form = presigned.json()
            content = self.files.content(self.item.nickname, self.item.size)
            posted = self.request("S3 POST", lambda: client.post_form(form, content))
            answered = time.monotonic()
            outcome.s3_answer_at = answered - started
            if posted.status_code not in (200, 201, 204):
                outcome.error = f"S3 {posted.status_code}: {posted.text[:120]}"
                return
            outcome.s3_accepted = True
            self.wait_for_code(form["upload_id"], answered)
            if outcome.verification_code is not None:
                outcome.visible_at = time.monotonic() - started
        except GaveUp as exc:
            outcome.error = f"gave up: {exc}"
        except requests.RequestException as exc:
            outcome.error = f"{type(exc).__name__}: {str(exc)[:120]}"
        finally:
            self.client.session.close()

    def wait_for_code(self, upload_id: str, answered: float) -> None:
        """Poll the status route until this upload is the current file (its code), or why not."""
        outcome, client = self.outcome, self.client
        status_url = client.url(f"submissions/{self.upload_code}")
        while True:
            answer = self.request("status", lambda: client.session.get(status_url, timeout=RETRY_FOR_S))
            outcome.status_polls += 1
            if answer.status_code != 200:
                outcome.error = f"status {answer.status_code} {_problem_kind(answer)}"
                return
            progress = answer.json()
            current = progress["current"]
            if current is not None and current["upload_id"] == upload_id:
                outcome.verification_code = current["verification_code"]
                return
            states = [u["status"] for u in progress["uploads"] if u["upload_id"] == upload_id]
            if states != ["pending"]:
                outcome.error = f"upload {states[0] if states else 'missing from the status route'}"
                return
            if time.monotonic() - answered > VISIBLE_TIMEOUT_S:
                outcome.error = f"no code {VISIBLE_TIMEOUT_S} s after S3's answer"
                return
            time.sleep(POLL_S)


def _problem_kind(response: requests.Response) -> str:
    """The last part of a problem+json `type` (service-busy, ...), or the gateway's message."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    kind = str(body.get("type") or "").rsplit(":", 1)[-1]
    return kind or str(body.get("detail") or body.get("message") or "")[:40]


def _connection_failure(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for name in ("ConnectionResetError", "ConnectionRefusedError", "RemoteDisconnected", "BrokenPipeError"):
        if name in text:
            return name
    return type(exc).__name__


class Connections(threading.Thread):
    """The PostgreSQL connections every 0.1 s: the functions' (application_name exam-depository,
    as adapters/db/transactions.py sets it) and every client's, through a connection of its own
    opened before the burst (at max_connections a new one would be refused)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True, name="connections")
        self.conn = psycopg.connect(database_url, autocommit=True, application_name="burst-sampler")
        shown = self.conn.execute("SHOW max_connections").fetchone()
        self.max_connections = int(shown[0]) if shown else 0
        self.functions_peak = 0
        self.clients_peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.wait(SAMPLE_S):
                functions, clients = self.conn.execute(
                    """SELECT count(*) FILTER (WHERE application_name = 'exam-depository'),
                              count(*) FILTER (WHERE backend_type = 'client backend')
                       FROM pg_stat_activity"""
                ).fetchone() or (0, 0)
                self.functions_peak = max(self.functions_peak, functions)
                self.clients_peak = max(self.clients_peak, clients)
        finally:
            self.conn.close()


class QueueDepth(threading.Thread):
    """The notification queue's depth (waiting + in flight), sampled every 0.1 s."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        super().__init__(daemon=True, name="queue-depth")
        self.sqs = sqs
        self.queue_url = queue_url
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        while not self.stop.wait(SAMPLE_S):
            found = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
            self.samples.append(sum(int(found[name]) for name in names))


@dataclass(frozen=True)
class CpuSample:
    at: float
    ministack: float
    postgres: float
    stack: float  # the gateway and the recorder: one Python process
    stack_threads: dict[int, float]
    benchmark: float
    machine_busy: float


class StackProcesses:
    """The processes of one local stack, and of this benchmark, whose CPU time is sampled."""

    def __init__(self, running: background.BackgroundStack) -> None:
        self.stack = psutil.Process(running.process.pid)
        ministack = json.loads((running.local_dir / "ministack.pid").read_text())["pid"]
        self.ministack = psutil.Process(ministack)
        postmaster = int((running.local_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        self.postgres = psutil.Process(postmaster)
        self.benchmark = psutil.Process()

    def sample(self) -> CpuSample:
        own = self.stack.cpu_times()
        machine = psutil.cpu_times()
        idle = machine.idle + machine.iowait
        # guest time is counted in user time already
        busy = sum(machine) - idle - machine.guest - machine.guest_nice
        benchmark = self.benchmark.cpu_times()
        return CpuSample(
            at=time.monotonic(),
            ministack=_tree_cpu(self.ministack),
            postgres=_tree_cpu(self.postgres),
            stack=own.user + own.system,
            stack_threads={t.id: t.user_time + t.system_time for t in self.stack.threads()},
            benchmark=benchmark.user + benchmark.system,
            machine_busy=busy,
        )

    def thread_ids(self) -> set[int]:
        return {thread.id for thread in self.stack.threads()}

    def others(self) -> dict[tuple[int, float], tuple[str, float]]:
        """CPU seconds of every process outside the stack and this benchmark: the machine is
        shared, and what else ran says whether a run's figures are the stack's own."""
        ours = {self.benchmark.pid}
        for root in (self.stack, self.ministack, self.postgres):
            ours.add(root.pid)
            ours.update(child.pid for child in root.children(recursive=True))
        found = {}
        for process in psutil.process_iter(["name", "cpu_times", "create_time"]):
            times = process.info["cpu_times"]
            if process.pid in ours or times is None:
                continue
            found[process.pid, process.info["create_time"]] = (process.info["name"], times.user + times.system)
        return found


def busiest_others(
    before: dict[tuple[int, float], tuple[str, float]], after: dict[tuple[int, float], tuple[str, float]]
) -> dict[str, float]:
    """The three process names outside the stack that took the most CPU seconds in between
    (of the processes still running at the end: one that came and went in between is missed)."""
    used: dict[str, float] = {}
    for process, (name, seconds) in after.items():
        used[name] = used.get(name, 0.0) + seconds - before.get(process, (name, 0.0))[1]
    busiest = sorted(used.items(), key=lambda item: item[1], reverse=True)[:3]
    return {name: round(seconds, 1) for name, seconds in busiest if seconds >= 0.1}


def _tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of a process and its descendants: the live ones, and those it reaped (the
    postmaster reaps a backend whose connection closed; its time moves into children_*)."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
        if process is root:
            total += times.children_user + times.children_system
    return total


def cpu_used(before: CpuSample, after: CpuSample, background_threads: set[int]) -> dict[str, float]:
    """CPU seconds between the samples by group. The stack's threads that outlive every client
    connection are its background: the recorder's deliveries and their S3 readers, the schedules;
    the rest of its time went to the gateway's request threads (one per connection)."""
    recorder = sum(
        after.stack_threads[tid] - before.stack_threads.get(tid, 0.0)
        for tid in background_threads
        if tid in after.stack_threads
    )
    stack = after.stack - before.stack
    groups = {
        "ministack": after.ministack - before.ministack,
        "postgres": after.postgres - before.postgres,
        "gateway": stack - recorder,
        "recorder": recorder,
        "benchmark": after.benchmark - before.benchmark,
    }
    groups["other"] = max(0.0, after.machine_busy - before.machine_busy - sum(groups.values()))
    return {name: round(seconds, 2) for name, seconds in groups.items()}


def roster_codes(examiner: ApiClient, exam_id: str, hand_ins: list[HandIn]) -> dict[str, str]:
    """Import every student in one CSV, then read their upload codes from the roster download."""
    rows = "".join(f"{h.nickname},Student,{h.nickname.upper()}\n" for h in hand_ins)
    imported = examiner.import_roster(exam_id, "nickname,first_name,last_name\n" + rows)
    assert imported.status_code == 201, imported.text
    roster = examiner.roster_csv(exam_id)
    assert roster.status_code == 200, roster.text
    return {row["nickname"]: row["upload_code"] for row in csv.DictReader(io.StringIO(roster.text.lstrip("\ufeff")))}


def burst(workers: int, scenario: Scenario, hand_ins: list[HandIn], files: Files, log: TextIO) -> dict[str, Any]:
    """One scenario in a fresh local stack with `workers` record workers."""
    with tempfile.TemporaryDirectory(prefix="burst-") as work:
        local_dir = Path(work)
        running = background.start(
            local_dir, record_workers=workers, environment={"QUEUE_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S)}
        )
        try:
            run = _measure(running, workers, scenario, hand_ins, files=files, log=log)
        finally:
            running.stop()
        if failed(run):
            # The stack's logs say why (a 502's traceback, a refused record): kept past the run.
            kept = ROOT / ".local" / "burst-logs" / f"{scenario.name}-{workers}"
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True)
            for name in ("terminal.log", "stack.log"):
                if (local_dir / name).exists():
                    shutil.copy2(local_dir / name, kept / name)
            run["logs"] = str(kept)
            print(f"   the stack's logs of this failed run: {kept}", file=log)
        return run


def _measure(
    running: background.BackgroundStack,
    workers: int,
    scenario: Scenario,
    hand_ins: list[HandIn],
    *,
    files: Files,
    log: TextIO,
) -> dict[str, Any]:
    info = running.info
    examiner = ApiClient(info["api_url"], info["api_key"])
    examiner.create_exam(scenario.name, due_in_s=3600, title=scenario.title)
    codes = roster_codes(examiner, scenario.name, hand_ins)
    examiner.session.close()
    _, sqs = background.stack_clients(running.local_dir, info)
    processes = StackProcesses(running)
    connections = Connections(info["database_url"])
    depth = QueueDepth(sqs, info["queue_url"])
    students = [Student(info["api_url"], item, codes[item.nickname], files) for item in hand_ins]
    print(
        f"… {scenario.name}, recorder concurrency {workers}: {len(hand_ins)} students within {scenario.window_s:g} s",
        file=log,
        flush=True,
    )

    connections.start()
    depth.start()
    started = time.monotonic() + LEAD_S
    threads = [
        threading.Thread(target=_at_start, args=(student, started), name=student.item.nickname, daemon=True)
        for student in students
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, started - time.monotonic()))
    others = processes.others()
    before = processes.sample()
    time_out = started + scenario.window_s + RUN_LIMIT_S
    for thread in threads:
        thread.join(max(0.0, time_out - time.monotonic()))
    for student, thread in zip(students, threads, strict=True):
        if thread.is_alive():  # left behind: it ends with this process, and its student saw no code
            student.outcome.error = f"still handing in {RUN_LIMIT_S:.0f} s after the window"
    after = processes.sample()
    others_used = busiest_others(others, processes.others())
    connections.stop.set()
    depth.stop.set()
    connections.join()
    depth.join()
    time.sleep(1)  # the gateway's connection threads end once their clients closed
    cpu = cpu_used(before, after, processes.thread_ids())

    outcomes = [student.outcome for student in students]
    checked = check_records(info["database_url"], hand_ins, outcomes)
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=info["dead_letter_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    handed_in = [o for o in outcomes if o.visible_at is not None and o.s3_answer_at is not None]
    accepted = {o.nickname for o in outcomes if o.s3_accepted}
    wall = after.at - before.at
    retries: Counter[str] = Counter()
    for outcome in outcomes:
        retries.update(outcome.retries)
    return {
        "scenario": scenario.name,
        "concurrency": workers,
        "students": len(hand_ins),
        "window_s": scenario.window_s,
        "megabytes": round(sum(h.size for h in hand_ins) / 1e6, 1),
        "errors": sum(1 for o in outcomes if o.error),
        "error_kinds": dict(Counter((o.error or "")[:80] for o in outcomes if o.error).most_common(5)),
        "retries": sum(retries.values()),
        "students_retried": sum(1 for o in outcomes if o.retries),
        "retry_kinds": dict(retries.most_common(6)),
        "form_ms": _percentiles([o.form_s for o in outcomes if o.form_s is not None]),
        "visible_ms": _percentiles([(o.visible_at or 0.0) - (o.s3_answer_at or 0.0) for o in handed_in]),
        "accepted": len(accepted),
        **checked,
        "seconds": round(wall, 1),
        "last_s3_answer_s": round(max((o.s3_answer_at or 0.0) for o in outcomes), 1),
        "status_polls": sum(o.status_polls for o in outcomes),
        "functions_connections_peak": connections.functions_peak,
        "client_connections_peak": connections.clients_peak,
        "max_connections": connections.max_connections,
        "queue_max_depth": max(depth.samples, default=0),
        "dead_letters": int(dead_letters),
        "record_outcomes": _logged_outcomes(running.local_dir / "stack.log"),
        "late_start_ms": _percentiles([max(0.0, o.late_start_s) for o in outcomes]),
        "cpu_s": cpu,
        "cpu_others_s": others_used,
        "cpu_capacity_s": round(wall * (os.cpu_count() or 1), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _at_start(student: Student, started: float) -> None:
    time.sleep(max(0.0, started + student.item.start_s - time.monotonic()))
    student.hand_in(started)


def check_records(database_url: str, hand_ins: list[HandIn], outcomes: list[Outcome]) -> dict[str, Any]:
    """What the database holds once the burst settled: every student exactly one submission, of
    the file handed in, under the code the student saw."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT s.nickname, count(sub.id), max(sub.verification_code), max(sub.sha256), max(sub.size_bytes)
               FROM student s LEFT JOIN submission sub ON sub.student_id = s.id GROUP BY s.nickname"""
        ).fetchall()
        lags = [
            row[0]
            for row in conn.execute("SELECT extract(epoch FROM recorded_at - submitted_at)::float FROM submission")
        ]
        checked = conn.execute("SELECT count(*) FILTER (WHERE sha256_checked_by_s3) FROM submission").fetchone()
        busiest = conn.execute(
            "SELECT count(*) FROM submission GROUP BY date_trunc('second', recorded_at) ORDER BY 1 DESC LIMIT 1"
        ).fetchone()
    found = {row[0]: row[1:] for row in rows}
    seen = {o.nickname: normalize(o.verification_code) for o in outcomes if o.verification_code}
    wrong = 0
    for item in hand_ins:
        count, code, sha256, size = found.get(item.nickname, (0, None, None, None))
        if count and ((sha256, size) != (item.sha256, item.size) or seen.get(item.nickname, code) != code):
            wrong += 1
    return {
        "recorded": sum(count for count, *_ in found.values()),
        # S3 accepted it (as the student's client saw), the database holds nothing of it when
        # the run ends: its code never showed, whether or not a later redelivery records it.
        "lost": sum(1 for o in outcomes if o.s3_accepted and found.get(o.nickname, (0,))[0] == 0),
        "duplicated": sum(count - 1 for count, *_ in found.values() if count > 1),
        "wrong": wrong,
        # Server clocks only: S3's eventTime to the recorder's transaction; no polling in it.
        "s3_to_recorded_ms": _percentiles(lags),
        "busiest_second_recorded": busiest[0] if busiest else 0,
        # The rest the recorder read back and hashed itself: S3 kept no checksum of the POST.
        "sha256_from_s3": checked[0] if checked else 0,
    }


def _logged_outcomes(stack_log: Path) -> dict[str, int]:
    """The recorder's outcome per notification, from its logs: a "duplicate" is a redelivery.
    Searched, not parsed: the functions share a process locally, and two threads' lines can end
    up on one (print writes the newline apart). Only the recorder logs an outcome here."""
    return dict(Counter(_OUTCOME.findall(stack_log.read_text(errors="replace"))))


_OUTCOME = re.compile(r'"outcome":\s*"(\w+)"')


def _percentiles(seconds: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99 and max, in ms."""
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] * 1000, 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 1)}


def failed(run: dict[str, Any]) -> bool:
    """What `make burst` fails on: an error a student saw, an accepted upload not recorded
    exactly once as handed in."""
    return bool(run["errors"] or run["lost"] or run["duplicated"] or run["wrong"])


def report(scenario: Scenario, runs: list[dict[str, Any]], out: TextIO) -> None:
    """One table per scenario (errors, retries, time to a form, S3 to code, recorded, connections),
    then the CPU and the details per run."""
    print(f"\n{scenario.title} ({runs[0]['students']} students, {runs[0]['megabytes']} MB)", file=out)
    print(
        f"{'conc':>4} {'errors':>6} {'retries':>7} {'form p50':>8} {'p99':>6} {'S3->code p99':>12} "
        f"{'recorded/accepted':>17} {'lost':>4} {'dup':>3} {'wrong':>5} {'peak conns':>10} {'max_conn':>8} "
        f"{'late p99':>8} {'s':>5}",
        file=out,
    )
    for run in runs:
        form, seen, late = run["form_ms"], run["visible_ms"], run["late_start_ms"]
        recorded = f"{run['recorded']}/{run['accepted']}"
        print(
            f"{run['concurrency']:4d} {run['errors']:6d} {run['retries']:7d} {form.get('p50', 0):6.0f}ms "
            f"{form.get('p99', 0):6.0f} {seen.get('p99', 0):10.0f}ms {recorded:>17} {run['lost']:4d} "
            f"{run['duplicated']:3d} {run['wrong']:5d} {run['functions_connections_peak']:10d} "
            f"{run['max_connections']:8d} {late.get('p99', 0):6.0f}ms {run['seconds']:5.1f}",
            file=out,
        )
    print(
        f"CPU seconds (share of {os.cpu_count()} cores x the run's seconds)\n"
        f"{'conc':>4} {'MiniStack':>14} {'PostgreSQL':>14} {'gateway':>14} {'recorder':>14} "
        f"{'bench clients':>14} {'rest of machine':>15} {'idle':>5}",
        file=out,
    )
    for run in runs:
        cpu, capacity = run["cpu_s"], run["cpu_capacity_s"]
        cells = [f"{cpu[name]:6.1f} ({cpu[name] / capacity:4.0%})" for name in cpu]
        idle = max(0.0, 1 - sum(cpu.values()) / capacity)
        print(f"{run['concurrency']:4d} " + " ".join(f"{cell:>14}" for cell in cells) + f" {idle:5.0%}", file=out)
    for run in runs:
        lag, late = run["s3_to_recorded_ms"], run["late_start_ms"]
        print(
            f"concurrency {run['concurrency']}: last S3 answer at {run['last_s3_answer_s']} s; clients started "
            f"late by p99 {late.get('p99')} ms, max {late.get('max')}; S3 accepted -> recorded (server clocks) "
            f"p50 {lag.get('p50')} ms, p99 {lag.get('p99')}; {run['status_polls']} status polls; "
            f"PostgreSQL client connections peak {run['client_connections_peak']}; queue peak "
            f"{run['queue_max_depth']}; dead letters {run['dead_letters']}; recorder outcomes "
            f"{run['record_outcomes']}; busiest other processes (CPU s) {run['cpu_others_s'] or 'none'}; "
            f"{run['students_retried']} students retried: {run['retry_kinds'] or 'none'}; "
            f"errors {run['error_kinds'] or 'none'}",
            file=out,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="students x this, in the same window (0.1 for a quick try)"
    )
    parser.add_argument("--concurrency", default="1,2,4", help="recorder concurrencies, one fresh stack each")
    parser.add_argument("--max-kib", type=int, default=DEFAULT_MAX_KIB, help="largest file, at most 3072")
    parser.add_argument("--output", type=Path, default=ROOT / ".local" / "burst.json")
    args = parser.parse_args()
    scenarios = [SCENARIOS[name] for name in args.scenarios.split(",")]
    concurrencies = [int(n) for n in args.concurrency.split(",")]
    max_bytes = min(MAX_UPLOAD_BYTES, args.max_kib * 1024)
    # Every student holds a connection to the gateway and one to S3; the stack inherits the limit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    threading.stack_size(CLIENT_STACK_BYTES)

    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "poll_s": POLL_S,
        "retry": {
            "statuses": sorted(RETRY_STATUSES),
            "base_s": BACKOFF_BASE_S,
            "cap_s": BACKOFF_CAP_S,
            "for_s": RETRY_FOR_S,
        },
        "max_bytes": max_bytes,
        "runs": [],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    for scenario in scenarios:
        students = max(1, round(scenario.students * args.scale))
        hand_ins, files = plan(students, scenario.window_s, max_bytes)
        for workers in concurrencies:
            results["runs"].append(burst(workers, scenario, hand_ins, files, sys.stderr))
            # After every run: a later one that fails keeps the earlier figures.
            args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nDeadline burst, {results['measured_at']} on {results['machine']}, {time.monotonic() - began:.0f} s in all"
    )
    for scenario in scenarios:
        report(scenario, [run for run in results["runs"] if run["scenario"] == scenario.name], sys.stdout)
    print(f"\nwritten to {args.output}")
    sys.exit(1 if any(failed(run) for run in results["runs"]) else 0)


if __name__ == "__main__":
    main()
