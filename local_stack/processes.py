"""The local stack's child processes: they die with it, however it dies, and a start finds and
stops what an earlier crash left behind.

`kill -9` of `make run` runs no cleanup code, so the kernel does it: each child asks, between
fork and exec, to be sent a signal when its parent dies (Linux's PR_SET_PDEATHSIG). A child of an
older run that escaped anyway (a machine without that call, a version without this module) is
named in a pid file in the state folder, and the next start stops it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _dies_with(parent: int, sig: int) -> Callable[[], None]:
    """Run in the child between fork and exec (after Popen changed its user, which would clear
    the setting): ask for `sig` when the parent dies, and go at once if it already has."""

    def arrange() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return arrange


def spawn(
    command: Sequence[str],
    *,
    pid_file: Path,
    on_parent_death: int,
    env: dict[str, str] | None = None,
    user: str | None = None,
    log: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child that gets `on_parent_death` when this process dies, after stopping the one
    an earlier run left in `pid_file` (if it still runs the same program)."""
    stop_leftover(pid_file)
    process = subprocess.Popen(  # noqa: S603 (our own pinned tools, no shell)
        list(command),
        env=env,
        user=user,
        stdout=log,
        stderr=log,
        start_new_session=True,  # Ctrl-C reaches the stack, which then stops its children in order
        preexec_fn=_dies_with(os.getpid(), on_parent_death),  # noqa: PLW1509 (only prctl and getppid run there)
    )
    pid_file.write_text(json.dumps({"pid": process.pid, "command": list(command)}))
    return process


def stop_leftover(pid_file: Path, timeout_s: float = 10) -> bool:
    """Stop the process named in `pid_file` if it is still the program it names; True if one ran."""
    if not pid_file.exists():
        return False
    recorded: dict[str, Any] = json.loads(pid_file.read_text())
    pid_file.unlink()
    try:
        process = psutil.Process(int(recorded["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE or process.cmdline() != recorded["command"]:
            return False
    except psutil.NoSuchProcess:
        return False
    terminate(process, timeout_s)
    return True


def terminate(process: psutil.Process, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """Send `sig`, then SIGKILL if it is still there after `timeout_s`."""
    try:
        process.send_signal(sig)
        process.wait(timeout_s)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(5)
    except psutil.NoSuchProcess:
        pass


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout_s:.0f} s")
        time.sleep(0.05)
