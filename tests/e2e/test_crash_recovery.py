"""The local stack killed outright, hung up on, or crashed in the middle of a burst of uploads:
nothing is left running, the next start works on the same ports, and nothing S3 accepted is lost."""

from __future__ import annotations

import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest

from local_stack import background
from local_stack.client import ApiClient

pytestmark = pytest.mark.e2e


def _processes_of(stack: background.BackgroundStack) -> list[psutil.Process]:
    """What the stack started: its children (MiniStack), and PostgreSQL (whatever its parent)."""
    postmaster = int((stack.local_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    return [*psutil.Process(stack.process.pid).children(recursive=True), psutil.Process(postmaster)]


def _running(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_until_gone(processes: list[psutil.Process], timeout_s: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while _running(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _running(processes)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGHUP"])
def test_a_stack_killed_or_hung_up_on_leaves_nothing_and_starts_again_on_the_same_ports(
    tmp_path: Path, how: str
) -> None:
    # Given a running stack with a student
    first = background.start(tmp_path)
    ports = (int(first.info["api_url"].rsplit(":", 1)[1]), int(first.info["s3_endpoint"].rsplit(":", 1)[1]))
    started = _processes_of(first)
    examiner = ApiClient(first.info["api_url"], first.info["api_key"])
    examiner.create_exam("crash")
    examiner.create_student("crash", "before.crash")

    # When it is killed outright (no cleanup code runs) or its terminal goes away
    first.process.send_signal(getattr(signal, how))
    first.process.wait(30)

    # Then MiniStack and PostgreSQL go with it
    assert _wait_until_gone(started) == [], f"left running after {how}"

    # And the next start, on the same ports, finds the data and stops cleanly
    second = background.start(tmp_path, ports=ports)
    client = ApiClient(second.info["api_url"], second.info["api_key"])
    assert client.student("crash", "before.crash").status_code == 200
    restarted = _processes_of(second)
    assert second.stop() == 0
    assert _wait_until_gone(restarted) == []


def test_uploads_s3_accepted_before_a_crash_are_recorded_after_the_restart(tmp_path: Path) -> None:
    # Given a stack whose recorder does not run, so that every notification waits in the queue,
    # which MiniStack keeps in memory only
    first = background.start(tmp_path, record_workers=0)
    ports = (int(first.info["api_url"].rsplit(":", 1)[1]), int(first.info["s3_endpoint"].rsplit(":", 1)[1]))
    examiner = ApiClient(first.info["api_url"], first.info["api_key"])
    examiner.create_exam("burst")
    codes = [examiner.create_student("burst", f"burst{n}")["upload_code"] for n in range(12)]
    forms = [(code, examiner.form(code)) for code in codes for _ in range(3)]

    # When the stack is killed in the middle of a burst of uploads
    accepted: list[tuple[str, str]] = []
    lock = threading.Lock()

    def upload(item: tuple[str, dict[str, object]]) -> None:
        code, form = item
        try:
            posted = ApiClient(first.info["api_url"]).post_form(form, b"%PDF answers in a burst")
        except OSError:  # the emulator died under this request: S3 never accepted it
            return
        if posted.status_code == 204:
            with lock:
                accepted.append((code, str(form["upload_id"])))
            if len(accepted) == 15:
                first.process.kill()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(upload, forms))
    first.process.wait(30)
    assert 15 <= len(accepted) < len(forms), "the crash came in the middle of the burst"

    # Then after a plain restart, with no hand command, every upload S3 accepted is recorded:
    # those whose 204 reached the client, and any S3 stored as the emulator died under it
    second = background.start(tmp_path, ports=ports)
    try:
        client = ApiClient(second.info["api_url"])
        states = {u["upload_id"]: u["status"] for code in codes for u in client.progress(code)["uploads"]}
        assert all(states[upload_id] == "recorded" for _, upload_id in accepted), states
        stored = [upload_id for upload_id, status in states.items() if status != "pending"]
        assert set(stored) >= {upload_id for _, upload_id in accepted}
        assert all(states[upload_id] == "recorded" for upload_id in stored)  # 3 forms each: within the limit
        banner = (tmp_path / "terminal.log").read_text()
        recovered = re.findall(r"Recorded (\d+) upload\(s\) whose notification an earlier crash lost", banner)
        assert recovered == [str(len(stored))]
    finally:
        assert second.stop() == 0


def test_the_local_stack_runs_the_templates_schedules(tmp_path: Path) -> None:
    # Given a stack whose schedules run every 2 s instead of every 6 hours, and a file past its retention
    stack = background.start(tmp_path, environment={"LOCAL_SCHEDULE_SECONDS": "2"})
    try:
        examiner = ApiClient(stack.info["api_url"], stack.info["api_key"])
        examiner.create_exam("scheduled")
        code = examiner.create_student("scheduled", "ann")["upload_code"]
        current = examiner.hand_in(code, b"%PDF kept 3 days")["current"]

        with psycopg.connect(stack.info["database_url"], autocommit=True) as conn:
            conn.execute("UPDATE submission SET expires_at = now() - interval '1 second'")

        # Then, with no hand command, the expiry job marks it expired and deletes its file
        s3, _ = background.stack_clients(tmp_path, stack.info)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with psycopg.connect(stack.info["database_url"]) as conn:
                (status,) = conn.execute("SELECT status FROM submission").fetchone() or ("?",)
            stored = s3.list_object_versions(Bucket=stack.info["bucket"], Prefix="submissions/").get("Versions", [])
            if status == "expired" and not stored:
                break
            time.sleep(0.5)
        assert (status, stored) == ("expired", [])
        assert ApiClient(stack.info["api_url"]).download_link(current["verification_code"]).status_code == 410
    finally:
        assert stack.stop() == 0
