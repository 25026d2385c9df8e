"""Typed settings read from the environment once per cold start (`load` caches per class).

Here are the settings most functions read. Those of one outside system or one job live beside the
code that reads them, as subclasses of `EnvSettings`: `adapters.signing.SigningSettings`,
`adapters.queues.ExportQueueSettings` and `RedeliverySettings`, `adapters.scheduler.WakeSettings`,
`usecases.expiry.AuditSettings`, `adapters.lti_settings.LtiSettings`. A pydantic model costs about
0.2-0.4 ms of every cold start that loads its module, and every function loads this one."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

import functools
import os
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_UPLOAD_BYTES = 3 * 1024 * 1024
# An exam's question paper (one PDF, uploaded by its examiner).
MAX_PAPER_BYTES = 20 * 1024 * 1024


class EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)


class DatabaseSettings(EnvSettings):
    """Where PostgreSQL is: a Secrets Manager secret (deployed) or a URL (local stack, tests).

    The secret holds the credentials: `username` and `password`, alone as in the master secret
    RDS manages and rotates, or in the full RDS format (`host`, `port`, `dbname`, optionally
    `sslmode`). DB_HOST, DB_PORT and DB_NAME say where the database is when the secret does not,
    and win over it when both do; an empty one is unset (a template parameter left at ""). What
    neither gives is PostgreSQL's port 5432 and database "postgres"; a host is required.
    """

    secret_arn: str | None = Field(default=None, alias="DB_SECRET_ARN")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    host: str | None = Field(default=None, alias="DB_HOST", min_length=1)  # a name, an address or a socket directory
    port: int | None = Field(default=None, alias="DB_PORT", ge=1, le=65535)
    dbname: str | None = Field(default=None, alias="DB_NAME", min_length=1)
    # Where Secrets Manager is called (Lambda sets it); only with DB_SECRET_ARN.
    region: str | None = Field(default=None, alias="AWS_REGION", min_length=1)
    connect_timeout_s: int = Field(default=15, alias="DB_CONNECT_TIMEOUT_S", ge=1, le=60)
    # How long a function keeps trying to connect when PostgreSQL is full (every connection it
    # allows is taken) or does not answer yet (a paused Aurora resumes in 15 to 30 s), before it
    # answers 503 with Retry-After. The default is the API functions': below their Timeout with
    # room for the work, and below API Gateway's 29 s integration timeout. The wake function waits
    # longer, through a whole resume, within its own Timeout (60 s): hence the bound.
    # tests/unit/test_template.py holds each function's wait below its Timeout.
    connect_wait_s: float = Field(default=10, alias="DB_CONNECT_WAIT_S", ge=0, le=55)
    secret_max_age_s: int = Field(default=300, alias="DB_SECRET_MAX_AGE_S", ge=0)
    # Server-side prepared statements (a statement run 5 times on a connection is planned once:
    # half the time of a route's query). Off behind a transaction-mode pooler (PgBouncer before
    # 1.21) or RDS Proxy, where they fail or pin the connection.
    prepared_statements: bool = Field(default=True, alias="DB_PREPARED_STATEMENTS")

    @field_validator("host", "port", "dbname", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.secret_arn is None) == (self.database_url is None):
            raise ValueError("set exactly one of DB_SECRET_ARN or DATABASE_URL")
        if self.secret_arn is not None and self.region is None:
            raise ValueError("DB_SECRET_ARN needs AWS_REGION (where Secrets Manager is called)")
        return self


class StorageSettings(EnvSettings):
    bucket: str = Field(alias="BUCKET_NAME", min_length=3)
    prefix: str = Field(default="submissions/", alias="SUBMISSIONS_PREFIX", pattern=r"^[a-z0-9-]+/$")
    # The exams' question papers: the bucket's second notification, to the same recorder.
    papers_prefix: str = Field(default="papers/", alias="PAPERS_PREFIX", pattern=r"^[a-z0-9-]+/$")
    region: str = Field(alias="AWS_REGION", min_length=1)
    # The standard variables of the AWS SDKs, set only off AWS (an emulator; Lambda never sets
    # them): boto3 then needs path-style URLs on 127.0.0.1.
    s3_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL_S3")
    any_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")

    @property
    def endpoint_url(self) -> str | None:
        return self.s3_endpoint_url or self.any_endpoint_url


class ExportSettings(EnvSettings):
    """Where exports are kept, for how long, and how long a link to one lives."""

    prefix: str = Field(default="exports/", alias="EXPORTS_PREFIX", pattern=r"^[a-z0-9-]+/$")
    # An export's ZIP is kept a day (the bucket's lifecycle rule deletes it); its link is made
    # fresh at each request: one signed by a Lambda role lasts no longer than its credentials.
    retention_hours: int = Field(default=24, alias="EXPORT_RETENTION_HOURS", ge=1, le=168)
    link_ttl_s: int = Field(default=3600, alias="EXPORT_LINK_TTL_S", ge=60, le=43200)


class RulesSettings(EnvSettings):
    """The tunable rules of the product; the defaults are the documented behaviour."""

    # The one source of the retention: template.yaml's RetentionDays parameter, which also sets
    # the bucket's lifecycle rule (a test ties them).
    retention_days: int = Field(alias="RETENTION_DAYS", ge=1, le=30)
    # The longest an exam's window may be, from its opening to the last cut-off: template.yaml's
    # MaxWindowDays, from which the lifecycle rule is derived with the retention, so that S3's
    # deletion never comes before ours (rules.window_refusal).
    max_window_days: int = Field(alias="MAX_WINDOW_DAYS", ge=1, le=366)
    upload_form_ttl_s: int = Field(default=600, alias="UPLOAD_FORM_TTL_S", ge=60, le=3600)
    # Unused forms a student may hold at once: each is a row, and an upload code is no password.
    max_open_forms: int = Field(default=10, alias="MAX_OPEN_FORMS", ge=1, le=100)
    download_url_ttl_s: int = Field(default=300, alias="DOWNLOAD_URL_TTL_S", ge=10, le=300)
    # The examiner's form for a question paper: never past the exam's opening either.
    paper_form_ttl_s: int = Field(default=3600, alias="PAPER_FORM_TTL_S", ge=60, le=3600)
    # A student's link to the paper: short, since it is a bearer link; never past their cut-off.
    paper_link_ttl_s: int = Field(default=60, alias="PAPER_LINK_TTL_S", ge=10, le=300)
    # Unused paper forms an exam may have at once (each a row).
    max_open_paper_forms: int = Field(default=5, alias="MAX_OPEN_PAPER_FORMS", ge=1, le=20)
    # How long the reconcile job leaves new things alone: a notification may still be queued,
    # an upload that began just before its form expired may still be arriving.
    reconcile_grace_s: int = Field(default=900, alias="RECONCILE_GRACE_S", ge=0)
    # How long an invitation to an exam's members can be redeemed: a week, as long as a code in a
    # message stays worth trusting.
    invitation_ttl_hours: int = Field(default=168, alias="INVITATION_TTL_HOURS", ge=1, le=720)


class ScanSettings(EnvSettings):
    """Whether the bucket's submissions are scanned for malware (template.yaml's MalwareScanning,
    GuardDuty or External: `on`; Off: `off`). On, a new submission is recorded `scanning` and may
    be downloaded once its result is clean; off, it is recorded unscanned (`scan` null) and served
    as before scanning existed."""

    enabled: bool = Field(default=False, alias="MALWARE_SCANNING")

    @field_validator("enabled", mode="before")
    @classmethod
    def _on_or_off(cls, value: object) -> object:
        if value not in ("on", "off", True, False):
            raise ValueError("MALWARE_SCANNING must be on or off")
        return value in ("on", True)


class MailSettings(EnvSettings):
    """Whether the product sends email, from whom, how fast, and where its messages wait
    (template.yaml's SenderAddress, SenderName, ConfigurationSetName, SendingRatePerSecond,
    UploadPageUrl). An empty SENDER_ADDRESS means no mail: nothing is queued or sent. The pages'
    addresses are the sender's alone (the links in its messages)."""

    sender_address: str = Field(default="", alias="SENDER_ADDRESS", max_length=254)
    sender_name: str = Field(default="Exam Depository", alias="SENDER_NAME", min_length=1, max_length=64)
    # SES publishes a message's events through this set; the messages name it in a header.
    configuration_set: str = Field(default="", alias="CONFIGURATION_SET", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    # The account's rate (SES's sandbox allows 1 a second); the sender also keeps under
    # GetSendQuota's MaxSendRate.
    rate_per_second: float = Field(default=1, alias="SENDING_RATE_PER_SECOND", ge=1, le=100)
    upload_page_url: str = Field(default="", alias="UPLOAD_PAGE_URL")
    verify_page_url: str = Field(default="", alias="VERIFY_PAGE_URL")
    queue_url: str | None = Field(default=None, alias="MAIL_QUEUE_URL", min_length=1)
    region: str | None = Field(default=None, alias="AWS_REGION", min_length=1)

    @property
    def enabled(self) -> bool:
        return self.sender_address != ""

    @field_validator("queue_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _mail_has_a_queue(self) -> Self:
        if self.enabled and (self.queue_url is None or self.region is None):
            raise ValueError("SENDER_ADDRESS needs MAIL_QUEUE_URL and AWS_REGION (where messages wait)")
        if self.enabled and "@" not in self.sender_address:
            raise ValueError("SENDER_ADDRESS must be an email address")
        return self


def load[T: EnvSettings](settings_class: type[T]) -> T:
    """Validate the environment into `settings_class` once per cold start."""
    settings = _validated(settings_class)
    assert isinstance(settings, settings_class)
    return settings


@functools.cache
def _validated(settings_class: type[EnvSettings]) -> EnvSettings:
    return settings_class.model_validate(dict(os.environ))


def reset() -> None:
    """Forget the validated settings (tests change the environment)."""
    _validated.cache_clear()
