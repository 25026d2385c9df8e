"""The Powertools objects every function shares: configured by POWERTOOLS_* environment values.

No Powertools Tracer: its aws-xray-sdk loads botocore at import and cost about 150 ms of every
cold start (docs/COST.md, make bench). Lambda's active tracing still records each invocation.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics"]
