"""docs/RECEIPTS.md's offline recipe, run exactly as written: it prints the claims of a genuine
receipt and refuses a changed one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.integration.conftest import Api, Bucket

RECIPE = re.search(
    r"<!-- the receipt recipe:[^\n]*-->\n```python\n(.*?)```", (ROOT / "docs/RECEIPTS.md").read_text(), re.DOTALL
)


def test_the_documented_offline_recipe_verifies_a_receipt_and_refuses_a_changed_one(
    api: Api, bucket: Bucket, record: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    assert RECIPE is not None, "docs/RECEIPTS.md lost its recipe"
    student = api.create_student()
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"%PDF")
    record(bucket.notification(form["fields"]["key"], 4))
    receipt = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]["receipt"]
    (tmp_path / "jwks.json").write_text(json.dumps(api.call("get_jwks", "keys").body))
    (tmp_path / "recipe.py").write_text(RECIPE.group(1))

    def run(text: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "receipt.jwt").write_text(text + "\n")  # as the page saves it
        return subprocess.run([sys.executable, "recipe.py"], cwd=tmp_path, capture_output=True, text=True, check=False)

    genuine = run(receipt)
    header, claims, signature = receipt.split(".")
    changed = run(f"{header}.{claims[:-2]}{'A' if claims[-2] != 'A' else 'B'}{claims[-1]}.{signature}")

    assert genuine.returncode == 0, genuine.stderr
    assert json.loads(genuine.stdout)["nickname"] == "mobrien"
    assert changed.returncode == 1
    assert changed.stderr.startswith("not a genuine receipt")
