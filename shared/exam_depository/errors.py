"""The domain's exceptions. `http.py` maps each of them to one problem+json response."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client may be told about. `detail` is safe to show to a client."""

    title = "Error"

    def __init__(self, detail: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class LimitReached(DomainError):
    title = "No attempts left"


class TooManyOpenForms(DomainError):
    title = "Too many open upload forms"


class Gone(DomainError):
    title = "Gone"


class InvalidInput(DomainError):
    title = "Invalid input"


class PayloadTooLarge(DomainError):
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    title = "Unsupported media type"


class ServiceUnavailable(Exception):
    """An outside system (PostgreSQL, S3) failed; the request may succeed if retried.

    Not a DomainError: its message is for the logs, never for the client.
    """
