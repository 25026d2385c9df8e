"""cold_init_ms and cold_rss_mb: a fresh python3.13 process imports a handler module and runs its
initialisation (no invocation), as Lambda's init phase does; wall time from spawn to exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

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


def functions() -> list[str]:
    return sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


def measure(runs: int) -> dict[str, dict[str, Any]]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "shared"), **LAMBDA_ENVIRONMENT}
    results = {}
    for function in functions():
        walls, rss = [], []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603
                [sys.executable, "-c", _PROBE, str(ROOT / "functions" / function / "app.py")],
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
    print(json.dumps(measure(3), indent=2))
