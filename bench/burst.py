"""`make burst`: the deadline burst (docs/PERFORMANCE.md), once per recorder concurrency.

1,000 students of one exam each hand in one file (10 KiB to 3 MiB, the same sizes and start
times at every run), spread over a 60 s window, through 50 concurrent clients that do what the
upload page does: presign with the file's SHA-256, POST the form straight to S3, poll the status
route until the verification code shows. Each recorder concurrency (1, 2 and 4 by default) gets
a fresh local stack: the recorder's concurrency is fixed when the stack starts.

Per run: S3's answer to the code visible (p50/p95/p99/max), presign latency, the notification
queue's largest depth, what the database holds afterwards (lost, duplicated, wrong), and the CPU
seconds of each part of the stack, of this benchmark's clients and of the rest of the machine,
against what its cores could give. Exit status 1 if any student's file was lost, duplicated,
recorded wrong or not handed in.

    python -m bench.burst [--students 1000] [--clients 50] [--seconds 60] [--concurrency 1,2,4]

Loopback only; each run starts and stops its own stack. Writes .local/burst.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import queue
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
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
EXAM_ID = "burst"
SEED = 16  # the number: every run hands in the same files at the same moments
MIN_BYTES = 10 * 1024
DEFAULT_RATE = 1000 / 60  # hand-ins per second the default window gives, for any --students
# The latency figures are as fine as this. The page polls every second; 0.2 s costs the gateway
# at most 50 clients x 5 requests/s, and only while codes are late.
POLL_S = 0.2
VISIBLE_TIMEOUT_S = 120  # a code still not visible this long after S3's answer is a failure
QUEUE_SAMPLE_S = 0.1
# As deployed (template.yaml's queue): background.start's 1 s, made for the tests' retries,
# would send a batch that takes longer than a second under load to a second worker.
VISIBILITY_TIMEOUT_S = 180


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


def plan(students: int, seconds: float) -> tuple[list[HandIn], Files]:
    """Sizes uniform in 10 KiB..3 MiB, start times uniform in the window; in start order. Hashed
    here, before the clock runs: the page hashes while the student waits, not on our CPU."""
    rng = random.Random(SEED)  # noqa: S311 (sizes and times, not secrets)
    files = Files(rng)
    hand_ins = []
    for number in range(students):
        nickname = f"s{number:05d}"
        size = rng.randint(MIN_BYTES, MAX_UPLOAD_BYTES)
        digest = hashlib.sha256(files.content(nickname, size)).hexdigest()
        hand_ins.append(HandIn(nickname, rng.uniform(0, seconds), size, digest))
    return sorted(hand_ins, key=lambda hand_in: hand_in.start_s), files


@dataclass
class Outcome:
    """What one student saw; times in seconds after the burst started."""

    nickname: str
    late_start_s: float  # behind its scheduled start (every client was busy)
    presign_s: float | None = None
    s3_answer_at: float | None = None
    s3_accepted: bool = False
    visible_at: float | None = None
    verification_code: str | None = None
    status_polls: int = 0
    error: str | None = None


def hand_in(client: ApiClient, item: HandIn, upload_code: str, files: Files, started: float) -> Outcome:
    """The page's path: presign, POST to S3, poll until the code shows (or the upload is refused)."""
    outcome = Outcome(item.nickname, late_start_s=time.monotonic() - started - item.start_s)
    try:
        asked = time.monotonic()
        presigned = client.presign(upload_code, sha256=item.sha256)
        outcome.presign_s = time.monotonic() - asked
        if presigned.status_code != 201:
            outcome.error = f"presign {presigned.status_code}: {presigned.text[:200]}"
            return outcome
        form = presigned.json()
        posted = client.post_form(form, files.content(item.nickname, item.size))
        answered = time.monotonic()
        outcome.s3_answer_at = answered - started
        if posted.status_code not in (200, 201, 204):
            outcome.error = f"S3 {posted.status_code}: {posted.text[:200]}"
            return outcome
        outcome.s3_accepted = True
        wait_for_code(client, upload_code, form["upload_id"], answered, outcome)
        if outcome.verification_code is not None:
            outcome.visible_at = time.monotonic() - started
    except (requests.RequestException, AssertionError) as exc:  # ApiClient.progress asserts a 200
        outcome.error = f"{type(exc).__name__}: {str(exc)[:200]}"
    return outcome


