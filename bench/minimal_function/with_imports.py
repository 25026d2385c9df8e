"""The floor of a function's cold start: the minimal function, then every third-party module the
function has loaded when its init ends (BENCH_FLOOR_IMPORTS, in the order it loaded them), and
the AWS clients it has made by then (BENCH_FLOOR_CLIENTS), made as our factory makes them.
bench.cold finds both in the function's own init and starts this beside it."""

import importlib
import importlib.util
import os
from pathlib import Path

_spec = importlib.util.spec_from_file_location("minimal_function", Path(__file__).with_name("app.py"))
assert _spec is not None
assert _spec.loader is not None
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))

for _name in filter(None, os.environ.get("BENCH_FLOOR_IMPORTS", "").split(",")):
    importlib.import_module(_name)

_services = list(filter(None, os.environ.get("BENCH_FLOOR_CLIENTS", "").split(",")))
if _services:
    import boto3
    from botocore.config import Config

    for _service in _services:
        boto3.client(_service, region_name=os.environ["AWS_REGION"], config=Config(retries={"mode": "standard"}))  # type: ignore[call-overload]
