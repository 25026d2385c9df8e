"""The local stack, started once for the e2e tests (`python -m local_stack`) and stopped at the end."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests
from exam_depository.codes import display

from local_stack import background
from tests.conftest import ROOT


class Stack:
    def __init__(self, info: dict[str, Any], local_dir: Path) -> None:
        self.api = info["api_url"]
        self.key = info["api_key"]
        self.bucket = info["bucket"]
        self.info = info
        self.local_dir = local_dir
        self.s3, self.sqs = background.stack_clients(local_dir, info)

    def create_student(self, nickname: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.api}/students",
            json={"nickname": nickname, "first_name": "Zoë", "last_name": "O'Brien"},
            headers={"x-api-key": self.key},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def presign(self, upload_code: str, filename: str = "answers.pdf") -> requests.Response:
        return requests.post(
            f"{self.api}/submissions/{upload_code}",
            json={"filename": filename, "content_type": "application/pdf"},
            timeout=10,
        )

    @staticmethod
    def post_form(form: dict[str, Any], content: bytes, fields: dict[str, str] | None = None) -> requests.Response:
        """What a browser does: every field, then the file last, as multipart/form-data."""
        return requests.post(
            form["url"],
            data=fields if fields is not None else form["fields"],
            files={"file": ("answers.pdf", content, "application/pdf")},
            timeout=30,
        )

    def progress(self, upload_code: str) -> dict[str, Any]:
        response = requests.get(f"{self.api}/submissions/{upload_code}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_until_settled(self, upload_code: str, upload_id: str, timeout: float = 15) -> dict[str, Any]:
        """Poll as the upload page does until the upload is recorded or rejected."""
        deadline = time.monotonic() + timeout
        while True:
            progress = self.progress(upload_code)
            state = next(u for u in progress["uploads"] if u["upload_id"] == upload_id)
            if state["status"] != "pending":
                return progress
            assert time.monotonic() < deadline, f"upload {upload_id} still pending"
            time.sleep(0.2)

    def make(self, target: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """An ops target of the Makefile, run against this stack as a person would."""
        env = {**os.environ, "LOCAL_DIR": str(self.local_dir), **variables}
        command = ["make", "--no-print-directory", target, "LOCAL=1"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def object_keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", []))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = background.start(tmp_path_factory.mktemp("local"), record_workers=4)
    children = psutil.Process(running.process.pid).children(recursive=True)
    postgres_pid = int((running.local_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    started = [*children, psutil.Process(postgres_pid)]

    yield Stack(running.info, running.local_dir)

    leaks = _secrets_in_logs(running.info, running.local_dir)
    # Ctrl-C stops every process the stack started.
    assert running.stop() == 0
    time.sleep(0.5)
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"left running after Ctrl-C: {left}"
    assert leaks == [], "the logs show a secret"


def _secrets_in_logs(info: dict[str, Any], local_dir: Path) -> list[str]:
    """The logs the stack wrote during the session (handlers, access log, emulator), searched for
    the API key and for every upload and verification code the tests made, in either form."""
    with psycopg.connect(info["database_url"]) as conn:
        made = conn.execute("SELECT upload_code FROM student UNION ALL SELECT verification_code FROM submission")
        codes = [row[0] for row in made]
    assert codes, "the e2e tests made codes"
    secrets = [info["api_key"], *codes, *(display(code) for code in codes)]
    # The terminal shows the local key in the start-up banner, on purpose: its access log lines count.
    access = [line for line in (local_dir / "terminal.log").read_text().splitlines() if line.startswith("127.0.0.1 ")]
    assert access, "the access log was written"
    files = [(local_dir / name).read_text(errors="replace") for name in ("stack.log", "ministack.log")]
    logs = "\n".join([*files, *access]).upper()
    return [secret[:4] + "…" for secret in secrets if secret.upper() in logs]