def wait_for_code(client: ApiClient, upload_code: str, upload_id: str, answered: float, outcome: Outcome) -> None:
    """Poll the status route until this upload is the current file (its code), or why not (error)."""
    while True:
        progress = client.progress(upload_code)
        outcome.status_polls += 1
        current = progress["current"]
        if current is not None and current["upload_id"] == upload_id:
            outcome.verification_code = current["verification_code"]
            return
        states = [u["status"] for u in progress["uploads"] if u["upload_id"] == upload_id]
        if not states:
            # Another request's answer: the local gateway runs concurrent requests in one process,
            # where Powertools keeps the current event on a class (BaseRouter.current_event).
            outcome.error = "the status route answered without this upload"
            return
        if states != ["pending"]:
            outcome.error = f"upload {states[0]}"
            return
        if time.monotonic() - answered > VISIBLE_TIMEOUT_S:
            outcome.error = f"no code {VISIBLE_TIMEOUT_S} s after S3's answer"
            return
        time.sleep(POLL_S)


def student_client(
    api: str,
    work: queue.SimpleQueue[tuple[HandIn, str]],
    files: Files,
    started: float,
    outcomes: list[Outcome],
) -> None:
    """One of the concurrent clients: takes the next student in start order, waits for its start."""
    client = ApiClient(api)
    try:
        while True:
            try:
                item, upload_code = work.get_nowait()
            except queue.Empty:
                return
            time.sleep(max(0.0, started + item.start_s - time.monotonic()))
            outcomes.append(hand_in(client, item, upload_code, files, started))
    finally:
        # Closing ends the gateway's thread for this connection: the CPU split below counts on it.
        client.session.close()


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
        while not self.stop.wait(QUEUE_SAMPLE_S):
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


def roster_codes(examiner: ApiClient, hand_ins: list[HandIn]) -> dict[str, str]:
    """Import every student in one CSV, then read their upload codes from the roster download."""
    rows = "".join(f"{h.nickname},Student,{h.nickname.upper()}\n" for h in hand_ins)
    imported = examiner.import_roster(EXAM_ID, "nickname,first_name,last_name\n" + rows)
    assert imported.status_code == 201, imported.text
    roster = examiner.roster_csv(EXAM_ID)
    assert roster.status_code == 200, roster.text
    return {row["nickname"]: row["upload_code"] for row in csv.DictReader(io.StringIO(roster.text.lstrip("\ufeff")))}


