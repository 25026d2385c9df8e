"""The bench starts its handlers with the keys the functions' environment names: `make bench` died
at its start when the LMS sessions' key was added to that environment and not to the bench's keys."""

from __future__ import annotations

import os

import pytest

from bench.environment import bench_keys
from local_stack.functions import handler_environment


def test_the_benchs_keys_give_the_functions_their_whole_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # what it sets stays in this test
    keys = bench_keys()
    handler_environment("postgresql://bench@127.0.0.1/bench", "http://127.0.0.1:9", "bench", "eu-west-1", keys)
    assert os.environ["LTI_SESSIONS_KEY"] == keys["lti_sessions_key"]["value"]
    assert os.environ["AWS_ACCESS_KEY_ID"] == keys["s3_access_key"]
