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

What the template allows and reserves (the connection budget, the allowed values of its
parameters, the jobs' connections, the stage throttle's defaults, the functions' memory and the
recorder's batching) is read from template.yaml, so that the answer names settings one can deploy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local_stack.functions import concurrency_limits, read_template

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
LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT = 1000
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
# 300 concurrent batches a minute.
SQS_POLLER_SCALING_PER_MIN = 300
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

# --- The product (the upload page; template.yaml's figures are read from it: Deployment) --------
# AWS's documentation: one vCPU's worth of CPU at 1,769 MB; a function gets CPU in proportion.
LAMBDA_MB_PER_VCPU = 1769
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


def recorder_batch(arrivals_per_s: float, batch_size: int, window_s: float) -> float:
    """Records per recorder invocation: what arrives within the batching window, up to the batch size."""
    return min(batch_size, max(1.0, arrivals_per_s * window_s))


def records_per_s(recorder_concurrency: int, record_ms: float) -> float:
    """The most the recorder can record a second at this concurrency (beyond it the queue grows:
    nothing is lost, but the codes show later)."""
    return recorder_concurrency * 1000 / record_ms


def cold_start_on_aws_s(cold_init_ms: float, memory_mb: int) -> float:
    """A new environment's init on AWS: the init measured here (CPU-bound: imports) slowed to the
    function's share of a vCPU."""
    return cold_init_ms * cpu_scale(memory_mb) / 1000


# --- What the template allows and reserves ---------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The template parameters a deadline turns on."""

    database_max_connections: int
    recorder_max_concurrency: int
    stage_rate_limit: int
    stage_burst_limit: int


@dataclass(frozen=True)
class Deployment:
    """What template.yaml allows, reserves and defaults to, as the model needs it."""

    # ConnectionBudget: DatabaseMaxConnections -> RecorderMaxConcurrency -> the reserved
    # concurrency of each (student-path, reviewer, examiner) function.
    shares: dict[int, dict[int, tuple[int, int, int]]]
    database_max_connections: tuple[int, ...]  # the allowed values, ascending
    recorder_max_concurrency: tuple[int, ...]
    # Executions the template reserves from the account, by (DatabaseMaxConnections, RecorderMaxConcurrency).
    reserved: dict[tuple[int, int], int]
    # Connections the database-using functions other than the API's and the recorder may hold.
    job_connections: int
    # Concurrency the functions without a reservation other than the pages may take: the export
    # builder's queue cap (the recorder's is RecorderMaxConcurrency).
    other_unreserved: int
    defaults: Settings
    api_memory_mb: int
    pages_memory_mb: int
    recorder_memory_mb: int
    recorder_batch_size: int
    recorder_batch_window_s: float


def deployment_from_template(template: dict[str, Any]) -> Deployment:
    """The Deployment of template.yaml (local_stack.functions.read_template's dict)."""
    parameters = template["Parameters"]
    allowed_connections = tuple(sorted(int(v) for v in parameters["DatabaseMaxConnections"]["AllowedValues"]))
    allowed_recorders = tuple(sorted(int(v) for v in parameters["RecorderMaxConcurrency"]["AllowedValues"]))
    shares = {
        int(connections): {int(recorders): (share[0], share[1], share[2]) for recorders, share in row.items()}
        for connections, row in template["Mappings"]["ConnectionBudget"].items()
    }
    default_reservation = template["Globals"]["Function"].get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
    by_folder = {
        Path(resource["Properties"]["CodeUri"]).name: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    def reservation(props: dict[str, Any]) -> Any:
        return props.get("ReservedConcurrentExecutions", default_reservation)

    def uses_database(props: dict[str, Any]) -> bool:
        return any("AWSSecretsManagerGetSecretValuePolicy" in policy for policy in props.get("Policies", []))

    def capped_by_recorder_parameter(props: dict[str, Any]) -> bool:
        return any(
            event["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency") == {"Ref": "RecorderMaxConcurrency"}
            for event in props.get("Events", {}).values()
        )

    reserving = [folder for folder, props in by_folder.items() if reservation(props) != {"Ref": "AWS::NoValue"}]
    reserved = {}
    for connections in allowed_connections:
        for recorders in allowed_recorders:
            if recorders not in shares[connections]:  # a pair the template's rules refuse
                continue
            limits = concurrency_limits(
                template, {"DatabaseMaxConnections": str(connections), "RecorderMaxConcurrency": str(recorders)}
            )
            reserved[(connections, recorders)] = sum(limits[folder] or 0 for folder in reserving)
    limits = concurrency_limits(template)
    # A job: a database-using function whose cap is neither a ConnectionBudget share nor the recorder's.
    jobs = [
        folder
        for folder, props in by_folder.items()
        if uses_database(props)
        and "ConnectionBudget" not in json.dumps(reservation(props))
        and not capped_by_recorder_parameter(props)
    ]
    unreserved_capped = [
        folder
        for folder, props in by_folder.items()
        if folder not in reserving and not capped_by_recorder_parameter(props) and limits[folder] is not None
    ]
    recorder = by_folder["record_submissions"]
    (queue,) = (event["Properties"] for event in recorder["Events"].values() if event["Type"] == "SQS")
    memory = int(template["Globals"]["Function"]["MemorySize"])
    return Deployment(
        shares=shares,
        database_max_connections=allowed_connections,
        recorder_max_concurrency=allowed_recorders,
        reserved=reserved,
        job_connections=sum(limits[folder] or 0 for folder in jobs),
        other_unreserved=sum(limits[folder] or 0 for folder in unreserved_capped),
        defaults=Settings(
            database_max_connections=int(parameters["DatabaseMaxConnections"]["Default"]),
            recorder_max_concurrency=int(parameters["RecorderMaxConcurrency"]["Default"]),
            stage_rate_limit=int(parameters["StageThrottleRateLimit"]["Default"]),
            stage_burst_limit=int(parameters["StageThrottleBurstLimit"]["Default"]),
        ),
        api_memory_mb=memory,
        pages_memory_mb=int(by_folder["serve_pages"].get("MemorySize", memory)),
        recorder_memory_mb=int(recorder.get("MemorySize", memory)),
        recorder_batch_size=int(queue["BatchSize"]),
        recorder_batch_window_s=float(queue.get("MaximumBatchingWindowInSeconds", 0)),
    )


def smallest_allowed(allowed: tuple[int, ...], covers: Callable[[int], bool]) -> int | None:
    """The smallest allowed value for which covers(value) holds; None if none does."""
    return next((value for value in allowed if covers(value)), None)


def settings_needed(
    deployment: Deployment, *, student: int, reviewer: int, recorder: int, api_rps: float
) -> tuple[Settings, bool]:
    """The smallest allowed settings whose reservations cover these needs (each student-path
    function's concurrency, each reviewer function's, the recorder's), and a stage throttle of the
    peak's requests a second rounded up to a hundred; and whether the allowed values cover them
    (if not, the largest allowed ones)."""
    recorders = smallest_allowed(deployment.recorder_max_concurrency, lambda value: value >= recorder)
    covered = recorders is not None
    recorders = recorders or deployment.recorder_max_concurrency[-1]

    def covers(connections: int) -> bool:
        if recorders not in deployment.shares[connections]:  # the template's rules refuse the pair
            return False
        student_share, reviewer_share, _ = deployment.shares[connections][recorders]
        return student_share >= student and reviewer_share >= reviewer

    connections = smallest_allowed(deployment.database_max_connections, covers)
    covered = covered and connections is not None
    rate = max(deployment.defaults.stage_rate_limit, math.ceil(api_rps / 100) * 100)
    return (
        Settings(
            database_max_connections=connections or deployment.database_max_connections[-1],
            recorder_max_concurrency=recorders,
            stage_rate_limit=rate,
            stage_burst_limit=max(deployment.defaults.stage_burst_limit, rate),
        ),
        covered,
    )


def account_concurrency_needed(deployment: Deployment, settings: Settings, unreserved_need: int) -> int:
    """The account's concurrency these settings need: what the template reserves, and what the
    functions without a reservation take at once, at least the 100 Lambda keeps unreserved."""
    reserved = deployment.reserved[(settings.database_max_connections, settings.recorder_max_concurrency)]
    return reserved + max(LAMBDA_UNRESERVED_MINIMUM, unreserved_need)


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
    """A need against a limit; ratio > 1 means the limit is exceeded. `key` names the limit
    whatever the settings (what names it for the reader may include them)."""

    key: str
    what: str
    need: float
    limit: float

    @property
    def ratio(self) -> float:
        return self.need / self.limit


@dataclass(frozen=True)
class Plan:
    """What one deadline needs: per function, of the database, the settings, against each limit
    (with the template's defaults and with the settings), and its bill."""

    students: int
    window_s: float
    peak_factor: float
    polls: int
    hand_ins_per_s: float
    functions: tuple[Function, ...]
    api_rps: float
    connections: int  # held at the peak: the database functions' concurrency and the jobs'
    job_connections: int
    database_cpu_s_per_s: float
    recorder_concurrency: int
    record_ms: float
    settings: Settings
    settings_cover: bool  # False: even the largest allowed values do not
    max_acu: float | None  # Aurora's maximum for the settings' connections and the CPU
    account_concurrency: int  # the account's concurrency quota
    checks_by_default: tuple[Check, ...]
    checks: tuple[Check, ...]  # with the settings applied
    bill: dict[str, float]

    def function(self, name: str) -> Function:
        (found,) = (f for f in self.functions if f.name == name)
        return found

    def parameters(self) -> dict[str, str]:
        """The settings this deadline needs, in plain words."""
        s = self.settings
        acu = "more than Aurora documents" if self.max_acu is None else f">= {self.max_acu:g}"
        return {
            "StageThrottleRateLimit": f"{s.stage_rate_limit:,} (requests/s at the peak: {self.api_rps:,.0f})",
            "StageThrottleBurstLimit": f"{s.stage_burst_limit:,}",
            "RecorderMaxConcurrency": f"{s.recorder_max_concurrency} (needs {self.recorder_concurrency})",
            "DatabaseMaxConnections": f"{s.database_max_connections:,} (at most the database's SHOW max_connections)",
            "Aurora maximum ACU": f"{acu} (minimum 0 or 0.5 ACU)",
            "account concurrency": (
                f"{self.account_concurrency:,} holds the {self.checks[0].need:,.0f} it needs"
                if self.checks[0].ratio <= 1
                else f"raise the quota to {self.checks[0].need:,.0f} or more (Service Quotas) before deploying"
            ),
        }


def plan(
    students: int,
    minutes: float,
    figures: Figures,
    deployment: Deployment,
    *,
    peak_factor: float = 2.0,
    polls: int = 3,
    reviewer_concurrency: int = 0,
    account_concurrency: int = LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT,
) -> Plan:
    """What a deadline of `students` hand-ins in `minutes` needs; `reviewer_concurrency` is what
    each reviewer function needs at the same time (the hand-ins use none)."""
    d = deployment
    window_s = minutes * 60
    rate = peak_rate(students, window_s, peak_factor)
    average = students / window_s
    batch = recorder_batch(rate, d.recorder_batch_size, d.recorder_batch_window_s)
    record_ms = duration_on_aws_ms(
        figures.recorder_cpu_ms,
        d.recorder_memory_mb,
        figures.recorder_sql_per_batch / d.recorder_batch_size,
        RECORDER_AWS_REQUESTS_PER_RECORD,
    )

    def api(route: Route, memory_mb: int) -> float:
        return duration_on_aws_ms(route.warm_ms, memory_mb, route.sql, route.aws_requests)

    pages, status, presign, recorder_function = functions = (
        Function(
            "serve_pages",
            rate * PAGE_FILES,
            api(figures.pages, d.pages_memory_mb),
            d.pages_memory_mb,
            False,
            figures.pages.cold_init_ms,
        ),
        Function(
            "get_upload_status",
            rate * (1 + polls),
            api(figures.status, d.api_memory_mb),
            d.api_memory_mb,
            True,
            figures.status.cold_init_ms,
        ),
        Function(
            "request_upload",
            rate,
            api(figures.presign, d.api_memory_mb),
            d.api_memory_mb,
            True,
            figures.presign.cold_init_ms,
        ),
        # A batch is worked one record after another: its duration is the batch's records.
        Function(
            "record_submissions",
            rate / batch,
            record_ms * batch,
            d.recorder_memory_mb,
            True,
            figures.recorder_cold_init_ms,
        ),
    )
    recorder = recorder_function.concurrency
    student = max(status.concurrency, presign.concurrency)  # each student-path function has the share
    api_rps = rate * (PAGE_FILES + 2 + polls)
    connections = sum(f.concurrency for f in functions if f.uses_database) + d.job_connections
    # The database's time per request: the bench's floor, the same SQL bare on loopback (client,
    # server and loopback together: an upper bound of the server's CPU).
    per_statement_ms = figures.status.floor_ms / max(1, figures.status.sql)
    database_cpu = (
        status.rate_per_s * figures.status.floor_ms
        + presign.rate_per_s * figures.presign.floor_ms
        + rate * figures.recorder_sql_per_batch / d.recorder_batch_size * per_statement_ms
    ) / 1000
    settings, settings_cover = settings_needed(
        d, student=student, reviewer=reviewer_concurrency, recorder=recorder, api_rps=api_rps
    )
    by_connections = smallest_max_acu(settings.database_max_connections, min_acu_zero=True)
    max_acu = None if by_connections is None else max(by_connections, acu_for_cpu(database_cpu))
    # The pages, the recorder and the export builder take from the account's unreserved concurrency.
    unreserved_need = pages.concurrency + recorder + d.other_unreserved

    def checks(s: Settings) -> tuple[Check, ...]:
        student_share, reviewer_share, _ = d.shares[s.database_max_connections][s.recorder_max_concurrency]
        return (
            Check(
                "account",
                f"Lambda account concurrency: reserved + unreserved ({account_concurrency:,} quota)",
                account_concurrency_needed(d, s, unreserved_need),
                account_concurrency,
            ),
            Check(
                "scaling",
                f"Lambda scaling: busiest function's environments in {LAMBDA_SCALING_INTERVAL_S} s",
                max(f.concurrency for f in functions),
                LAMBDA_SCALING_ENVIRONMENTS,
            ),
            Check("api", "API Gateway requests/s (steady)", api_rps, API_GATEWAY_STEADY_RPS),
            Check("kms", "KMS ECC Sign/s", rate, KMS_ECC_PER_S),
            Check("s3-writes", "S3 writes/s on the exam's prefix", rate, S3_WRITES_PER_PREFIX),
            Check("s3-reads", "S3 reads/s on the exam's prefix (recorder HEAD)", rate, S3_READS_PER_PREFIX),
            Check(
                "student-share",
                f"student functions' share (DatabaseMaxConnections {s.database_max_connections})",
                student,
                student_share,
            ),
            Check(
                "reviewer-share",
                f"reviewer functions' share (DatabaseMaxConnections {s.database_max_connections})",
                reviewer_concurrency,
                reviewer_share,
            ),
            Check(
                "recorder", f"RecorderMaxConcurrency {s.recorder_max_concurrency}", recorder, s.recorder_max_concurrency
            ),
            Check("stage-rate", f"StageThrottleRateLimit {s.stage_rate_limit:,}", api_rps, s.stage_rate_limit),
            Check("stage-burst", f"StageThrottleBurstLimit {s.stage_burst_limit:,}", api_rps, s.stage_burst_limit),
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
        job_connections=d.job_connections,
        database_cpu_s_per_s=database_cpu,
        recorder_concurrency=recorder,
        record_ms=record_ms,
        settings=settings,
        settings_cover=settings_cover,
        max_acu=max_acu,
        account_concurrency=account_concurrency,
        checks_by_default=checks(d.defaults),
        checks=checks(settings),
        bill=bill,
    )


# Classes beyond this many students are not searched for a limit.
LARGEST_CLASS = 100_000_000


def binds_first(over: Callable[[int], dict[str, float]]) -> tuple[str, int] | None:
    """The limit a growing class exceeds first, and the smallest class that exceeds it.
    over(n) gives the limits a class of n students exceeds, each with its need / limit; the needs
    grow with the class, so the smallest class exceeding any is found by halving, and of the
    limits it exceeds the one exceeded most is named. None if none is exceeded below LARGEST_CLASS."""
    if not over(LARGEST_CLASS):
        return None
    low, high = 0, LARGEST_CLASS  # a class of `low` exceeds nothing, one of `high` something
    while high - low > 1:
        middle = (low + high) // 2
        if over(middle):
            high = middle
        else:
            low = middle
    exceeded = over(high)
    return max(exceeded, key=exceeded.__getitem__), high


def first_exceeded(plan_for: Callable[[int], Plan], *, by_default: bool) -> tuple[Check, int] | None:
    """binds_first over the plans of growing classes: with the template's defaults, or with the
    settings each class needs; the limit as the plan of the class that first exceeds it names it."""

    def checks_of(students: int) -> tuple[Check, ...]:
        p = plan_for(students)
        return p.checks_by_default if by_default else p.checks

    found = binds_first(lambda students: {c.key: c.ratio for c in checks_of(students) if c.ratio > 1})
    if found is None:
        return None
    key, students = found
    return next(c for c in checks_of(students) if c.key == key), students


def seconds_for_recorder_pollers(recorder_concurrency: int) -> float:
    """How long the SQS event source takes to grow from its 5 first batches to this many."""
    return max(0, recorder_concurrency - 5) / SQS_POLLER_SCALING_PER_MIN * 60


# --- The report ------------------------------------------------------------------------------


def report(
    p: Plan, out: TextIO, *, first_by_default: tuple[Check, int] | None, first: tuple[Check, int] | None
) -> None:
    minutes = p.window_s / 60
    s = p.settings
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
        f"\ndatabase: {p.connections:,} connections held at the peak (DB functions' concurrency + "
        f"{p.job_connections} for jobs), {p.database_cpu_s_per_s:.2f} CPU-s/s at the peak; "
        f"DatabaseMaxConnections {s.database_max_connections:,} -> {acu}",
        file=out,
    )
    print(
        f"recorder: {p.record_ms:.0f} ms a record; needs {p.recorder_concurrency} at once (the SQS event source "
        f"grows to it in {seconds_for_recorder_pollers(p.recorder_concurrency):.0f} s); at "
        f"RecorderMaxConcurrency {s.recorder_max_concurrency} it records at most "
        f"{records_per_s(s.recorder_max_concurrency, p.record_ms):.0f}/s. SQS standard queues have no "
        "practical throughput limit",
        file=out,
    )
    for title, checks in (("with the template's defaults", p.checks_by_default), ("with the settings below", p.checks)):
        print(f"\n{'need / limit, ' + title:72} {'need':>7} {'limit':>7} {'ratio':>6}", file=out)
        for c in checks:
            flag = "OVER" if c.ratio > 1 else ""
            print(f"{c.what:72} {c.need:7,.0f} {c.limit:7,.0f} {c.ratio:6.2f} {flag}", file=out)
    print(
        f"API Gateway's burst bucket ({API_GATEWAY_BURST:,}) refills at {API_GATEWAY_STEADY_RPS:,}/s: below that "
        "rate it stays full",
        file=out,
    )
    for label, found in (
        ("with the template's defaults", first_by_default),
        ("with the settings each class needs", first),
    ):
        if found is None:
            print(f"binds first ({label}): nothing below {LARGEST_CLASS:,} students", file=out)
        else:
            check, students = found
            print(
                f"binds first ({label}): {check.what}, exceeded from about {students:,} students in {minutes:g} min",
                file=out,
            )
    print("\nsettings this deadline needs", file=out)
    if not p.settings_cover:
        print("  (the largest allowed values do not cover it: the checks above say which falls short)", file=out)
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
    parser.add_argument(
        "--reviewer-concurrency", type=int, default=0, help="each reviewer function's concurrency during the deadline"
    )
    parser.add_argument(
        "--account-concurrency",
        type=int,
        default=LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT,
        help="the account's Lambda concurrency quota",
    )
    parser.add_argument("--bench", type=Path, default=ROOT / ".local" / "bench.json")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    args = parser.parse_args(argv)
    if args.bench.exists():
        bench = json.loads(args.bench.read_text())
        figures = figures_from_bench(
            bench, f"{args.bench} ({bench.get('measured_at', '?')}, {bench.get('machine', '?')})"
        )
    else:
        figures = DEFAULT_FIGURES
    deployment = deployment_from_template(read_template(args.template))
    print(f"figures: {figures.source}\n", file=out)

    def plan_for(students: int) -> Plan:
        return plan(
            students,
            args.minutes,
            figures,
            deployment,
            peak_factor=args.peak_factor,
            polls=args.polls,
            reviewer_concurrency=args.reviewer_concurrency,
            account_concurrency=args.account_concurrency,
        )

    for i, students in enumerate(args.students or [50_000]):
        if i:
            print("\n" + "-" * 80 + "\n", file=out)
        p = plan_for(students)
        report(
            p,
            out,
            first_by_default=first_exceeded(plan_for, by_default=True),
            first=first_exceeded(plan_for, by_default=False),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
