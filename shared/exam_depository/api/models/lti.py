"""What the examiners' LTI routes answer: registrations, the dynamic-registration offer, a
deep-linking response, an exam's courses and its roster syncs. The tool's open routes answer with
`lti_tool`'s models, so that the tool's function defines none of these."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from exam_depository.api.models.common import ApiModel


class ToolUrls(ApiModel):
    login_url: str
    launch_url: str
    redirect_uris: list[str]
    deep_linking_url: str
    jwks_url: str
    domain: str


class Registration(ApiModel):
    registration_id: UUID
    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_login_url: str
    auth_token_url: str
    auth_audience: str | None
    key_set_url: str
    how: Literal["manual", "dynamic"]
    platform_name: str | None
    active: bool
    created_at: datetime
    tool: ToolUrls


class Registrations(ApiModel):
    items: list[Registration]


class DynamicOffer(ApiModel):
    registration_url: str = Field(description="One use, to paste into the LMS; shown once.")
    expires_at: datetime


class DeepLinkAnswer(ApiModel):
    return_url: str = Field(description="Where the page posts `JWT` (the platform's deep-linking return).")
    jwt: str


class SyncedName(ApiModel):
    nickname: str
    first_name: str | None = None
    last_name: str | None = None


class SyncReport(ApiModel):
    sync_id: UUID
    link_id: UUID
    course: str | None
    trigger: Literal["console", "schedule"]
    status: Literal["running", "done", "failed"]
    started_at: datetime
    finished_at: datetime | None
    members: int | None = None
    added: list[SyncedName] = Field(default_factory=list)
    left: list[SyncedName] = Field(default_factory=list)
    rejoined: list[SyncedName] = Field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    not_learners: int = 0
    emails_refused: int = 0
    detail: str | None = None


class ExamLink(ApiModel):
    link_id: UUID
    course: str | None
    context_id: str
    deployment_id: str
    platform: str
    line_item: bool
    roster_service: bool
    created_at: datetime
    last_sync: SyncReport | None


class ScoreCounts(ApiModel):
    queued: int
    sending: int
    sent: int
    superseded: int
    failed: int


class ExamLti(ApiModel):
    links: list[ExamLink]
    scores: ScoreCounts


class RosterSynced(ApiModel):
    links: list[SyncReport]
