"""`make bench`: every performance figure beside its floor, measured in the same run, and each
budget as a ratio to that floor (an absolute time on a shared machine says more about the machine
than about the code). Each PASS/FAIL line shows figure, floor and ratio; .local/bench.json keeps
all three. Runs on loopback only (embedded PostgreSQL, MiniStack, moto's server) and stops by
itself. docs/PERFORMANCE.md says what each figure means.
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

from bench import cold, environment, export, gateway, listing, package, record, upload, warm

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per function")
    parser.add_argument("--invocations", type=int, default=300, help="per route")
    parser.add_argument("--uploads", type=int, default=20, help="3 MiB uploads per path for the CPU figure")
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--export-files", type=int, default=200, help="3 MiB files in the exported exam")
    parser.add_argument(
        "--gateway-requests", type=int, default=2000, help="per round, to the local gateway and its floor"
    )
    parser.add_argument("--output", type=Path, default=ROOT / ".local" / "bench.json")
    parser.add_argument(
        "--one-core", action="store_true", help="run on the first CPU only, with all it starts (as taskset -c 0)"
    )
    args = parser.parse_args()
    if args.one_core:  # before anything is started: the database and the emulator inherit it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # The handlers log every request as JSON to stdout, as on Lambda (that cost is measured):
    # here it goes to /dev/null, and the report to the terminal.
    terminal = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    started = time.monotonic()
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "cpus": len(os.sched_getaffinity(0)),
    }
    step("package sizes from .aws-sam/build")
    results["package_kb"] = package.measure()
    step(f"cold init: {args.cold_runs} fresh processes per function and of the minimal function, interleaved")
    results["cold"] = cold.measure(args.cold_runs, ROOT / ".local" / "bench")
    counter = environment.StatementCounter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as work,
        environment.started(Path(work)) as env,
        counter.installed(),
    ):
        step(f"warm: {args.invocations} invocations per route")
        results["warm"] = warm.measure(env, counter, args.invocations)
        step(f"CPU per 3 MiB upload: {args.uploads} uploads on each path (read; S3 checksum, with moto)")
        results["upload"] = upload.measure(env, counter, args.uploads)
        step("pages: 500 students at 1,000 and 10,000; 100 exams of 1,000 with 200 students each")
        results["list"] = listing.measure(env, counter, (1000, 10000), runs=30)
        step(f"record: {args.notifications} notifications, {args.workers} workers")
        results["record"] = record.measure(env, counter, args.notifications, args.workers)
        step(f"export: {args.export_files} files of 3 MiB, in a fresh process")
        results["export"] = export.measure(env, args.export_files)
        # In the environment: the gateway's invocations import the handlers' shared modules,
        # which read the environment the local stack sets.
        step(f"local gateway: {args.gateway_requests} form requests per round, beside a lean HTTP server")
        results["gateway"] = gateway.measure(args.gateway_requests)
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

    def check(name: str, figure: float, floor: float, limit: float, unit: str, *, at_least: bool = False) -> None:
        ratio = round(figure / floor, 2) if floor else float("inf")
        passed = ratio >= limit if at_least else ratio <= limit
        checks.append(
            {
                "budget": f"{name}: ratio {'≥' if at_least else '≤'} {limit:g}",
                "figure": figure,
                "floor": floor,
                "unit": unit,
                "ratio": ratio,
                "pass": passed,
            }
        )

    cold_figures = results["cold"]
    slowest = cold_figures["slowest"]
    check(
        f"cold init CPU, slowest function ({slowest}) / minimal function + its third-party imports and clients",
        cold_figures["slowest_again"]["cold_cpu_ms"]["median"],
        cold_figures["floor"]["cold_cpu_ms"]["median"],
        1.2,
        "ms",
    )
    own = cold_figures["own_imports"]
    checks.append(
        {
            "budget": f"our own modules' import time / all of {slowest}'s imports ≤ 0.1",
            "figure": own["share"],
            "pass": own["share"] <= 0.1,
        }
    )
    for route, figures in results["warm"].items():
        check(
            f"warm p50 {route} / its SQL and AWS bare", figures["warm_ms"]["p50"], figures["floor_ms"]["p50"], 2, "ms"
        )
    page = results["list"]["students"]["10000"]
    check(
        "500-row page at 10,000 students / its query bare",
        page["page_ms"]["median"],
        page["floor_ms"]["median"],
        1.5,
        "ms",
    )
    for found, search in results["list"]["search"].items():
        check(
            f"roster search at {search['students']:,} students, finding {found} / its query bare",
            search["page_ms"]["median"],
            search["floor_ms"]["median"],
            1.5,
            "ms",
        )
    exams = results["list"]["exams"]
    check(
        "100 exams with counts (1,000 × 200 students) / its query bare",
        exams["page_ms"]["median"],
        exams["floor_ms"]["median"],
        1.5,
        "ms",
    )
    up = results["upload"]
    for path in ("read", "checksum"):
        check(
            f"CPU per 3 MiB upload, {path} path / its S3, KMS and SQL requests bare",
            up[path]["cpu_ms"],
            up[path]["floor_cpu_ms"],
            1.5,
            "ms",
        )
    rec = results["record"]
    check(
        "recorded per second / its requests and transactions bare, same concurrency",
        rec["record_per_s"],
        rec["floor_per_s"],
        0.7,
        "/s",
        at_least=True,
    )
    exp = results["export"]
    check(
        "export MB/s / the same GETs and multipart upload bare",
        exp["export_mb_s"],
        exp["floor_mb_s"],
        0.7,
        "MB/s",
        at_least=True,
    )
    gw = results["gateway"]
    check(
        "local gateway CPU per form request (fixed answer) / a lean http.server's",
        gw["gateway_cpu_ms"],
        gw["lean_cpu_ms"],
        1.5,
        "ms",
    )
    for name, limit, figure in (
        ("lost + duplicated records", 0, rec["lost"] + rec["duplicated"]),
        ("SQL statements per 500-row page", 2, page["sql_per_page"]),
        ("SQL statements per page of exams", 2, exams["sql_per_page"]),
    ):
        checks.append({"budget": f"{name} ≤ {limit}", "figure": figure, "pass": figure <= limit})
    return checks


def report(results: dict[str, Any], out: TextIO) -> None:
    print(
        f"\nExam Depository benchmarks, {results['measured_at']} on {results['machine']}, {results['cpus']} CPU(s)\n",
        file=out,
    )
    print(f"{'function':22} {'cold CPU ms':>11} {'÷ minimal':>9} {'RSS MB':>7}", file=out)
    for function, figures in results["cold"]["functions"].items():
        print(
            f"{function:22} {figures['cold_cpu_ms']['median']:11.0f} {figures['ratio']:9.2f} "
            f"{figures['cold_rss_mb']['median']:7.1f}",
            file=out,
        )
    cold_figures = results["cold"]
    slowest, floor = cold_figures["slowest"], cold_figures["floor"]
    print(
        f"{slowest} again: {cold_figures['slowest_again']['cold_cpu_ms']['median']:.0f} ms CPU, beside the minimal "
        f"function + its {floor['third_party_modules']} third-party modules and "
        f"{len(floor['clients'])} AWS client(s) ({', '.join(floor['clients']) or 'none'}): "
        f"{floor['cold_cpu_ms']['median']:.0f} ms = {cold_figures['ratio']}",
        file=out,
    )
    own = cold_figures["own_imports"]
    top = ", ".join(f"{row['module']} {row['self_ms']} ms" for row in own["top"])
    print(
        f"our own modules' import time in {slowest}: {own['own_ms']} ms of {own['all_imports_ms']} ms of imports "
        f"({own['share']:.1%}); largest: {top}",
        file=out,
    )
    print(
        f"\n{'route':20} {'warm p50':>9} {'p99':>8} {'floor':>7} {'ratio':>6} "
        f"{'SQL':>4} {'tx':>3} {'AWS':>4} {'sig':>4}",
        file=out,
    )
    for route, figures in results["warm"].items():
        print(
            f"{route:20} {figures['warm_ms']['p50']:9.2f} {figures['warm_ms']['p99']:8.2f} "
            f"{figures['floor_ms']['p50']:7.2f} {figures['ratio']:6.2f} {figures['sql_per_request']:4d} "
            f"{figures['transactions_per_request']:3d} {figures['aws_requests_per_request']:4d} "
            f"{figures['signatures_per_request']:4d}",
            file=out,
        )
    up = results["upload"]
    for path in ("read", "checksum"):
        print(
            f"\nCPU per 3 MiB upload, {path} path: {up[path]['cpu_ms']} ms (presign {up[path]['presign_cpu_ms']}, "
            f"record {up[path]['record_cpu_ms']}); its requests bare {up[path]['floor_cpu_ms']} ms; n={up['n']}",
            file=out,
            end="",
        )
    print(f"\nsha256 of 3 MiB: {up['sha256_3mib_ms']} ms", file=out)
    for students, figures in results["list"]["students"].items():
        print(
            f"500-row page at {int(students):,} students: {figures['page_ms']['median']} ms, its query bare "
            f"{figures['floor_ms']['median']} ms, {figures['sql_per_page']} statement(s)",
            file=out,
        )
    for search in results["list"]["search"].values():
        print(
            f"roster search for {search['q']!r} at {search['students']:,} students: {search['page_ms']['median']} ms, "
            f"its query bare {search['floor_ms']['median']} ms, {search['sql_per_page']} statement(s)",
            file=out,
        )
    exams = results["list"]["exams"]
    print(
        f"100 exams with counts of 1,000 × 200 students: {exams['page_ms']['median']} ms, its query bare "
        f"{exams['floor_ms']['median']} ms, {exams['sql_per_page']} statement(s)",
        file=out,
    )
    rec = results["record"]
    print(
        f"record: {rec['notifications']:,} notifications by {rec['workers']} workers in {rec['seconds']} s = "
        f"{rec['record_per_s']:,}/s (its requests and transactions bare: {rec['floor_per_s']:,}/s); "
        f"lost {rec['lost']}, "
        f"duplicated {rec['duplicated']}, failed {rec['failed_messages']}; per batch of 10: "
        f"{rec['sql_per_batch_median']} SQL statements, {rec['transactions_per_batch_median']} transactions",
        file=out,
    )
    exp = results["export"]
    print(
        f"export: {exp['files']} files, {exp['zip_mb']} MB ZIP in {exp['seconds']} s = {exp['export_mb_s']} MB/s "
        f"(the same GETs and multipart upload bare: {exp['floor_mb_s']} MB/s; medians of the exports "
        f"{exp['export_runs_mb_s']} and of the floor's runs around them {exp['floor_runs_mb_s']}); "
        f"peak RSS {exp['peak_rss_mb']} MB",
        file=out,
    )
    gw = results["gateway"]
    print(
        f"local gateway: {gw['gateway_cpu_ms']} ms CPU per form request answered at once "
        f"(a lean http.server: {gw['lean_cpu_ms']} ms); wall per request {gw['gateway_wall_ms']} ms "
        f"(lean {gw['lean_wall_ms']} ms); {gw['requests']} requests × {gw['rounds']} rounds, one keep-alive connection",
        file=out,
    )
    print("\npackage (sam build)          unzipped KB  zipped KB", file=out)
    for name, size in results["package_kb"].items():
        print(f"  {name:28} {size['unzipped_kb']:10,d} {size['zipped_kb']:10,d}", file=out)
    print("\nbudgets (figure / floor = ratio)", file=out)
    for budget in results["budgets"]:
        verdict = "PASS" if budget["pass"] else "FAIL"
        if "floor" in budget:
            measured = f"{budget['figure']} / {budget['floor']} {budget['unit']} = {budget['ratio']}"
        else:
            measured = f"{budget['figure']}"
        print(f"  {verdict}  {budget['budget']}: {measured}", file=out)


if __name__ == "__main__":
    main()
