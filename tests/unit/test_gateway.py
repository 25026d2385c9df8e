"""The local gateway answers as API Gateway does when a function fails: 502, never a dropped
connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local_stack.functions import read_template, routes
from local_stack.gateway import Gateway
from local_stack.keys import KeyTable


class _FailingModule:
    def lambda_handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the handler broke")


class _FailingPool:
    @contextmanager
    def instance(self) -> Iterator[_FailingModule]:
        yield _FailingModule()


def test_a_function_that_raises_is_a_502(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = Gateway(routes(read_template()), KeyTable(tmp_path / "secrets.json"), [])
    gateway.pools["serve_pages"] = _FailingPool()  # type: ignore[assignment]

    status, _, body = gateway.handle("GET", "/verify", {}, b"")

    assert (status, body) == (502, b'{"message": "Internal server error"}')
    assert "the handler broke" in capsys.readouterr().err
