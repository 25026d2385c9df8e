"""Start the local stack as a child process on free ports, for the e2e tests and the soak script."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BackgroundStack:
    process: subprocess.Popen[bytes]
    local_dir: Path
    info: dict[str, Any]  # .local/stack.json

    def stop(self, timeout_s: float = 30) -> int:
        """Ctrl-C, as a person would; returns the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout_s)


def stack_clients(local_dir: Path, info: dict[str, Any]) -> tuple[Any, Any]:
    """S3 and SQS clients of the stack that runs from `local_dir`, with the keys it generated."""
    from local_stack.emulator import clients

    keys = json.loads((local_dir / "secrets.json").read_text())
    return clients(info["s3_endpoint"], (keys["s3_access_key"], keys["s3_secret_key"]), info["region"])


_MAIL_SETTINGS = (
    "SENDER_ADDRESS",
    "SENDER_NAME",
    "CONFIGURATION_SET",
    "SENDING_RATE_PER_SECOND",
    "UPLOAD_PAGE_URL",
    "VERIFY_PAGE_URL",
    "MAIL_QUEUE_URL",
)


def start(
    local_dir: Path,
    *,
    record_workers: int = 2,
    ports: tuple[int, int] | None = None,
    environment: dict[str, str] | None = None,
    timeout_s: float = 60,
) -> BackgroundStack:
    """`python -m local_stack` in the background on `ports` (API, S3; free ones if not given),
    keeping its state in `local_dir`; returns once it wrote stack.json."""
    api_port, s3_port = ports or (free_port(), free_port())
    env = {
        **os.environ,
        "LOCAL_DIR": str(local_dir),
        "PORT": str(api_port),
        "S3_PORT": str(s3_port),
        "RECORD_WORKERS": str(record_workers),
        "QUEUE_VISIBILITY_TIMEOUT_S": "1",
        **(environment or {}),
    }
    # What the caller set for handlers of its own (a test process) is not the stack's: the stack
    # sets its handlers' environment itself, from a shell that has none of it (`make run`).
    env.pop("DATABASE_URL", None)
    for name in [name for name in env if name.startswith("POWERTOOLS_") and name not in (environment or {})]:
        del env[name]
    # The same for the mail's settings: the stack sends as `make run` does unless told otherwise.
    for name in [name for name in _MAIL_SETTINGS if name in env and name not in (environment or {})]:
        del env[name]
    stack_file = local_dir / "stack.json"
    stack_file.unlink(missing_ok=True)
    log = (local_dir / "terminal.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "local_stack"], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + timeout_s
    while not stack_file.exists():
        if process.poll() is not None:
            raise RuntimeError((local_dir / "terminal.log").read_text())
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local stack did not come up in {timeout_s:.0f} s")
        time.sleep(0.1)
    return BackgroundStack(process, local_dir, json.loads(stack_file.read_text()))
