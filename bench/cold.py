"""cold_cpu_ms, cold_init_ms and cold_rss_mb: a fresh python3.13 process imports a handler
module and runs its initialisation (no invocation), as Lambda's init phase does; its CPU time,
its wall time from spawn to exit, and its peak RSS, beside the minimal function's
(bench/minimal_function: Powertools' Logger and REST resolver, pydantic, nothing of ours).

The budget's floor is the slowest function's own: the minimal function plus every third-party
module the function has imported when its init ends (each module outside the standard library,
our shared layer and the function's folder, imported by name in the order the function loaded
it) and the AWS clients it has created by then (bench/minimal_function/with_imports.py). What is
left between them is ours: our modules' own code, and what of the standard library they import.
Our modules' own import time (-X importtime, self, with the function's third-party modules loaded
first, so that none of theirs is counted as ours) is printed, with its share of the init's.

Laid out as on Lambda: the function's built folder (its app.py compiled at every start, as
Lambda's read-only /var/task does), the built shared layer, and the deps layer built by its own
Makefile for this machine's architecture (Lambda's is arm64), with no other site-packages."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_stack.functions import read_template

MINIMAL_FUNCTION = Path(__file__).resolve().parent / "minimal_function" / "app.py"
MINIMAL_WITH_IMPORTS = MINIMAL_FUNCTION.with_name("with_imports.py")
MINIMAL = "(minimal function)"
OWN_PACKAGE = "exam_depository"

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


# What a function has loaded when its init ends: the third-party modules (in the order they were
# loaded) and the AWS clients our factory made.
_LOADED = """
import importlib.util, json, sys, sysconfig
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
ours = (sysconfig.get_paths()["stdlib"], sys.argv[2], sys.argv[3])
third_party = [
    name for name, loaded in list(sys.modules.items())
    if getattr(loaded, "__file__", None) and not loaded.__file__.startswith(ours)
]
factory = sys.modules.get("exam_depository.adapters.aws")
print(json.dumps({"modules": third_party, "clients": sorted(getattr(factory, "_clients", {}))}))
"""


def _spawn(app: Path, env: dict[str, str], *extra: str, probe: str = _PROBE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        # -S: no site-packages but the layers, as on Lambda (whose runtime adds only boto3)
        [BASE_PYTHON, "-S", *extra, "-c", probe, str(app)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def _cold_start(app: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """One init: wall ms, CPU ms (user + system of the child) and peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = _spawn(app, env)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, int(done.stdout.split()[-1]) / 1024


# The probe with the function's third-party modules imported first (BENCH_PRELOAD, in the order
# the function loaded them): what -X importtime then shows of ours is our code's own. Without it, a
# third-party module loaded by importlib.import_module (pydantic loads pydantic.main so, on first
# use of BaseModel), which -X importtime does not time apart, is added to the self time of
# whichever of our modules first touched it.
_PROBE_PRELOADED = (
    """
import importlib, os
for name in filter(None, os.environ.get("BENCH_PRELOAD", "").split(",")):
    importlib.import_module(name)
"""
    + _PROBE
)


def import_times(app: Path, env: dict[str, str], probe: str = _PROBE) -> list[dict[str, Any]]:
    """Each module's own import time (-X importtime, self, ms) in one start."""
    lines = _spawn(app, env, "-X", "importtime", probe=probe).stderr.splitlines()
    rows: list[dict[str, Any]] = []
    for line in lines:
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|", 2)
            rows.append({"module": name.strip(), "self_ms": int(own) / 1000})
    return rows


