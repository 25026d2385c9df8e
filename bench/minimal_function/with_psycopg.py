"""The minimal function, and psycopg imported beside it: what the driver every function of ours
needs adds to a cold start by itself (make bench prints it beside the cold-init budget)."""

import importlib.util
from pathlib import Path

import psycopg  # noqa: F401  # imported, not used: its import is what is measured

_spec = importlib.util.spec_from_file_location("minimal_function", Path(__file__).with_name("app.py"))
assert _spec is not None
assert _spec.loader is not None
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
