"""The local stack's secrets (.local/secrets.json): the emulator's credentials and the examiners'
API keys, each with the id API Gateway would give it. The first key is the stack's own, as the
deployed stack has one; `make examiner-key` mints more (python -m local_stack.keys). And the
sessions' key (`lti_sessions_key`), the one key LMS sessions are metered under: the authorizer
answers it for a session, as the deployed stack's reads it from its secret.

Run as a script it mints a key and prints it; the running gateway sees it at the next request.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_KEY_CHARACTERS = string.ascii_letters + string.digits


def local_secrets(path: Path) -> dict[str, Any]:
    """The secrets, generated on first use; a file of an earlier release (one key, no id) gains one."""
    if path.exists():
        found: dict[str, Any] = json.loads(path.read_text())
    else:
        found = {"s3_access_key": "LOCAL" + secrets.token_hex(8).upper(), "s3_secret_key": secrets.token_urlsafe(30)}
    if "api_keys" not in found:
        first = found.pop("api_key", None) or new_key()
        found["api_keys"] = [{"id": _new_id(), "value": first}]
        _write(path, found)
    if "lti_sessions_key" not in found:
        found["lti_sessions_key"] = {"id": _new_id(), "value": new_key()}
        _write(path, found)
    return found


def mint(path: Path) -> dict[str, str]:
    """A new examiner key (another examiner, or a rotation): appended, returned."""
    found = local_secrets(path)
    key = {"id": _new_id(), "value": new_key()}
    found["api_keys"].append(key)
    _write(path, found)
    return key


def new_key() -> str:
    """A key as API Gateway generates one: 40 letters and digits (238 bits). Never base64url: one
    key in 64 would begin with "-", which a command line takes for an option."""
    return "".join(secrets.choice(_KEY_CHARACTERS) for _ in range(40))


def _new_id() -> str:
    # API Gateway's key ids are 10 lowercase letters and digits.
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))


def _write(path: Path, found: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found, indent=2) + "\n")
    path.chmod(0o600)


class KeyTable:
    """Key value -> key id, read again whenever the secrets file changes (a key minted while the
    stack runs works at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._ids: dict[str, str] = {}

    def key_id(self, value: str) -> str | None:
        with self._lock:
            stamp = self.path.stat().st_mtime
            if stamp != self._stamp:
                found = local_secrets(self.path)
                self._ids = {key["value"]: key["id"] for key in [*found["api_keys"], found["lti_sessions_key"]]}
                self._stamp = stamp
            return self._ids.get(value)


def main() -> None:
    local_dir = Path(os.environ.get("LOCAL_DIR", ROOT / ".local")).resolve()
    key = mint(local_dir / "secrets.json")
    print(f"A new examiner key for the local stack (header x-api-key):\n\n  {key['value']}\n\nits key id: {key['id']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
