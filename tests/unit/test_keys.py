"""The local stack's API keys: typed after a command's options and pasted into forms, so never one
that begins with `-` (a command line reads `-H x-api-key -Abc…` or `--api-key -Abc…` as options)."""

from __future__ import annotations

import re
from pathlib import Path

from local_stack.keys import local_secrets, mint

# As API Gateway generates them: 40 letters and digits.
KEY = re.compile(r"^[A-Za-z0-9]{40}$")


def test_no_minted_key_begins_with_a_dash(tmp_path: Path) -> None:
    # A base64url key begins with "-" once in 64: 600 keys would show it all but certainly.
    first_keys = [local_secrets(tmp_path / f"stack-{n}" / "secrets.json")["api_keys"][0]["value"] for n in range(300)]
    minted = [mint(tmp_path / "examiners" / "secrets.json")["value"] for _ in range(300)]

    keys = [*first_keys, *minted]
    assert [key for key in keys if key.startswith("-")] == []
    assert [key for key in keys if not KEY.fullmatch(key)] == []
    assert len(set(keys)) == len(keys)
