"""package_kb: what `sam build` produced for each function and layer, unzipped and zipped."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"


def measure() -> dict[str, dict[str, int]]:
    if not BUILD.is_dir():
        raise SystemExit("no .aws-sam/build: run `make build` first (make bench does)")
    sizes = {}
    for artefact in sorted(path for path in BUILD.iterdir() if path.is_dir()):
        files = [path for path in artefact.rglob("*") if path.is_file()]
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(artefact))
        sizes[artefact.name] = {
            "unzipped_kb": sum(path.stat().st_size for path in files) // 1024,
            "zipped_kb": len(zipped.getvalue()) // 1024,
            "files": len(files),
        }
    return sizes
