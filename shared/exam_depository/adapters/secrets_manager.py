"""Secrets Manager: the database's secret, read through Powertools' cached secrets provider.

The provider is Powertools' own, given the client of `aws.client`: bounded connect and read
timeouts, so that a function in a VPC without a way to Secrets Manager says so within seconds
rather than hanging until its timeout (botocore waits 60 s per try by default). It is kept where
`parameters.get_secret` keeps its default provider, so that Powertools' `clear_caches` (the tests,
SnapStart's restore) forgets it with the values it cached, and it is made again with a new client
after `aws.reset`. A failed read leaves as `ServiceUnavailable`.
"""

from __future__ import annotations

from typing import Any

from exam_depository.adapters import aws
from exam_depository.domain.errors import ServiceUnavailable


def read_json(secret_arn: str, *, region: str, max_age_s: int, fresh: bool = False) -> dict[str, Any]:
    """The secret's JSON: from the cache while it is younger than `max_age_s`, else (and always
    when `fresh`) from Secrets Manager, then cached again."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    # A GetSecretValue takes milliseconds: two short tries fail within about 11 s, inside the
    # functions' Timeout, with Secrets Manager's error in the log.
    client = aws.client(
        "secretsmanager",
        region=region,
        connect_timeout=2,
        read_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 2},
    )
    provider = DEFAULT_PROVIDERS.get("secrets")
    if not isinstance(provider, parameters.SecretsProvider) or provider.client is not client:
        provider = DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=client)
    try:
        secret = provider.get(secret_arn, transform="json", max_age=max_age_s, force_fetch=fresh)
    except parameters.GetParameterError as exc:
        # Powertools' words are botocore's (the error's code and message), never the value.
        raise ServiceUnavailable(
            f"Secrets Manager could not give the database's secret: {exc}", service="Secrets Manager"
        ) from exc
    if not isinstance(secret, dict):
        raise ValueError("the database's secret is not a JSON object")
    return secret
