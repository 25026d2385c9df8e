"""template.yaml deployed into MiniStack (`python -m scripts.deploy_local up`), once for the suite,
and deleted at the end (`down`), which must leave no process behind. DEPLOYED_JSON=path runs the
suite against a deployment that `make deploy-local` left running instead (and leaves it).

While the suite runs, a thread samples the resident memory of MiniStack and its Lambda workers:
its peak is printed with the other figures at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from local_stack import background
from local_stack.client import ApiClient
from scripts import deploy_local
from tests.conftest import FIGURES, ROOT
from tests.deployed.rotation import ClusterCredentials
from tests.e2e.conftest import EXAM, Stack


class Deployed(Stack):
    """The deployment, reached as its users and its operator reach it: the one API client, S3 and
    SQS clients with the operator's credentials, and the ops targets of the Makefile."""

    def __init__(self, info: dict[str, Any]) -> None:
        ApiClient.__init__(self, info["api_url"], info["api_key"])
        self.info = info
        self.bucket = info["bucket"]
        self.local_dir = Path(info["state_dir"]).parent
        self.port = int(info["endpoint"].rsplit(":", 1)[1])
        self.operator = json.loads(Path(info["secrets_file"]).read_text())["operator"]
        self.s3, self.sqs = self.client("s3"), self.client("sqs")

    def client(self, service: str, credentials: dict[str, str] | None = None) -> Any:
        """A boto3 client of the emulator: the operator's, or one with `credentials` (a role's)."""
        import boto3
        from botocore.config import Config

        given = credentials or {
            "AWS_ACCESS_KEY_ID": self.operator["key"],
            "AWS_SECRET_ACCESS_KEY": self.operator["secret"],
        }
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.info["endpoint"],
            region_name=self.info["region"],
            aws_access_key_id=given["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=given["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=given.get("AWS_SESSION_TOKEN"),
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def make(self, target: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """An ops target of the Makefile, run against this deployment as against AWS (no LOCAL=1)."""
        env = deploy_local.operator_environment(self.port, deploy_local.local_tls(), self.operator)
        command = [
            "make",
            "--no-print-directory",
            target,
            f"STACK={self.info['stack']}",
            f"REGION={self.info['region']}",
        ]
        command += [f"{name}={value}" for name, value in variables.items()]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def ministack(self) -> psutil.Process:
        ready = json.loads((Path(self.info["state_dir"]) / "holder-ready.json").read_text())
        return psutil.Process(int(ready["ministack_pid"]))

    def database(self) -> ClusterCredentials:
        """The created database's credentials as its operator reaches them (rotation.py)."""
        assert self.info["database_created"], "this deployment was given its database"
        return ClusterCredentials(
            rds=self.client("rds"),
            secretsmanager=self.client("secretsmanager"),
            cluster=self.info["database_cluster"],
            secret_arn=self.info["database_secret_arn"],
            postgres_socket=self.info["postgres_socket"],
        )

    def physical_id(self, logical_id: str) -> str:
        cloudformation = self.client("cloudformation")
        found = cloudformation.describe_stack_resource(StackName=self.info["stack"], LogicalResourceId=logical_id)
        return str(found["StackResourceDetail"]["PhysicalResourceId"])


class MemorySampler(threading.Thread):
    """Peak resident memory of a process and all its descendants, sampled twice a second."""

    def __init__(self, root: psutil.Process) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.root = root
        self.peak_bytes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    given = os.environ.get("DEPLOYED_JSON")
    local_dir = Path(given).parent if given else tmp_path_factory.mktemp("deploy-local")
    started = time.monotonic()
    if not given:
        command = [sys.executable, "-m", "scripts.deploy_local", "up", "--local-dir", str(local_dir)]
        command += ["--port", str(background.free_port())]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-8000:]
    try:
        info = json.loads((local_dir / "deployed.json").read_text())
        if not given:
            up_seconds = round(time.monotonic() - started)
            FIGURES["deploy-local: up, seconds (start, sam build, sam deploy with the migrations)"] = up_seconds
            FIGURES["deploy-local: sam deploy, seconds"] = round(info["deploy_seconds"])
        # Every HTTPS client of this process trusts the local CA (this machine sets the variables globally).
        saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")}
        os.environ.update({"REQUESTS_CA_BUNDLE": info["ca_bundle"], "AWS_CA_BUNDLE": info["ca_bundle"]})
        deployment = Deployed(info)
        ministack = deployment.ministack()
        holder = ministack.parent()
        assert holder is not None
        started_processes = [holder, *holder.children(recursive=True)]
        sampler = MemorySampler(ministack)
        sampler.start()
        suite_started = time.monotonic()
        if deployment.exam(EXAM).status_code == 404:  # a deployment given by DEPLOYED_JSON may have it
            deployment.create_exam(EXAM, due_in_s=6 * 3600, title="Deployed tests")
    except BaseException:
        if not given:  # a setup that fails after the deploy leaves nothing running either
            _down(local_dir)
        raise
    yield deployment

    try:
        sampler.done.set()
        sampler.join(5)
        FIGURES["deploy-local: the deployed suite, seconds"] = round(time.monotonic() - suite_started)
        FIGURES["deploy-local: peak RSS of MiniStack and its Lambda workers, MB"] = sampler.peak_bytes // 2**20
        # The database's password as it is now (the suite rotated it), read while the CA is trusted.
        password = deployment.database().secret()["password"] if info.get("database_created") else None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # Whatever failed above, the deployment goes: a failed check must leave nothing running.
        down = None if given else _down(local_dir)
    logs = "\n".join(
        (Path(info["state_dir"]) / name).read_text(errors="replace")
        for name in ("ministack.log", "holder.log", "postgres.log")
    )
    assert info["api_key"] not in logs, "the emulator's log shows the API key"
    assert password is None or password not in logs, "a log shows the database's password"
    if down is None:
        return
    assert down.returncode == 0, down.stdout + down.stderr
    assert "sam delete" in down.stderr
    time.sleep(0.5)
    left = [p for p in started_processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"left running after deploy-local down: {left}"
    assert not (local_dir / "deployed.json").exists()


def _down(local_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.deploy_local", "down", "--local-dir", str(local_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def stack(deployed: Deployed) -> Stack:
    """The e2e tests reused here (test_reused.py) ask for `stack`: this deployment."""
    return deployed