def own_imports(app: Path, env: dict[str, str], third_party: list[str], starts: int = 5) -> dict[str, Any]:
    """Our modules' own import time (measured with the function's `third_party` modules loaded
    first, so that none of theirs is counted as ours) beside all modules' in a plain start (the
    init is nearly all imports): the medians of `starts` starts each, and the five largest of ours
    in the median start."""
    preloaded = env | {"BENCH_PRELOAD": ",".join(third_party)}
    found = []
    for _ in range(starts):
        rows = import_times(app, preloaded, _PROBE_PRELOADED)
        ours = [row for row in rows if row["module"].split(".")[0] in (OWN_PACKAGE, "app")]
        found.append((sum(row["self_ms"] for row in ours), ours))
    own_ms, ours = sorted(found, key=lambda start: start[0])[starts // 2]
    all_ms = sorted(sum(row["self_ms"] for row in import_times(app, env)) for _ in range(starts))[starts // 2]
    top = sorted(ours, key=lambda row: row["self_ms"], reverse=True)[:5]
    return {
        "own_ms": round(own_ms, 1),
        "all_imports_ms": round(all_ms, 1),
        "share": round(own_ms / all_ms, 3),
        "top": [{"module": row["module"], "self_ms": round(row["self_ms"], 1)} for row in top],
    }


def loaded_at_init(app: Path, env: dict[str, str], own_layer: Path) -> dict[str, list[str]]:
    """The third-party modules and AWS clients `app` has when its init ends."""
    done = subprocess.run(  # noqa: S603
        [BASE_PYTHON, "-S", "-c", _LOADED, str(app), str(own_layer), str(app.parent)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def measure(runs: int, work: Path) -> dict[str, Any]:
    """Each function's init beside the minimal function's, interleaved run by run so that both
    see the same moments of a shared machine; CPU time is the figure (wall time waits for other
    processes), and the ratio is function / minimal."""
    if not BUILD.is_dir():
        raise SystemExit("no .aws-sam/build: run `make build` first (make bench does)")
    layers = f"{BUILD / 'SharedLayer/python'}:{deps_for_this_machine(work)}"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": layers, "PYTHONDONTWRITEBYTECODE": "1", **LAMBDA_ENVIRONMENT}
    apps = {function: BUILD / folder / "app.py" for function, folder in functions().items()}
    apps[MINIMAL] = MINIMAL_FUNCTION
    results = _interleaved(apps, env, runs)
    floor = results[MINIMAL]["cold_cpu_ms"]["median"]
    for figures_of in results.values():
        figures_of["ratio"] = round(figures_of["cold_cpu_ms"]["median"] / floor, 2)
    slowest = max((name for name in apps if name != MINIMAL), key=lambda name: float(results[name]["ratio"]))
    # The slowest function again, beside the minimal function with its third-party imports and
    # clients, interleaved run by run.
    loaded = loaded_at_init(apps[slowest], env, BUILD / "SharedLayer" / "python")
    floor_env = env | {
        "BENCH_FLOOR_IMPORTS": ",".join(loaded["modules"]),
        "BENCH_FLOOR_CLIENTS": ",".join(loaded["clients"]),
    }
    pair = _interleaved({slowest: apps[slowest], "floor": MINIMAL_WITH_IMPORTS}, env, runs, {"floor": floor_env})
    return {
        "functions": results,
        "slowest": slowest,
        "slowest_again": pair[slowest],
        "floor": pair["floor"] | {"third_party_modules": len(loaded["modules"]), "clients": loaded["clients"]},
        "ratio": round(pair[slowest]["cold_cpu_ms"]["median"] / pair["floor"]["cold_cpu_ms"]["median"], 2),
        "own_imports": own_imports(apps[slowest], env, loaded["modules"]),
    }


def _interleaved(
    apps: dict[str, Path], env: dict[str, str], runs: int, envs: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    """Each app started `runs` times, one after another in turn, so that all see the same moments."""
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in apps}
    for _ in range(runs):
        for name, app in apps.items():
            figures[name].append(_cold_start(app, (envs or {}).get(name, env)))
    return {
        name: {
            "cold_init_ms": summary([wall for wall, _, _ in runs_of]),
            "cold_cpu_ms": summary([cpu for _, cpu, _ in runs_of]),
            "cold_rss_mb": summary([rss for _, _, rss in runs_of]),
        }
        for name, runs_of in figures.items()
    }


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
