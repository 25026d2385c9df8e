"""After `sam build`: what the layers must hold to run well on Lambda (python3.13, arm64).

- every native library is aarch64: without BuildArchitecture a layer is silently x86_64;
- every module has bytecode compiled with unchecked-hash: without it each cold start compiles
  its imports again, and timestamp-checked bytecode goes stale in SAM's zip (dates reset).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parent.parent / ".aws-sam" / "build"
UNCHECKED_HASH = 1  # PEP 552 flags: hash-based, source not checked


def main() -> int:
    problems = []
    for library in BUILD.rglob("*.so"):
        kind = subprocess.run(["file", "-b", str(library)], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
        if "ARM aarch64" not in kind:
            problems.append(f"{library.relative_to(BUILD)} is not arm64: {kind.strip()}")
    modules = [path for layer in BUILD.glob("*Layer") for path in (layer / "python").rglob("*.py")]
    for module in modules:
        compiled = module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc"
        if not compiled.exists():
            problems.append(f"{module.relative_to(BUILD)} has no bytecode")
        elif int.from_bytes(compiled.read_bytes()[4:8], "little") != UNCHECKED_HASH:
            problems.append(f"{compiled.relative_to(BUILD)} is not unchecked-hash bytecode")
    for problem in problems[:20]:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"layers ok: every native library is arm64; {len(modules)} modules have unchecked-hash bytecode")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
