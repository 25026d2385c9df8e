"""AWS: the one lazy boto3 client factory the S3, KMS and SQS adapters share, and the errors
their calls fail with.

A client is created on first use, not at import: boto3 and botocore load then, and a function
that never calls AWS never pays for them at cold start. It is kept by the execution environment;
`reset` forgets every client (tests, after they change the environment).
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_creating = threading.Lock()  # the recorder's reading threads may ask for the S3 client at once


def client(
    service: str,
    *,
    region: str,
    read_timeout: float,
    endpoint_url: str | None = None,
    name: str | None = None,
    **config: Any,
) -> Any:
    """The client of `service`, made once: standard retries (3 tries), and a call to an
    unreachable endpoint fails in seconds, not after botocore's 60 s default. `config` adds
    botocore Config arguments, or replaces these. Without `endpoint_url` the SDK reads
    AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL itself (an emulator's; Lambda never sets them).
    `name` keeps a second client of the same service with other settings apart (a call that must
    not wait or retry beside the service's usual client)."""
    key = name or service
    found = _clients.get(key)
    if found is None:
        with _creating:
            found = _clients.get(key)
            if found is None:
                import boto3
                from botocore.config import Config

                options: dict[str, Any] = {
                    "retries": {"mode": "standard", "max_attempts": 3},
                    "connect_timeout": 3,
                    "read_timeout": read_timeout,
                } | config

                found = _clients[key] = boto3.client(
                    service,  # type: ignore[call-overload]  # the service is one of ours, named by its adapter
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=Config(**options),
                )
    return found


def failures() -> tuple[type[Exception], ...]:
    """What a call to AWS raises when it fails: an error answer (ClientError) or no answer at
    all (BotoCoreError: the network, the endpoint). Imported when first needed, like boto3."""
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


def reset() -> None:
    """Forget every client (tests; after the environment changed)."""
    _clients.clear()
