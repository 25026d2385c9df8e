"""What an examiner or a page may ask of the LTI tool, validated: a platform's registration by
hand, the exam chosen for a deep-linking request, a learner's landing ticket. Apart from
`domain.inputs` so that only the LTI functions load them."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

import re
from typing import Annotated, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from exam_depository.domain.characters import unstorable
from exam_depository.domain.input_model import EXAM_ID_PATTERN, InputModel

# A loopback host, the only one a plain-http URL may name (tests and a local stack; the use case
# refuses even those unless the deployment allows loopback).
_LOOPBACK = re.compile(r"localhost|127(\.\d{1,3}){3}|\[::1\]|[a-z0-9.-]+\.localhost")


def _storable(value: str) -> str:
    """No control character (a NUL no column can hold) in what a platform's settings page shows."""
    if unstorable(value):
        raise ValueError("must not contain control characters")
    return value


def _web_url(value: str) -> str:
    _storable(value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise ValueError("must be an https URL")
    if parts.scheme == "http" and not _LOOPBACK.fullmatch(parts.hostname):
        raise ValueError("must be an https URL")
    return value


def plain_http(url: str) -> bool:
    """Whether a URL is plain http (a loopback one: the validators let no other through)."""
    return urlsplit(url).scheme == "http"


WebUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000), AfterValidator(_web_url)
]
Issuer = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255, pattern=r"^https?://[^\s?#]+$"),
    AfterValidator(_web_url),
]
PlatformId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), AfterValidator(_storable)
]


class RegistrationIn(InputModel):
    """A platform registered by hand: what its LTI 1.3 settings page shows."""

    issuer: Issuer = Field(description="The platform ID (`iss` of its launches).")
    client_id: PlatformId = Field(description="The client ID the platform gave the tool.")
    deployment_ids: Annotated[list[PlatformId], Field(min_length=1, max_length=50)] = Field(
        description="The deployment IDs of the tool's installations on the platform."
    )
    auth_login_url: WebUrl = Field(description="The platform's OIDC authorization endpoint.")
    auth_token_url: WebUrl = Field(description="The platform's OAuth 2 token endpoint.")
    key_set_url: WebUrl = Field(description="The platform's public key set (JWKS) URL.")
    auth_audience: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_storable)
        ]
        | None
    ) = Field(default=None, description="The token endpoint's audience, where it is not its URL (Brightspace).")

    @model_validator(mode="after")
    def _each_deployment_once(self) -> Self:
        if len(set(self.deployment_ids)) != len(self.deployment_ids):
            raise ValueError("deployment_ids must name each deployment once")
        return self

    def uses_plain_http(self) -> bool:
        return any(plain_http(url) for url in (self.issuer, self.auth_login_url, self.auth_token_url, self.key_set_url))


class DeepLinkIn(InputModel):
    """The exam a teacher chose for a course's deep-linking request."""

    request_id: UUID
    exam_id: Annotated[str, StringConstraints(pattern=EXAM_ID_PATTERN)]


class TicketIn(InputModel):
    """A learner's one-time landing ticket (32 random bytes, base64url)."""

    ticket: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]
