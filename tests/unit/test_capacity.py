"""The capacity model's arithmetic (bench/capacity.py), on cases worked out by hand."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench import capacity
from bench.capacity import Figures, Route

# Round figures, so that every expectation below can be worked out on paper.
FIGURES = Figures(
    source="test",
    pages=Route(warm_ms=0.1, floor_ms=0.1, sql=0, aws_requests=0, cold_init_ms=100),
    status=Route(warm_ms=1.0, floor_ms=0.5, sql=1, aws_requests=0, cold_init_ms=200),
    presign=Route(warm_ms=2.0, floor_ms=1.0, sql=3, aws_requests=0, cold_init_ms=200),
    recorder_cpu_ms=5.0,
    recorder_sql_per_batch=10,
    recorder_cold_init_ms=200,
)


def test_the_peak_rate_is_the_average_times_the_peak_factor() -> None:
    assert capacity.peak_rate(50_000, 300, 2) == pytest.approx(333.333, abs=0.001)
    assert capacity.peak_rate(1_000, 60, 1) == pytest.approx(16.667, abs=0.001)


def test_a_function_gets_cpu_in_proportion_to_its_memory_and_never_more_than_a_core() -> None:
    assert capacity.cpu_scale(256) == pytest.approx(1769 / 256)
    assert capacity.cpu_scale(1769) == 1.0
    assert capacity.cpu_scale(4096) == 1.0


def test_a_duration_on_aws_adds_the_round_trips_loopback_did_not_have() -> None:
    # 1 ms on a full core, 2 SQL round trips of 1 ms, one AWS request of 10 ms.
    assert capacity.duration_on_aws_ms(1.0, 1769, 2, 1) == pytest.approx(13.0)
    assert capacity.duration_on_aws_ms(1.0, 256, 0, 0) == pytest.approx(6.91015625)


def test_concurrency_is_littles_law_but_at_least_one_environment_per_ten_requests_a_second() -> None:
    assert capacity.concurrency(100, 0.5) == 50
    assert capacity.concurrency_needed(100, 0.5) == 50  # Little's law binds
    assert capacity.concurrency_needed(100, 0.05) == 10  # 5 by Little, but 100 rps need 10
    assert capacity.concurrency_needed(200, 0.25) == 50  # exactly 50, not 51
    assert capacity.concurrency_needed(0.1, 1.0) == 1


def test_max_connections_follow_the_maximum_acu_and_the_cap_of_a_minimum_of_zero() -> None:
    assert capacity.max_connections(1, min_acu_zero=True) == 189
    assert capacity.max_connections(6, min_acu_zero=True) == 823  # between documented points: the lower
    assert capacity.max_connections(8, min_acu_zero=True) == 1669
    assert capacity.max_connections(128, min_acu_zero=True) == 2000
    assert capacity.max_connections(16, min_acu_zero=False) == 3360
    assert capacity.max_connections(64, min_acu_zero=False) == 5000
    with pytest.raises(ValueError, match="no documented max_connections"):
        capacity.max_connections(0.5, min_acu_zero=True)


def test_the_smallest_maximum_acu_that_holds_the_connections() -> None:
    assert capacity.smallest_max_acu(189, min_acu_zero=True) == 1.0
    assert capacity.smallest_max_acu(192, min_acu_zero=True) == 4.0
    assert capacity.smallest_max_acu(2001, min_acu_zero=True) is None
    assert capacity.smallest_max_acu(2001, min_acu_zero=False) == 16.0


def test_acus_for_the_database_cpu_at_half_load_in_half_acu_steps() -> None:
    assert capacity.acu_for_cpu(0.7) == 6.0  # 0.7 vCPU x 4 ACU / 0.5 = 5.6
    assert capacity.acu_for_cpu(0.35) == 3.0  # 2.8
    assert capacity.acu_for_cpu(0.0) == 0.5


def test_a_recorder_batch_is_what_arrives_in_its_window_up_to_ten() -> None:
    assert capacity.recorder_batch(33.3) == 10
    assert capacity.recorder_batch(6.5) == 6.5
    assert capacity.recorder_batch(0.2) == 1


def test_a_deadline_of_30000_students_in_5_minutes() -> None:
    # 100 hand-ins/s on average, 200 at the peak; 3 page files + lookup + presign + 3 polls = 8 requests.
    p = capacity.plan(30_000, 5, FIGURES, peak_factor=2, polls=3)

    assert p.hand_ins_per_s == pytest.approx(200)
    assert p.api_rps == pytest.approx(1600)
    by_name = {f.name: f for f in p.functions}
    # Pages: 600/s of 0.1 ms x 1769/128 = 1.38 ms -> 0.83 by Little, but 600 rps need 60.
    assert by_name["serve_pages"].concurrency == 60
    # Status: 800/s of 1 ms x 6.91 + 1 SQL = 7.91 ms -> 6.3; 800 rps need 80.
    assert by_name["get_upload_status"].concurrency == 80
    # Presign: 200/s of 2 ms x 6.91 + 3 SQL = 16.82 ms -> 3.4; 200 rps need 20.
    assert by_name["request_upload"].concurrency == 20
    # Recorder: a record is 5 ms x 6.91 + 1 SQL ms + HEAD and Sign 20 ms = 55.55 ms; batches of
    # 10 at 20/s -> 20 x 0.5555 = 11.1 -> 12.
    assert by_name["record_submissions"].duration_ms == pytest.approx(555.5078125)
    assert by_name["record_submissions"].concurrency == 12
    assert p.record_ms == pytest.approx(55.55078125)
    assert p.recorder_concurrency == 12
    assert p.connections == 80 + 20 + 12 + 4
    # Database CPU: 800 x 0.5 ms + 200 x 1 ms + 200 records x 1 statement x 0.5 ms = 0.7 s/s -> 6 ACU,
    # more than the 1 ACU that 116 connections need.
    assert p.database_cpu_s_per_s == pytest.approx(0.7)
    assert p.max_acu == 6.0

    ratios = {c.what.split(" ")[0] + " " + c.what.split(" ")[1]: c.ratio for c in p.checks}
    assert ratios["KMS ECC"] == pytest.approx(0.2)
    assert ratios["API Gateway"] == pytest.approx(0.16)
    assert p.binding.what.startswith("KMS ECC Sign")  # 0.2, before concurrency's 172 / 900 = 0.19
    assert p.binding_overall.what.startswith("StageThrottleRateLimit")  # 1,600 against 200
    assert p.parameters()["RecorderMaxConcurrency"] == ">= 12"
    assert p.parameters()["StageThrottleRateLimit"].startswith(">= 1,600")

    assert p.bill["API Gateway requests"] == pytest.approx(240_000 * 3.50e-6)
    assert p.bill["KMS Sign"] == pytest.approx(0.45)
    assert p.bill["S3 POST and HEAD"] == pytest.approx(0.162)
    assert p.bill["SQS"] == pytest.approx(0.036)
    assert p.bill["Lambda requests"] == pytest.approx(243_000 * 0.20e-6)  # 90k + 120k + 30k + 3k batches
    # 0.35 CPU-s/s on average -> 3 ACU, for the 5 minutes and 15 of scaling down: 3 x 1/3 h x $0.12.
    assert p.bill["Aurora ACU-hours"] == pytest.approx(0.12)


def test_twice_the_students_need_twice_the_requests_and_reach_the_binding_quota_at_the_same_class() -> None:
    small, large = capacity.plan(10_000, 5, FIGURES), capacity.plan(20_000, 5, FIGURES)

    assert large.api_rps == pytest.approx(2 * small.api_rps)
    assert large.binding.ratio == pytest.approx(2 * small.binding.ratio)


def test_figures_are_read_from_the_bench_file_as_make_bench_writes_it() -> None:
    def route(p50: float) -> dict[str, object]:
        return {
            "warm_ms": {"p50": p50},
            "floor_ms": {"p50": p50 / 2},
            "sql_per_request": 1,
            "aws_requests_per_request": 0,
        }

    names = ("serve_pages", "get_upload_status", "request_upload", "record_submissions")
    bench = {
        "warm": {"serve_pages": route(0.05), "get_upload_status": route(0.4), "request_upload": route(1.1)},
        "cold": {"functions": {name: {"cold_init_ms": {"median": 250.0}} for name in names}},
        "upload": {"checksum": {"record_cpu_ms": 5.4}},
        "record": {"sql_per_batch_median": 8},
    }

    figures = capacity.figures_from_bench(bench, "file")

    assert figures.status == Route(warm_ms=0.4, floor_ms=0.2, sql=1, aws_requests=0, cold_init_ms=250.0)
    assert figures.recorder_cpu_ms == 5.4
    assert figures.recorder_sql_per_batch == 8


def test_without_a_bench_file_the_cli_says_its_figures_are_the_documented_defaults(tmp_path: Path) -> None:
    out = io.StringIO()

    assert capacity.main(["--students", "1000", "--bench", str(tmp_path / "missing.json")], out) == 0

    text = out.getvalue()
    assert text.startswith("figures: defaults: make bench of 2026-12-04")
    assert "run make bench" in text
    assert "1,000 students in 5 min" in text
    assert "binds first (AWS quota)" in text


def test_the_recorders_ceiling_is_its_concurrency_over_the_time_of_a_record() -> None:
    assert capacity.records_per_s(5, 58.0) == pytest.approx(86.2, abs=0.1)
    assert capacity.records_per_s(20, 50.0) == 400


def test_a_cold_start_on_aws_is_the_init_measured_here_slowed_to_the_functions_share_of_a_vcpu() -> None:
    assert capacity.cold_start_on_aws_s(256, 256) == pytest.approx(1.769)
    assert capacity.cold_start_on_aws_s(200, 1769) == pytest.approx(0.2)
