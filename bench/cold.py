"""cold_init_ms and cold_rss_mb: a fresh python3.13 process imports a handler module and runs its
initialisation (no invocation), as Lambda's init phase does; wall time from spawn to exit.

Laid out as on Lambda: the function's built folder (its app.py compiled at every start, as
Lambda's read-only /var/task does), the built shared layer, and the deps layer built by its own
Makefile for this machine's architecture (Lambda's is arm64), with no other site-packages."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_stack.functions import read_template

ROOT = Path(__file__).resolve().parent.parent
# The interpreter the venv was made from: no site-packages of ours, as on Lambda.
BASE_PYTHON: str = getattr(sys, "_base_executable", sys.executable)
BUILD = ROOT / ".aws-sam" / "build"

_PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""

# What template.yaml's Globals give every function (values are placeholders: init reads none).
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "exam-depository",
    "POWERTOOLS_METRICS_NAMESPACE": "ExamDepository",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:exam-depository-db",
    "BUCKET_NAME": "exam-depository-dev-123456789012-eu-west-1",
    "SUBMISSIONS_PREFIX": "submissions/",
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
}


def functions() -> dict[str, str]:
    """Each function's folder under functions/, with its built folder (its logical id)."""
    template = read_template()
    return dict(
        sorted(
            (Path(props["Properties"]["CodeUri"]).name, name)
            for name, props in template["Resources"].items()
            if props["Type"] == "AWS::Serverless::Function"
        )
    )


def deps_for_this_machine(work: Path) -> Path:
    """The deps layer as layers/deps/Makefile builds it, for this machine's architecture."""
    target = work / f"deps-{platform.machine()}"
    if not (target / "python").is_dir():
        subprocess.run(  # noqa: S603
            [
                shutil.which("make") or "make",
                "-s",
                "-C",
                str(ROOT / "layers/deps"),
                "build-DepsLayer",
                f"ARTIFACTS_DIR={target}",
                f"ARCH={platform.machine()}",
                f"PYTHON={BASE_PYTHON}",
            ],
            check=True,
        )
    return target / "python"


def measure(runs: int, work: Path) -> dict[str, dict[str, Any]]:
    if not BUILD.is_dir():
        raise SystemExit("no .aws-sam/build: run `make build` first (make bench does)")
    layers = f"{BUILD / 'SharedLayer/python'}:{deps_for_this_machine(work)}"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": layers, "PYTHONDONTWRITEBYTECODE": "1", **LAMBDA_ENVIRONMENT}
    results = {}
    for function, folder in functions().items():
        walls, rss = [], []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603
                # -S: no site-packages but the layers, as on Lambda (whose runtime adds only boto3)
                [BASE_PYTHON, "-S", "-c", _PROBE, str(BUILD / folder / "app.py")],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            walls.append((time.perf_counter() - started) * 1000)
            rss.append(int(done.stdout.split()[-1]) / 1024)
        results[function] = {"cold_init_ms": summary(walls), "cold_rss_mb": summary(rss)}
    return results


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(ordered[len(ordered) // 2], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


if __name__ == "__main__":
    print(json.dumps(measure(3, ROOT / ".local" / "bench"), indent=2))
