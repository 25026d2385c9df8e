"""The bench sets the handlers' environment after its own imports and before it loads them; the
product's observability, imported earlier, would keep the empty one it found (Powertools'
metrics read their namespace when made, and an invocation that emits a metric then fails)."""

import subprocess
import sys


def test_importing_the_bench_loads_no_product_module_that_reads_the_environment() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bench.__main__; print('exam_depository.observability' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "False"
