"""The LTI tool's settings, read by the LTI adapters, use cases and functions alone: apart from
`config`, which every function loads, so that a function without LTI does not define them (a
settings model costs 0.3-0.5 ms of a cold start)."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import.

from pydantic import Field, field_validator

from exam_depository.config import EnvSettings


class LtiSettings(EnvSettings):
    """The LTI tool's (template.yaml's LtiToolKeyId, LtiPreviousToolKeyIds, LtiSessionHours,
    LtiRosterSyncHours, PublicBaseUrl, LtiAllowLoopback): its signing keys in KMS, how long a
    teacher's session lives, where its jobs wait, how often a course's class list is read again."""

    # The tool's RSA key (RS256) in KMS; the earlier ones are still published in the key set while
    # platforms may hold tokens or keys signed with them (a rotation).
    tool_key_id: str = Field(default="", alias="LTI_TOOL_KEY_ID")
    previous_tool_key_ids: tuple[str, ...] = Field(default=(), alias="LTI_TOOL_PREVIOUS_KEY_IDS")
    # The ECC key that signs the sessions a launch hands to a teacher's console.
    session_key_id: str = Field(default="", alias="LTI_SESSION_KEY_ID")
    session_hours: int = Field(default=4, alias="LTI_SESSION_HOURS", ge=1, le=12)
    jobs_queue_url: str | None = Field(default=None, alias="LTI_JOBS_QUEUE_URL", min_length=1)
    region: str | None = Field(default=None, alias="AWS_REGION", min_length=1)
    # http and loopback addresses for the platform's URLs: the tests' platform on 127.0.0.1 only.
    allow_loopback: bool = Field(default=False, alias="LTI_ALLOW_LOOPBACK")
    # The tool's address when not the API's own (a custom domain); empty: from the request.
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL", pattern=r"^(https?://[^\s?#]+[^/\s?#])?$")
    roster_sync_hours: int = Field(default=6, alias="LTI_ROSTER_SYNC_HOURS", ge=1, le=168)

    @field_validator("previous_tool_key_ids", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("jobs_queue_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