def burst(
    workers: int, hand_ins: list[HandIn], files: Files, *, clients: int, seconds: float, log: TextIO
) -> dict[str, Any]:
    """One run in a fresh local stack with `workers` record workers."""
    with tempfile.TemporaryDirectory(prefix="burst-") as work:
        local_dir = Path(work)
        running = background.start(
            local_dir, record_workers=workers, environment={"QUEUE_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S)}
        )
        try:
            return _measure(running, workers, hand_ins, files, clients=clients, seconds=seconds, log=log)
        finally:
            running.stop()


def _measure(
    running: background.BackgroundStack,
    workers: int,
    hand_ins: list[HandIn],
    files: Files,
    *,
    clients: int,
    seconds: float,
    log: TextIO,
) -> dict[str, Any]:
    info = running.info
    examiner = ApiClient(info["api_url"], info["api_key"])
    examiner.create_exam(EXAM_ID, due_in_s=3600, title="Deadline burst")
    codes = roster_codes(examiner, hand_ins)
    examiner.session.close()
    _, sqs = background.stack_clients(running.local_dir, info)
    processes = StackProcesses(running)
    depth = QueueDepth(sqs, info["queue_url"])
    work: queue.SimpleQueue[tuple[HandIn, str]] = queue.SimpleQueue()
    for item in hand_ins:
        work.put((item, codes[item.nickname]))
    outcomes: list[Outcome] = []
    print(f"… concurrency {workers}: {len(hand_ins)} students, {clients} clients, {seconds:g} s", file=log, flush=True)

    depth.start()
    before = processes.sample()
    started = before.at
    threads = [
        threading.Thread(target=student_client, args=(info["api_url"], work, files, started, outcomes))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = processes.sample()
    depth.stop.set()
    depth.join()
    time.sleep(1)  # the gateway's connection threads end once their clients closed
    cpu = cpu_used(before, after, processes.thread_ids())

    checked = check_records(info["database_url"], hand_ins, outcomes)
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=info["dead_letter_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    handed_in = [o for o in outcomes if o.visible_at is not None and o.s3_answer_at is not None]
    wall = after.at - before.at
    errors = Counter((o.error or "")[:60] for o in outcomes if o.error)
    return {
        "concurrency": workers,
        "students": len(hand_ins),
        "clients": clients,
        "window_s": seconds,
        "megabytes": round(sum(h.size for h in hand_ins) / 1e6, 1),
        "uploads": sum(1 for o in outcomes if o.s3_accepted),
        "visible": len(handed_in),
        "errors": len(outcomes) - len(handed_in),
        "error_kinds": dict(errors.most_common(5)),
        "seconds": round(wall, 1),
        "recorded_per_s": round(checked["recorded"] / wall, 1),
        "last_s3_answer_s": round(max((o.s3_answer_at or 0.0) for o in outcomes), 1),
        "late_start_s_max": round(max(o.late_start_s for o in outcomes), 2),
        "visible_ms": _percentiles([(o.visible_at or 0.0) - (o.s3_answer_at or 0.0) for o in handed_in]),
        "presign_ms": _percentiles([o.presign_s for o in outcomes if o.presign_s is not None]),
        "status_polls": sum(o.status_polls for o in outcomes),
        "queue_max_depth": max(depth.samples, default=0),
        "queue_samples": len(depth.samples),
        "dead_letters": int(dead_letters),
        **checked,
        "record_outcomes": _logged_outcomes(running.local_dir / "stack.log"),
        "cpu_s": cpu,
        "cpu_capacity_s": round(wall * (os.cpu_count() or 1), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


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
        "lost": sum(1 for item in hand_ins if found.get(item.nickname, (0,))[0] == 0),
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


def report(runs: list[dict[str, Any]], out: TextIO) -> None:
    print(
        f"\n{'conc':>4} {'uploads':>7} {'s':>6} {'rec/s':>6} {'peak/s':>6} "
        f"{'visible p50':>11} {'p95':>6} {'p99':>6} {'max':>6} {'presign p50':>11} {'p95':>5} "
        f"{'queue':>5} {'lost':>4} {'dup':>3} {'wrong':>5} {'err':>3}",
        file=out,
    )
    for run in runs:
        seen, presign = run["visible_ms"], run["presign_ms"]
        print(
            f"{run['concurrency']:4d} {run['visible']:7d} {run['seconds']:6.1f} {run['recorded_per_s']:6.1f} "
            f"{run['busiest_second_recorded']:6d} {seen.get('p50', 0):9.0f}ms {seen.get('p95', 0):6.0f} "
            f"{seen.get('p99', 0):6.0f} {seen.get('max', 0):6.0f} {presign.get('p50', 0):9.0f}ms "
            f"{presign.get('p95', 0):5.0f} {run['queue_max_depth']:5d} {run['lost']:4d} {run['duplicated']:3d} "
            f"{run['wrong']:5d} {run['errors']:3d}",
            file=out,
        )
    print(
        f"\nCPU seconds (share of {os.cpu_count()} cores x the run's seconds)\n"
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
        lag, extra = run["s3_to_recorded_ms"], run["record_outcomes"]
        print(
            f"\nconcurrency {run['concurrency']}: {run['megabytes']} MB; last S3 answer at {run['last_s3_answer_s']} s "
            f"(window {run['window_s']:g} s; a hand-in started up to {run['late_start_s_max']} s behind "
            f"schedule); S3 accepted -> recorded (server clocks) p50 {lag.get('p50')} ms, "
            f"p95 {lag.get('p95')}, max {lag.get('max')}; recorder outcomes {extra}; "
            f"{run['status_polls']} status polls; "
            f"recorder CPU {1000 * run['cpu_s']['recorder'] / max(1, run['recorded']):.1f} ms a record, "
            f"{run['sha256_from_s3']} SHA-256 from S3's checksum (the rest read back and hashed); "
            f"dead letters {run['dead_letters']}; errors {run['error_kinds'] or 'none'}",
            file=out,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=1000, help="one roster import: at most 5,000")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (threads)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="the window the hand-ins start in (default: 60 s per 1,000 students, the same rate at any count; "
        "0: all at once, as fast as the clients go)",
    )
    parser.add_argument("--concurrency", default="1,2,4", help="recorder concurrencies, one fresh stack each")
    parser.add_argument("--output", type=Path, default=ROOT / ".local" / "burst.json")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else args.students / DEFAULT_RATE
    concurrencies = [int(n) for n in args.concurrency.split(",")]

    hand_ins, files = plan(args.students, seconds)
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "poll_s": POLL_S,
        "runs": [],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for workers in concurrencies:
        results["runs"].append(burst(workers, hand_ins, files, clients=args.clients, seconds=seconds, log=sys.stderr))
        # After every run: a later one that fails keeps the earlier figures.
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    runs = results["runs"]
    print(f"\nDeadline burst, {results['measured_at']} on {results['machine']}")
    report(runs, sys.stdout)
    print(f"\nwritten to {args.output}")
    failed = any(run["lost"] or run["duplicated"] or run["wrong"] or run["errors"] for run in runs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
