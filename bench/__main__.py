"""`make bench`: every performance figure of issue #6, each against its budget.

Prints a table and writes .local/bench.json. Figures are medians over many runs, with min and
max. Runs on loopback only (embedded PostgreSQL, MiniStack) and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench import cold, environment, export, listing, package, record, upload, warm

ROOT = Path(__file__).resolve().parent.parent
API_FUNCTIONS = ("request_upload", "get_verification", "get_download_url")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--uploads", type=int, default=20, help="3 MiB uploads for the CPU figure")
    parser.add_argument("--notifications", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--export-files", type=int, default=200, help="3 MiB files in the exported exam")
    parser.add_argument("--output", type=Path, default=ROOT / ".local" / "bench.json")
    args = parser.parse_args()
    # The handlers log every request as JSON to stdout, as on Lambda (that cost is measured):
    # here it goes to /dev/null, and the report to the terminal.
    terminal = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    started = time.monotonic()
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }
    step("package sizes from .aws-sam/build")
    results["package_kb"] = package.measure()
    step(f"cold init: {args.cold_runs} fresh processes per function")
    results["cold"] = cold.measure(args.cold_runs, ROOT / ".local" / "bench")
    counter = environment.StatementCounter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as work,
        environment.started(Path(work)) as env,
        counter.installed(),
    ):
        step(f"warm: {args.invocations} invocations per route")
        results["warm"] = warm.measure(env, counter, args.invocations)
        step(f"CPU per 3 MiB upload: {args.uploads} uploads")
        results["upload"] = upload.measure(env, args.uploads)
        step("list pages of 500 at 1,000 and 10,000 students")
        results["list"] = listing.measure(env, counter, (1000, 10000), runs=50)
        step(f"record: {args.notifications} notifications, {args.workers} workers")
        results["record"] = record.measure(env, counter, args.notifications, args.workers)
        step(f"export: {args.export_files} files of 3 MiB, in a fresh process")
        results["export"] = export.measure(env, args.export_files)
    results["budgets"] = budgets(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    report(results, terminal)
    print(f"\nwritten to {args.output} in {results['seconds']} s", file=terminal)
    sys.exit(0 if all(b["pass"] for b in results["budgets"]) else 1)


def step(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []

    def check(name: str, measured: float, limit: float, unit: str, *, at_least: bool = False) -> None:
        passed = measured >= limit if at_least else measured <= limit
        sign = "≥" if at_least else "≤"
        checks.append({"budget": f"{name} {sign} {limit:g} {unit}", "measured": measured, "pass": passed})

    cold_ms = max(f["cold_init_ms"]["median"] for f in results["cold"].values())
    slowest = max(results["cold"], key=lambda f: results["cold"][f]["cold_init_ms"]["median"])
    check(f"cold init, slowest function ({slowest}), median", cold_ms, 250, "ms")
    rss = max(f["cold_rss_mb"]["median"] for f in results["cold"].values())
    check("cold RSS, largest function, median", rss, 60, "MB")
    for function in API_FUNCTIONS:
        check(f"{function} warm p50", results["warm"][function]["warm_ms"]["p50"], 3, "ms")
    check("SQL statements per presign", results["warm"]["request_upload"]["sql_per_request"], 3, "statements")
    check(
        "transactions per recorded batch of 10", results["record"]["transactions_per_batch_median"], 1, "transactions"
    )
    check("CPU per 3 MiB upload (presign + record), median", results["upload"]["cpu_ms_per_upload"]["median"], 5, "ms")
    check("500-row page at 10,000 students, median", results["list"]["10000"]["list_page_ms"]["median"], 25, "ms")
    check("SQL statements per 500-row page", results["list"]["10000"]["sql_per_page"], 1, "statements")
    check("notifications recorded per second", results["record"]["record_per_s"], 1000, "/s", at_least=True)
    check("lost + duplicated records", results["record"]["lost"] + results["record"]["duplicated"], 0, "records")
    check("export peak RSS (200 files x 3 MiB)", results["export"]["peak_rss_mb"], 128, "MB")
    return checks


def report(results: dict[str, Any], out: TextIO) -> None:
    print(f"\nExam Depository benchmarks, {results['measured_at']} on {results['machine']}\n", file=out)
    print(
        f"{'function':22} {'cold ms (min-max)':>22} {'RSS MB':>8} {'warm p50':>9} {'p99':>8} {'SQL':>4} {'tx':>3}",
        file=out,
    )
    for function, cold_figures in results["cold"].items():
        init, rss = cold_figures["cold_init_ms"], cold_figures["cold_rss_mb"]
        warm_figures = results["warm"].get(function)
        warm_text = (
            f"{warm_figures['warm_ms']['p50']:9.2f} {warm_figures['warm_ms']['p99']:8.2f} "
            f"{warm_figures['sql_per_request']:4d} {warm_figures['transactions_per_request']:3d}"
            if warm_figures
            else f"{'-':>9} {'-':>8} {'-':>4} {'-':>3}"
        )
        spread = f"({init['min']:.0f}-{init['max']:.0f})"
        print(f"{function:22} {init['median']:8.0f} {spread:>13} {rss['median']:8.1f} {warm_text}", file=out)
    up, cpu = results["upload"], results["upload"]["cpu_ms_per_upload"]
    print(
        f"\nCPU per 3 MiB upload: {cpu['median']} ms median (presign {up['presign_cpu_ms']} ms, "
        f"record {up['record_cpu_ms']} ms; min {cpu['min']}, max {cpu['max']}, n={cpu['n']})",
        file=out,
    )
    for students, figures in results["list"].items():
        page = figures["list_page_ms"]
        print(
            f"500-row page at {int(students):,} students: {page['median']} ms median "
            f"({page['min']}-{page['max']}), {figures['sql_per_page']} SQL statement(s)",
            file=out,
        )
    rec = results["record"]
    print(
        f"record: {rec['notifications']:,} notifications by {rec['workers']} workers in {rec['seconds']} s = "
        f"{rec['record_per_s']:,}/s; lost {rec['lost']}, duplicated {rec['duplicated']}, "
        f"failed {rec['failed_messages']}; per batch of 10: {rec['sql_per_batch_median']} SQL statements, "
        f"{rec['transactions_per_batch_median']} transactions",
        file=out,
    )
    ceiling = rec["s3_get_per_s_ceiling"]
    print(f"        (the S3 endpoint alone answers {ceiling:,} GET/s here; each record needs one)", file=out)
    exp = results["export"]
    print(
        f"export: {exp['files']} files, {exp['zip_mb']} MB ZIP in {exp['seconds']} s = {exp['export_mb_s']} MB/s "
        f"(raw S3 GET of the same files: {exp['raw_get_mb_s']} MB/s); peak RSS {exp['peak_rss_mb']} MB",
        file=out,
    )
    print("\npackage (sam build)          unzipped KB  zipped KB", file=out)
    for name, size in results["package_kb"].items():
        print(f"  {name:28} {size['unzipped_kb']:10,d} {size['zipped_kb']:10,d}", file=out)
    print("\nbudgets", file=out)
    for budget in results["budgets"]:
        print(f"  {'PASS' if budget['pass'] else 'FAIL'}  {budget['budget']}: measured {budget['measured']}", file=out)


if __name__ == "__main__":
    main()
