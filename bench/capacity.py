"""`make capacity`: what one deadline needs on AWS, from the figures `make bench` measured here.

    python -m bench.capacity --students 50000 --minutes 5 [--bench .local/bench.json]

The arithmetic is plain functions of plain numbers (tests/unit/test_capacity.py checks them by
hand-computed cases); the CLI feeds them the bench's figures, or the defaults below, which say
which run they come from. docs/PERFORMANCE.md explains the model and its assumptions.

The deadline, as modelled: every student hands in one file within the window. Arrivals are
uniform over the window, times a peak factor for the busiest part of it (default 2: the rush at
the end). Each hand-in is what the upload page does: the page's files (3 requests), the upload
code's lookup, the presign, the POST to S3, S3's notification to the recorder through SQS, and
the status polls (the page polls every second until the code shows).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent

# --- AWS quotas (defaults per account and Region) ----------------------------------------------
# docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: "1,000 execution environment
# instances every 10 seconds (or 10,000 requests per second every 10 seconds)", per function.
LAMBDA_SCALING_ENVIRONMENTS = 1000
LAMBDA_SCALING_INTERVAL_S = 10
# Same page and docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html: each unit of
# concurrency serves at most 10 requests a second, whatever the duration.
LAMBDA_RPS_PER_CONCURRENCY = 10
# lambda-concurrency.html: "a total concurrency limit of 1,000 concurrent executions across all
# functions in an AWS Region" (adjustable); reserved concurrency must leave 100 unreserved.
LAMBDA_ACCOUNT_CONCURRENCY = 1000
LAMBDA_UNRESERVED_MINIMUM = 100
# docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: 10,000 requests per second per
# account and Region, with a token bucket of 5,000 requests for bursts.
API_GATEWAY_STEADY_RPS = 10_000
API_GATEWAY_BURST = 5_000
# docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html: "Cryptographic operations
# (ECC and SM2) request rate", 1,000 (shared) per second: Sign and Verify on every ECC key.
KMS_ECC_PER_S = 1000
# docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html: 3,500
# PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests per second per partitioned prefix.
S3_WRITES_PER_PREFIX = 3500
S3_READS_PER_PREFIX = 5500
# docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: an SQS event source adds up to
# 300 concurrent batches a minute; ScalingConfig.MaximumConcurrency is 2..1,000.
SQS_POLLER_SCALING_PER_MIN = 300
SQS_MAXIMUM_CONCURRENCY = 1000
# Aurora PostgreSQL Serverless v2's max_connections follows the *maximum* ACU: 1 -> 189,
# 4 -> 823, 8 -> 1,669 (AWS Aurora User Guide, aurora-serverless-v2.setting-capacity.html,
# "Maximum connections"); from 16 ACU it is capped at 2,000 when the minimum is 0 or 0.5 ACU,
# and at 3,360 (16 ACU) or 5,000 (32 ACU and more) when the minimum is 1 ACU or more (AWS
# re:Post article "Working of max_connections for Amazon Aurora PostgreSQL Serverless").
MAX_CONNECTIONS_MIN_ACU_ZERO = ((1.0, 189), (4.0, 823), (8.0, 1669), (16.0, 2000))
MAX_CONNECTIONS_MIN_ACU_ONE = ((1.0, 189), (4.0, 823), (8.0, 1669), (16.0, 3360), (32.0, 5000))
# "Each ACU is a combination of approximately 2 gibibytes (GiB) of memory, corresponding CPU, and
# networking" (Aurora User Guide); Aurora's memory-optimised classes have 8 GiB per vCPU
# (db.r6g.large: 2 vCPUs, 16 GiB). So about 4 ACUs to a vCPU: an inference, not a quoted figure.
ACU_PER_VCPU = 4.0
# Our choice: size the database to be at most half busy at the peak.
DATABASE_TARGET_UTILISATION = 0.5

# --- Prices (US East, on demand; docs/COST.md's unit-price table unless named) ---------------
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_PER_GB_S = 0.0000133334
API_GATEWAY_PER_REQUEST = 3.50 / 1e6
S3_PER_POST = 0.005 / 1000
S3_PER_GET = 0.0004 / 1000  # HEAD is billed as a GET
SQS_PER_REQUEST = 0.40 / 1e6
AURORA_PER_ACU_HOUR = 0.12
# aws.amazon.com/kms/pricing: $0.15 per 10,000 asymmetric requests other than RSA 2048 (also
# factualminds.com "AWS KMS pricing", June 2026: asymmetric at 5 x the symmetric $0.03).
KMS_PER_SIGN = 0.15 / 10_000

# --- The product (template.yaml and the upload page) ------------------------------------------
# AWS's documentation: one vCPU's worth of CPU at 1,769 MB; a function gets CPU in proportion.
LAMBDA_MB_PER_VCPU = 1769
API_MEMORY_MB = 256  # template.yaml Globals
PAGES_MEMORY_MB = 128  # ServePagesFunction
RECORDER_MEMORY_MB = 256
RECORDER_BATCH_SIZE = 10  # the SQS event's BatchSize
RECORDER_BATCH_WINDOW_S = 1  # MaximumBatchingWindowInSeconds
RECORDER_MAX_CONCURRENCY_DEFAULT = 5  # RecorderMaxConcurrency's default
STAGE_THROTTLE_RPS_DEFAULT = 200  # StageThrottleRateLimit's default
STAGE_THROTTLE_BURST_DEFAULT = 400  # StageThrottleBurstLimit's default
# Connections the background functions may hold during a deadline: BuildExportFunction's
# MaximumConcurrency 2, the expiry and reconcile jobs one each.
JOB_CONNECTIONS = 4
PAGE_FILES = 3  # upload.html, app.css, upload.js: one ServePagesFunction request each
SQS_REQUESTS_PER_NOTIFICATION = 3  # S3's send, Lambda's receive and delete (as docs/COST.md counts)
# Round trips on AWS, which loopback does not have. PERFORMANCE.md: 0.3-1 ms per SQL round trip
# inside a Region (the upper end taken). An S3 HEAD or a KMS Sign inside a Region: 10 ms assumed.
SQL_ROUND_TRIP_MS = 1.0
AWS_REQUEST_MS = 10.0
# Per record the recorder makes a HEAD (the checksum path: the page pins the SHA-256) and a KMS
# Sign; deleting a superseded file is left out (a first hand-in supersedes nothing).
RECORDER_AWS_REQUESTS_PER_RECORD = 2
# Assumed: Aurora stays at the deadline's capacity 15 minutes after the window while it scales down.
AURORA_TAIL_S = 15 * 60


@dataclass(frozen=True)
class Route:
    """One function's measured warm figures: p50 wall time here (in-process, loopback), the
    same SQL bare (floor), and what it asks of the outside per request."""

    warm_ms: float
    floor_ms: float
    sql: int
    aws_requests: int
    cold_init_ms: float


@dataclass(frozen=True)
class Figures:
    """What `make bench` measured that the model needs."""

    source: str
    pages: Route
    status: Route
    presign: Route
    recorder_cpu_ms: float  # CPU per record on the checksum path
    recorder_sql_per_batch: float
    recorder_cold_init_ms: float


# `make bench` on this project's machine (x86_64, 2 cores, CPython 3.13.0), 2026-12-04 at commit
# 63b75fa: .local/bench.json's warm p50 (serve_pages, get_upload_status, request_upload), their
# floors and counts, upload.checksum.record_cpu_ms, record.sql_per_batch_median, and the medians
# of cold.functions.*.cold_init_ms.
DEFAULT_FIGURES = Figures(
    source="defaults: make bench of 2026-12-04 at 63b75fa (x86_64, 2 cores); run make bench for this machine's",
    pages=Route(warm_ms=0.059, floor_ms=0.049, sql=0, aws_requests=0, cold_init_ms=185.57),
    status=Route(warm_ms=0.47, floor_ms=0.296, sql=1, aws_requests=0, cold_init_ms=253.72),
    presign=Route(warm_ms=1.128, floor_ms=0.685, sql=3, aws_requests=0, cold_init_ms=245.9),
    recorder_cpu_ms=5.38,
    recorder_sql_per_batch=8,
    recorder_cold_init_ms=221.26,
)


def figures_from_bench(bench: dict[str, Any], source: str) -> Figures:
    """The figures out of .local/bench.json (as bench/__main__.py writes it)."""
    warm, cold = bench["warm"], bench["cold"]["functions"]

    def route(name: str) -> Route:
        figures = warm[name]
        return Route(
            warm_ms=figures["warm_ms"]["p50"],
            floor_ms=figures["floor_ms"]["p50"],
            sql=figures["sql_per_request"],
            aws_requests=figures["aws_requests_per_request"],
            cold_init_ms=cold[name]["cold_init_ms"]["median"],
        )

    return Figures(
        source=source,
        pages=route("serve_pages"),
        status=route("get_upload_status"),
        presign=route("request_upload"),
        recorder_cpu_ms=bench["upload"]["checksum"]["record_cpu_ms"],
        recorder_sql_per_batch=bench["record"]["sql_per_batch_median"],
        recorder_cold_init_ms=cold["record_submissions"]["cold_init_ms"]["median"],
    )


# --- The arithmetic --------------------------------------------------------------------------


def peak_rate(students: int, window_s: float, peak_factor: float) -> float:
    """Hand-ins per second at the busiest part of the window."""
    return students / window_s * peak_factor


def cpu_scale(memory_mb: int) -> float:
    """How much longer CPU-bound work takes at this memory than on one full core."""
    return max(1.0, LAMBDA_MB_PER_VCPU / memory_mb)


def duration_on_aws_ms(local_ms: float, memory_mb: int, sql_round_trips: float, aws_requests: float) -> float:
    """A warm invocation on AWS: what took local_ms here on a full core, slowed to the function's
    share of a vCPU, plus the network round trips loopback did not have (an upper bound: the
    local time already includes loopback's)."""
    return local_ms * cpu_scale(memory_mb) + sql_round_trips * SQL_ROUND_TRIP_MS + aws_requests * AWS_REQUEST_MS


def concurrency(rate_per_s: float, duration_s: float) -> float:
    """Little's law: invocations in flight = arrival rate x time each takes."""
    return rate_per_s * duration_s


def concurrency_needed(rate_per_s: float, duration_s: float) -> int:
    """Environments a function needs so that none of these requests is throttled: Little's law,
    and at least one per 10 requests a second (Lambda's per-concurrency request rate)."""
    return math.ceil(max(concurrency(rate_per_s, duration_s), rate_per_s / LAMBDA_RPS_PER_CONCURRENCY) - 1e-9)


def max_connections(max_acu: float, *, min_acu_zero: bool) -> int:
    """Aurora PostgreSQL Serverless v2's max_connections for a maximum ACU (the documented points;
    between them, the lower one)."""
    table = MAX_CONNECTIONS_MIN_ACU_ZERO if min_acu_zero else MAX_CONNECTIONS_MIN_ACU_ONE
    found = [connections for acu, connections in table if acu <= max_acu]
    if not found:
        raise ValueError(f"no documented max_connections below {max_acu} ACU")
    return found[-1]


def smallest_max_acu(connections: int, *, min_acu_zero: bool) -> float | None:
    """The smallest documented maximum ACU whose max_connections holds this many connections;
    None if none does."""
    table = MAX_CONNECTIONS_MIN_ACU_ZERO if min_acu_zero else MAX_CONNECTIONS_MIN_ACU_ONE
    return next((acu for acu, limit in table if limit >= connections), None)


def acu_for_cpu(database_cpu_s_per_s: float) -> float:
    """ACUs that keep the database at the target utilisation, in steps of 0.5 ACU."""
    return max(0.5, math.ceil(database_cpu_s_per_s * ACU_PER_VCPU / DATABASE_TARGET_UTILISATION * 2) / 2)


def recorder_batch(arrivals_per_s: float) -> float:
    """Records per recorder invocation: what arrives within the batching window, up to the batch size."""
    return min(RECORDER_BATCH_SIZE, max(1.0, arrivals_per_s * RECORDER_BATCH_WINDOW_S))


def records_per_s(recorder_concurrency: int, record_ms: float) -> float:
    """The most the recorder can record a second at this concurrency (beyond it the queue grows:
    nothing is lost, but the codes show later)."""
    return recorder_concurrency * 1000 / record_ms


def cold_start_on_aws_s(cold_init_ms: float, memory_mb: int) -> float:
    """A new environment's init on AWS: the init measured here (CPU-bound: imports) slowed to the
    function's share of a vCPU."""
    return cold_init_ms * cpu_scale(memory_mb) / 1000


@dataclass(frozen=True)
class Function:
    name: str
    rate_per_s: float  # invocations a second at the peak
    duration_ms: float  # per invocation on AWS
    memory_mb: int
    uses_database: bool
    cold_init_ms: float  # here, on a full core

    @property
    def concurrency(self) -> int:
        return concurrency_needed(self.rate_per_s, self.duration_ms / 1000)


@dataclass(frozen=True)
class Check:
    """A need against a limit; ratio > 1 means the limit is exceeded."""

    what: str
    need: float
    limit: float
    quota: bool  # an AWS quota (True) or a default of our template (False)

    @property
    def ratio(self) -> float:
        return self.need / self.limit


@dataclass(frozen=True)
class Plan:
    """What one deadline needs: per function, of the database, against each limit, and its bill."""

    students: int
    window_s: float
    peak_factor: float
    polls: int
    hand_ins_per_s: float
    functions: tuple[Function, ...]
    api_rps: float
    connections: int
    database_cpu_s_per_s: float
    max_acu: float | None
    recorder_concurrency: int
    record_ms: float
    checks: tuple[Check, ...]
    bill: dict[str, float]

    @property
    def binding(self) -> Check:
        """The AWS quota closest to its limit: the first a larger class reaches."""
        return max((c for c in self.checks if c.quota), key=lambda c: c.ratio)

    @property
    def binding_overall(self) -> Check:
        """The limit closest to its own, our template's defaults included."""
        return max(self.checks, key=lambda c: c.ratio)

    def parameters(self) -> dict[str, str]:
        """The template and database settings this deadline needs, in plain words."""
        by_name = {f.name: f for f in self.functions}
        rps = math.ceil(self.api_rps / 100) * 100
        return {
            "StageThrottleRateLimit": f">= {rps:,} (requests/s at the peak)",
            "StageThrottleBurstLimit": f">= {rps:,}",
            "RecorderMaxConcurrency": f">= {max(2, self.recorder_concurrency)}",
            "reserved concurrency": ", ".join(
                f"{f.name} >= {f.concurrency}" for f in by_name.values() if f.name != "record_submissions"
            ),
            "DatabaseMaxConnections": f">= {self.connections:,} (the database's max_connections must hold them)",
            "Aurora maximum ACU": "more than Aurora documents" if self.max_acu is None else f">= {self.max_acu:g}",
        }


def plan(students: int, minutes: float, figures: Figures, *, peak_factor: float = 2.0, polls: int = 3) -> Plan:
    """What a deadline of `students` hand-ins in `minutes` needs."""
    window_s = minutes * 60
    rate = peak_rate(students, window_s, peak_factor)
    average = students / window_s
    batch = recorder_batch(rate)
    record_ms = duration_on_aws_ms(
        figures.recorder_cpu_ms,
        RECORDER_MEMORY_MB,
        figures.recorder_sql_per_batch / RECORDER_BATCH_SIZE,
        RECORDER_AWS_REQUESTS_PER_RECORD,
    )

    def api(route: Route, memory_mb: int) -> float:
        return duration_on_aws_ms(route.warm_ms, memory_mb, route.sql, route.aws_requests)

    functions = (
        Function(
            "serve_pages",
            rate * PAGE_FILES,
            api(figures.pages, PAGES_MEMORY_MB),
            PAGES_MEMORY_MB,
            False,
            figures.pages.cold_init_ms,
        ),
        Function(
            "get_upload_status",
            rate * (1 + polls),
            api(figures.status, API_MEMORY_MB),
            API_MEMORY_MB,
            True,
            figures.status.cold_init_ms,
        ),
        Function(
            "request_upload",
            rate,
            api(figures.presign, API_MEMORY_MB),
            API_MEMORY_MB,
            True,
            figures.presign.cold_init_ms,
        ),
        # A batch is worked one record after another: its duration is the batch's records.
        Function(
            "record_submissions",
            rate / batch,
            record_ms * batch,
            RECORDER_MEMORY_MB,
            True,
            figures.recorder_cold_init_ms,
        ),
    )
    recorder = functions[-1].concurrency
    api_rps = rate * (PAGE_FILES + 2 + polls)
    connections = sum(f.concurrency for f in functions if f.uses_database) + JOB_CONNECTIONS
    # The database's time per request: the bench's floor, the same SQL bare on loopback (client,
    # server and loopback together: an upper bound of the server's CPU).
    per_statement_ms = figures.status.floor_ms / max(1, figures.status.sql)
    database_cpu = (
        functions[1].rate_per_s * figures.status.floor_ms
        + functions[2].rate_per_s * figures.presign.floor_ms
        + rate * figures.recorder_sql_per_batch / RECORDER_BATCH_SIZE * per_statement_ms
    ) / 1000
    by_connections = smallest_max_acu(connections, min_acu_zero=True)
    max_acu = None if by_connections is None else max(by_connections, acu_for_cpu(database_cpu))
    environments = sum(f.concurrency for f in functions)
    busiest = max(f.concurrency for f in functions)
    checks = (
        Check(
            "Lambda concurrency, reservable (account's 1,000 less 100 unreserved)",
            environments,
            LAMBDA_ACCOUNT_CONCURRENCY - LAMBDA_UNRESERVED_MINIMUM,
            True,
        ),
        Check(
            f"Lambda scaling: busiest function's environments in {LAMBDA_SCALING_INTERVAL_S} s",
            busiest,
            LAMBDA_SCALING_ENVIRONMENTS,
            True,
        ),
        Check("SQS event source MaximumConcurrency", recorder, SQS_MAXIMUM_CONCURRENCY, True),
        Check("API Gateway requests/s (steady)", api_rps, API_GATEWAY_STEADY_RPS, True),
        Check("KMS ECC Sign/s", rate, KMS_ECC_PER_S, True),
        Check("S3 writes/s on the exam's prefix", rate, S3_WRITES_PER_PREFIX, True),
        Check("S3 reads/s on the exam's prefix (recorder HEAD)", rate, S3_READS_PER_PREFIX, True),
        Check("Aurora connections (max ACU 16, min 0)", connections, max_connections(16, min_acu_zero=True), True),
        Check("StageThrottleRateLimit (our default)", api_rps, STAGE_THROTTLE_RPS_DEFAULT, False),
        Check("StageThrottleBurstLimit (our default)", api_rps, STAGE_THROTTLE_BURST_DEFAULT, False),
        Check("RecorderMaxConcurrency (our default)", recorder, RECORDER_MAX_CONCURRENCY_DEFAULT, False),
    )
    invocations = {f.name: (f.rate_per_s / rate) * students for f in functions}
    gb_s = sum(invocations[f.name] * f.duration_ms / 1000 * f.memory_mb / 1024 for f in functions)
    # Every environment starts once; its init is billed too (CPU-bound: slowed like the rest).
    init_gb_s = sum(
        f.concurrency * f.cold_init_ms * cpu_scale(f.memory_mb) / 1000 * f.memory_mb / 1024 for f in functions
    )
    api_requests = students * (PAGE_FILES + 2 + polls)
    acu = acu_for_cpu(database_cpu * average / rate)
    bill = {
        "Lambda requests": sum(invocations.values()) * LAMBDA_PER_REQUEST,
        "Lambda GB-s": (gb_s + init_gb_s) * LAMBDA_PER_GB_S,
        "API Gateway requests": api_requests * API_GATEWAY_PER_REQUEST,
        "S3 POST and HEAD": students * (S3_PER_POST + S3_PER_GET),
        "KMS Sign": students * KMS_PER_SIGN,
        "SQS": students * SQS_REQUESTS_PER_NOTIFICATION * SQS_PER_REQUEST,
        "Aurora ACU-hours": acu * (window_s + AURORA_TAIL_S) / 3600 * AURORA_PER_ACU_HOUR,
    }
    return Plan(
        students=students,
        window_s=window_s,
        peak_factor=peak_factor,
        polls=polls,
        hand_ins_per_s=rate,
        functions=functions,
        api_rps=api_rps,
        connections=connections,
        database_cpu_s_per_s=database_cpu,
        max_acu=max_acu,
        recorder_concurrency=recorder,
        record_ms=record_ms,
        checks=checks,
        bill=bill,
    )


def seconds_for_recorder_pollers(recorder_concurrency: int) -> float:
    """How long the SQS event source takes to grow from its 5 first batches to this many."""
    return max(0, recorder_concurrency - 5) / SQS_POLLER_SCALING_PER_MIN * 60


# --- The report ------------------------------------------------------------------------------


def report(p: Plan, out: TextIO) -> None:
    minutes = p.window_s / 60
    print(
        f"{p.students:,} students in {minutes:g} min: {p.hand_ins_per_s:,.1f} hand-ins/s at the peak "
        f"(peak factor {p.peak_factor:g}; {PAGE_FILES} page files, lookup, presign, {p.polls} polls each)\n",
        file=out,
    )
    print(
        f"{'function':20} {'peak/s':>9} {'ms on AWS':>9} {'concurrency':>11} {'cold start s':>12} {'DB':>3}", file=out
    )
    for f in p.functions:
        print(
            f"{f.name:20} {f.rate_per_s:9,.1f} {f.duration_ms:9.1f} {f.concurrency:11,d} "
            f"{cold_start_on_aws_s(f.cold_init_ms, f.memory_mb):12.1f} {'yes' if f.uses_database else '':>3}",
            file=out,
        )
    acu = "none documented holds them" if p.max_acu is None else f"max ACU {p.max_acu:g}"
    print(
        f"\ndatabase: {p.connections:,} connections (DB functions' concurrency + {JOB_CONNECTIONS} for jobs), "
        f"{p.database_cpu_s_per_s:.2f} CPU-s/s at the peak -> {acu}",
        file=out,
    )
    print(
        f"recorder: {p.record_ms:.0f} ms a record; RecorderMaxConcurrency >= {p.recorder_concurrency} (the SQS "
        f"event source grows to it in {seconds_for_recorder_pollers(p.recorder_concurrency):.0f} s); at the "
        f"default {RECORDER_MAX_CONCURRENCY_DEFAULT} it records at most "
        f"{records_per_s(RECORDER_MAX_CONCURRENCY_DEFAULT, p.record_ms):.0f}/s. SQS standard queues have no "
        "practical throughput limit",
        file=out,
    )
    print(f"\n{'need / limit':62} {'need':>7} {'limit':>7} {'ratio':>6}", file=out)
    for c in p.checks:
        flag = "OVER" if c.ratio > 1 else ""
        print(f"{c.what:62} {c.need:7,.0f} {c.limit:7,.0f} {c.ratio:6.2f} {flag}", file=out)
    print(
        f"API Gateway's burst bucket ({API_GATEWAY_BURST:,}) refills at {API_GATEWAY_STEADY_RPS:,}/s: below that "
        "rate it stays full",
        file=out,
    )
    for label, check in (("AWS quota", p.binding), ("limit, our defaults included", p.binding_overall)):
        print(
            f"binds first ({label}): {check.what} at {check.ratio:.2f} of its limit, "
            f"reached at about {p.students / check.ratio:,.0f} students in {minutes:g} min",
            file=out,
        )
    print("\nsettings this deadline needs", file=out)
    for name, value in p.parameters().items():
        print(f"  {name:24} {value}", file=out)
    print("\nthe bill of this deadline (US East list prices)", file=out)
    for line, dollars in p.bill.items():
        print(f"  {line:22} ${dollars:9.4f}", file=out)
    print(f"  {'total':22} ${sum(p.bill.values()):9.4f}", file=out)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, action="append", help="repeat for several classes")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--peak-factor", type=float, default=2.0, help="the busiest part's rate / the average")
    parser.add_argument("--polls", type=int, default=3, help="status polls per hand-in (one a second)")
    parser.add_argument("--bench", type=Path, default=ROOT / ".local" / "bench.json")
    args = parser.parse_args(argv)
    if args.bench.exists():
        bench = json.loads(args.bench.read_text())
        figures = figures_from_bench(
            bench, f"{args.bench} ({bench.get('measured_at', '?')}, {bench.get('machine', '?')})"
        )
    else:
        figures = DEFAULT_FIGURES
    print(f"figures: {figures.source}\n", file=out)
    for i, students in enumerate(args.students or [50_000]):
        if i:
            print("\n" + "-" * 80 + "\n", file=out)
        report(plan(students, args.minutes, figures, peak_factor=args.peak_factor, polls=args.polls), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
