"""The capacity model's arithmetic (bench/capacity.py), on cases worked out by hand."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench import capacity
from bench.capacity import Deployment, Figures, Route, Settings
from local_stack.functions import read_template

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

# A budget of the template's shape, cut to three rows and three columns, worked out by hand for
# 2 student + 4 reviewer + 16 examiner functions and 5 jobs of one each (the template has more
# examiner functions since; the last tests read its own budget).
SHARES = {
    100: {2: (16, 4, 2), 5: (17, 3, 2), 20: (9, 3, 2)},
    189: {2: (29, 8, 5), 5: (27, 8, 5), 20: (22, 7, 5)},
    823: {2: (322, 20, 5), 5: (320, 20, 5), 20: (313, 20, 5)},
}
DEPLOYMENT = Deployment(
    shares=SHARES,
    database_max_connections=(100, 189, 823),
    recorder_max_concurrency=(2, 5, 20),
    reserved={
        (connections, recorders): 2 * student + 4 * reviewer + 16 * examiner + 5
        for connections, row in SHARES.items()
        for recorders, (student, reviewer, examiner) in row.items()
    },
    job_connections=7,
    other_unreserved=2,
    defaults=Settings(
        database_max_connections=100, recorder_max_concurrency=5, stage_rate_limit=200, stage_burst_limit=400
    ),
    api_memory_mb=256,
    pages_memory_mb=128,
    recorder_memory_mb=256,
    recorder_batch_size=10,
    recorder_batch_window_s=1,
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
    assert capacity.recorder_batch(33.3, 10, 1) == 10
    assert capacity.recorder_batch(6.5, 10, 1) == 6.5
    assert capacity.recorder_batch(0.2, 10, 1) == 1
    assert capacity.recorder_batch(6.5, 10, 0.5) == 3.25


def test_a_deadline_of_30000_students_in_5_minutes() -> None:
    # 100 hand-ins/s on average, 200 at the peak; 3 page files + lookup + presign + 3 polls = 8 requests.
    p = capacity.plan(30_000, 5, FIGURES, DEPLOYMENT, peak_factor=2, polls=3)

    assert p.hand_ins_per_s == pytest.approx(200)
    assert p.api_rps == pytest.approx(1600)
    # Pages: 600/s of 0.1 ms x 1769/128 = 1.38 ms -> 0.83 by Little, but 600 rps need 60.
    assert p.function("serve_pages").concurrency == 60
    # Status: 800/s of 1 ms x 6.91 + 1 SQL = 7.91 ms -> 6.3; 800 rps need 80.
    assert p.function("get_upload_status").concurrency == 80
    # Presign: 200/s of 2 ms x 6.91 + 3 SQL = 16.82 ms -> 3.4; 200 rps need 20.
    assert p.function("request_upload").concurrency == 20
    # Recorder: a record is 5 ms x 6.91 + 1 SQL ms + HEAD and Sign 20 ms = 55.55 ms; batches of
    # 10 at 20/s -> 20 x 0.5555 = 11.1 -> 12.
    assert p.function("record_submissions").duration_ms == pytest.approx(555.5078125)
    assert p.record_ms == pytest.approx(55.55078125)
    assert p.recorder_concurrency == 12
    assert p.connections == 80 + 20 + 12 + 7
    # Database CPU: 800 x 0.5 ms + 200 x 1 ms + 200 records x 1 statement x 0.5 ms = 0.7 s/s -> 6 ACU.
    assert p.database_cpu_s_per_s == pytest.approx(0.7)

    # The recorder needs 12: of 2, 5 and 20 the smallest that keeps up is 20. Each student
    # function needs 80 (the status's): at 20 recorders 100 gives 9 and 189 gives 22, 823 gives 313.
    assert p.settings == Settings(
        database_max_connections=823, recorder_max_concurrency=20, stage_rate_limit=1600, stage_burst_limit=1600
    )
    assert p.settings_cover
    # 823 connections need 4 ACU; the CPU needs 6.
    assert p.max_acu == 6.0

    by_default = {c.key: c for c in p.checks_by_default}
    assert by_default["stage-rate"].ratio == pytest.approx(8.0)  # 1,600 against 200
    assert by_default["student-share"].ratio == pytest.approx(80 / 17)
    assert by_default["recorder"].ratio == pytest.approx(12 / 5)
    applied = {c.key: c for c in p.checks}
    assert applied["student-share"].ratio == pytest.approx(80 / 313)
    assert applied["recorder"].ratio == pytest.approx(12 / 20)
    assert applied["kms"].ratio == pytest.approx(0.2)
    assert applied["api"].ratio == pytest.approx(0.16)
    # Reserved at (823, 20): 2 x 313 + 4 x 20 + 16 x 5 + 5 = 791; unreserved: pages 60 + recorder 12
    # + export 2 = 74, less than the 100 Lambda keeps: 891 of the account's 1,000.
    assert applied["account"].need == 891
    assert applied["account"].ratio == pytest.approx(0.891)
    assert all(c.ratio <= 1 for c in p.checks)
    assert p.parameters()["account concurrency"] == "1,000 holds the 891 it needs"
    assert p.parameters()["RecorderMaxConcurrency"] == "20 (needs 12)"

    assert p.bill["API Gateway requests"] == pytest.approx(240_000 * 3.50e-6)
    assert p.bill["KMS Sign"] == pytest.approx(0.45)
    assert p.bill["S3 POST and HEAD"] == pytest.approx(0.162)
    assert p.bill["SQS"] == pytest.approx(0.036)
    assert p.bill["Lambda requests"] == pytest.approx(243_000 * 0.20e-6)  # 90k + 120k + 30k + 3k batches
    # 0.35 CPU-s/s on average -> 3 ACU, for the 5 minutes and 15 of scaling down: 3 x 1/3 h x $0.12.
    assert p.bill["Aurora ACU-hours"] == pytest.approx(0.12)


def test_an_account_whose_quota_is_short_of_the_reservations_is_told_to_raise_it() -> None:
    p = capacity.plan(30_000, 5, FIGURES, DEPLOYMENT, account_concurrency=800)

    (account,) = (c for c in p.checks if c.key == "account")
    assert (account.need, account.limit) == (891, 800)
    assert p.parameters()["account concurrency"].startswith("raise the quota to 891")


def test_the_settings_are_the_smallest_allowed_values_that_cover_the_needs() -> None:
    def needed(student: int, reviewer: int, recorder: int, api_rps: float) -> tuple[Settings, bool]:
        return capacity.settings_needed(
            DEPLOYMENT, student=student, reviewer=reviewer, recorder=recorder, api_rps=api_rps
        )

    # A small class keeps the defaults' stage throttle and the smallest budget.
    assert needed(3, 0, 1, 53) == (Settings(100, 2, 200, 400), True)
    # 17 fits the default column's 17, but not the 16 of the smaller recorder column.
    assert needed(17, 0, 5, 250) == (Settings(100, 5, 300, 400), True)
    assert needed(17, 0, 2, 250) == (Settings(189, 2, 300, 400), True)
    # The reviewer's need moves the budget up too: 100 gives reviewers 3, 189 gives 8.
    assert needed(3, 8, 5, 53) == (Settings(189, 5, 200, 400), True)
    assert needed(3, 9, 5, 53) == (Settings(823, 5, 200, 400), True)
    # Beyond the largest allowed values: the largest, and said not to cover.
    assert needed(314, 0, 20, 53) == (Settings(823, 20, 200, 400), False)
    assert needed(3, 0, 21, 53) == (Settings(100, 20, 200, 400), False)


def test_the_first_limit_a_growing_class_exceeds_is_found_by_halving() -> None:
    def over(students: int) -> dict[str, float]:
        limits = {"stage": 3_750, "kms": 150_000, "student": 3_750}
        needs = {"stage": students / 3_750 * 1.5, "kms": students / 150_000, "student": students / 3_750}
        return {key: needs[key] for key, limit in limits.items() if students > limit}

    # Two limits are exceeded from the same class: the one exceeded more is named.
    assert capacity.binds_first(over) == ("stage", 3_751)
    assert capacity.binds_first(lambda students: {}) is None


def test_the_model_reads_the_budget_the_template_deploys() -> None:
    deployment = capacity.deployment_from_template(read_template())

    assert deployment.database_max_connections == (100, 189, 823, 1669, 2000)
    assert deployment.recorder_max_concurrency == (2, 5, 10, 20, 50)
    assert deployment.shares[1669][5] == (686, 20, 5)
    assert deployment.shares[100][5] == (2, 2, 2)
    # The template's rules refuse 10 or 50 recorders with 100 connections: the mapping has no such pair.
    assert 10 not in deployment.shares[100]
    assert 50 not in deployment.shares[100]
    # docs/RELIABILITY.md's table: executions reserved at RecorderMaxConcurrency 5.
    assert [deployment.reserved[(connections, 5)] for connections in deployment.database_max_connections] == [
        73,
        162,
        796,
        1642,
        1974,
    ]
    # Export 2, scan results 2, mail sender 2, mail events 2, the LTI worker's queue 2, expire, reconcile,
    # migrate, administer, wake 1 each.
    assert deployment.job_connections == 15
    assert deployment.other_unreserved == 10
    assert deployment.defaults == Settings(100, 5, 200, 400)
    assert (deployment.api_memory_mb, deployment.pages_memory_mb, deployment.recorder_memory_mb) == (256, 128, 256)
    assert (deployment.recorder_batch_size, deployment.recorder_batch_window_s) == (10, 1.0)
    # At 1669 the reservations and the 100 Lambda keeps unreserved pass a new account's 1,000.
    settings = Settings(1669, 5, 200, 400)
    assert capacity.account_concurrency_needed(deployment, settings, unreserved_need=0) == 1742


def test_twice_the_students_need_twice_the_requests_and_the_same_settings_when_they_still_fit() -> None:
    small, large = capacity.plan(10_000, 5, FIGURES, DEPLOYMENT), capacity.plan(20_000, 5, FIGURES, DEPLOYMENT)

    assert large.api_rps == pytest.approx(2 * small.api_rps)
    kms = {p.students: next(c for c in p.checks if c.key == "kms") for p in (small, large)}
    assert kms[20_000].ratio == pytest.approx(2 * kms[10_000].ratio)


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
    # The status function's 2 environments at the default (DatabaseMaxConnections 100, since LTI took
    # its shares) bind before the stage throttle's 200/s (8 requests a hand-in, twice the average at
    # the peak: 3,750 students).
    assert (
        "binds first (with the template's defaults): student functions' share (DatabaseMaxConnections 100), "
        "exceeded from about 751" in text
    )
    assert "DatabaseMaxConnections   100 " in text


def test_the_recorders_ceiling_is_its_concurrency_over_the_time_of_a_record() -> None:
    assert capacity.records_per_s(5, 58.0) == pytest.approx(86.2, abs=0.1)
    assert capacity.records_per_s(20, 50.0) == 400


def test_a_cold_start_on_aws_is_the_init_measured_here_slowed_to_the_functions_share_of_a_vcpu() -> None:
    assert capacity.cold_start_on_aws_s(256, 256) == pytest.approx(1.769)
    assert capacity.cold_start_on_aws_s(200, 1769) == pytest.approx(0.2)
