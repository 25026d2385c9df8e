"""A placeholder until the LTI function lands: the template's routes answer 501."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {
        "statusCode": 501,
        "headers": {"Content-Type": "application/problem+json"},
        "body": '{"type": "about:blank", "title": "Not Implemented", "status": 501}',
    }
