"""docs/AUDIT.md's offline verifier, as a reader runs it: the block as written, beside the files it
reads, in a folder of their own (the integration and end-to-end tests run it on real exports)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

RECIPE = re.search(
    r"<!-- the audit recipe:[^\n]*-->\n```python\n(.*?)```", (ROOT / "docs/AUDIT.md").read_text(), re.DOTALL
)


def verify_offline(folder: Path, log: bytes, checkpoint: str, jwks: Any) -> subprocess.CompletedProcess[str]:
    """Run the documented verifier on `audit.csv`, `audit-checkpoint.jwt` and `jwks.json`."""
    assert RECIPE is not None, "docs/AUDIT.md lost its verifier"
    folder.mkdir(exist_ok=True)
    (folder / "verify.py").write_text(RECIPE.group(1))
    (folder / "audit.csv").write_bytes(log)
    (folder / "audit-checkpoint.jwt").write_text(checkpoint)
    (folder / "jwks.json").write_text(json.dumps(jwks))
    return subprocess.run([sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, check=False)
