"""Request and response models: the HTTP contract of docs/DESIGN.md, in pydantic."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from exam_depository.domain.filenames import invisible_characters

NICKNAME_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
# Control characters, and lone surrogates (JSON can carry "\ud800"; UTF-8 cannot store it).
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _shown_as_written(value: str) -> str:
    """A name people read must show what it is: no control characters, and no invisible
    formatting ones (bidi controls can make a name read as another)."""
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain control characters")
    invisible = invisible_characters(value)
    if invisible:
        raise ValueError(f"must not contain invisible formatting characters ({', '.join(invisible)})")
    return value


def _not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("must contain a letter or digit (. and .. name no one in a URL)")
    return value


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain control characters")
    return value


Nickname = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=NICKNAME_PATTERN), AfterValidator(_not_only_dots)
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_shown_as_written),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_shown_as_written),
]
# As a browser sends it: any length up to a sane bound, shortened to 200 keeping the extension
# and cleaned of invisible characters by filenames.client_filename.
Filename = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1024),
    AfterValidator(_storable),
]
# Types are case-insensitive (RFC 9110): Chromium sends .docm as ...macroEnabled.12.
_MEDIA_PART = r"[A-Za-z0-9][A-Za-z0-9_!#$&^.+-]*"
ContentType = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100, pattern=rf"^{_MEDIA_PART}/{_MEDIA_PART}$"),
    AfterValidator(str.lower),
]
SubmissionStatus = Literal["current", "superseded", "expired"]
UploadStatus = Literal["pending", "recorded", "rejected"]


EXAM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEFAULT_MAX_ATTEMPTS = 5


_EARLIEST, _LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    """Every instant is stored and sent in UTC; the exam's time zone is for display only. The
    range keeps every sum made later (a cut-off from a due time) far from datetime's limits."""
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between 1970 and 2999")
    return value.astimezone(UTC)


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The names an exam's time zone may have: the zone list of tzdata (pinned in the layer, so
    the same on every runtime image), without Factory (no place: "-00"). The list holds canonical
    names and their backward links; it leaves out what sits beside them in a zoneinfo folder,
    which ZoneInfo would open and browsers refuse (Intl.DateTimeFormat throws a RangeError): the
    posix/ and right/ trees, localtime, posixrules, the .tab files. tests/e2e checks every name in
    Chromium."""
    return frozenset((files("tzdata") / "zones").read_text(encoding="utf-8").split()) - {"Factory"}


def _known_time_zone(name: str) -> str:
    if name not in time_zone_names():
        raise ValueError(
            "must be an IANA time zone name that browsers know, such as Europe/Paris "
            "(not localtime, posixrules, Factory or a name under posix/ or right/)"
        )
    return name


def shown_time_zone(stored: str) -> str:
    """The zone sent for a stored one. An exam created before names were checked as above may
    hold one that browsers refuse, and its pages would break: a name under posix/ or right/ is
    sent as the zone it copies (right/ only adds leap seconds, which no browser counts); anything
    else (localtime, posixrules, Factory) meant the server's clock or none, which is UTC on
    Lambda."""
    if stored in time_zone_names():
        return stored
    tree, _, zone = stored.partition("/")
    if tree in ("posix", "right") and zone in time_zone_names():
        return zone
    return "UTC"


def rfc3339(instant: datetime) -> str:
    """An instant as every answer writes it, the same text pydantic's JSON gives a model's field:
    RFC 3339 in UTC with `Z` (`2026-12-14T08:00:00Z`). For what is written outside a model: a
    problem's members and details, a receipt's claims."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


# An instant a client gives must carry its offset (RFC 3339): a bare local time is ambiguous.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_time_zone)]
ShownTimeZone = Annotated[str, AfterValidator(shown_time_zone)]
ExamId = Annotated[str, StringConstraints(pattern=EXAM_ID_PATTERN)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_shown_as_written)
]
MaxAttempts = Annotated[int, Field(ge=1, le=50)]


# What a pattern means, for the person whose value did not match it.
_PATTERN_MEANINGS = {
    NICKNAME_PATTERN: "use 1 to 32 letters, digits, '.', '_' or '-' (no spaces)",
    EXAM_ID_PATTERN: "use lowercase letters, digits and '-', at most 63, starting with a letter or digit",
}


def readable(error: Mapping[str, Any]) -> str:
    """A validation error of pydantic's in words a person fixing a form or a CSV row acts on."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind == "string_pattern_mismatch" and context.get("pattern") in _PATTERN_MEANINGS:
        return _PATTERN_MEANINGS[context["pattern"]]
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if kind == "missing":
        return "is required"
    return str(error.get("msg", "invalid"))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- exams ------------------------------------------------------------------------------------


class _Window(_Model):
    @model_validator(mode="after")
    def _in_order(self) -> Self:
        opens, due, cutoff = (getattr(self, name) for name in ("opens_at", "due_at", "cutoff_at"))
        if None not in (opens, due, cutoff) and not opens <= due <= cutoff:
            raise ValueError("the window must be in order: opens_at <= due_at <= cutoff_at")
        return self


class ExamIn(_Window):
    exam_id: ExamId = Field(description="Your own id for the exam: lowercase letters, digits and '-'.")
    title: Title
    opens_at: Instant
    due_at: Instant
    cutoff_at: Instant = Field(description="Late uploads are accepted until then; equal to due_at for none.")
    timezone: TimeZoneName = Field(description="IANA name, for display only: instants are UTC.")
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS
    anonymous: bool = Field(default=False, description="Reviewers see no names.")


class ExamChange(_Window):
    """PATCH: only the fields given change; the window is checked as it will be."""

    title: Title | None = None
    opens_at: Instant | None = None
    due_at: Instant | None = None
    cutoff_at: Instant | None = None
    timezone: TimeZoneName | None = None
    max_attempts: MaxAttempts | None = None
    anonymous: bool | None = None


class ExamCounts(_Model):
    students: int
    handed_in: int
    late: int = Field(description="Students whose latest file was handed in after their due time.")
    none_yet: int


class Exam(_Model):
    exam_id: str
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone
    max_attempts: int
    anonymous: bool
    created_at: datetime
    files_deleted_from: datetime = Field(
        description="When the first of its files is deleted: the earliest 'kept until' of its current files, "
        "or, until one is handed in, the cut-off plus the retention. Export before then."
    )
    counts: ExamCounts


class ExamPage(_Model):
    items: list[Exam]
    next_cursor: str | None


# --- students ---------------------------------------------------------------------------------


class StudentIn(_Model):
    nickname: Nickname = Field(description="The examiner's handle: letters, digits, '.', '_', '-'.")
    first_name: PersonName
    last_name: PersonName
    email: Email | None = None


class ExtensionIn(_Model):
    due_at: Instant
    cutoff_at: Instant | None = Field(
        default=None, description="Default: due_at plus the exam's own time between due and cut-off."
    )
    extra_attempts: Annotated[int, Field(ge=0, le=50)] = 0


class Extension(_Model):
    due_at: datetime
    cutoff_at: datetime
    extra_attempts: int


class Submission(_Model):
    upload_id: UUID
    verification_code: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    expires_at: datetime = Field(
        description="Kept until then: the retention after the later of the upload and the student's cut-off."
    )
    status: SubmissionStatus
    late: bool
    receipt: str | None = Field(default=None, description="A compact JWS (ES256) of this record, to keep.")


class Student(_Model):
    nickname: str
    pseudonym: str = Field(
        description="Its name in an anonymous exam's receipts and exports (anon-7K3QX2): random, unique in the exam."
    )
    first_name: str
    last_name: str
    email: str | None
    upload_code: str
    created_at: datetime


class StudentSummary(Student):
    attempts_used: int
    attempts_left: int
    max_attempts: int = Field(description="The exam's, plus what an extension grants.")
    due_at: datetime = Field(description="This student's: the exam's, or a later one of an extension.")
    cutoff_at: datetime
    extension: Extension | None
    current: Submission | None


class StudentDetail(StudentSummary):
    submissions: list[Submission]


class StudentPage(_Model):
    items: list[StudentSummary]
    next_cursor: str | None


class ImportResult(_Model):
    created: list[Student]
    existing: list[Student]


class ExtensionImportResult(_Model):
    extended: list[StudentSummary]


# --- students' uploads ------------------------------------------------------------------------


Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{64}$"), AfterValidator(str.lower)]


class UploadRequest(_Model):
    filename: Filename = "answer"
    content_type: ContentType = "application/octet-stream"
    sha256: Sha256Hex | None = Field(
        default=None, description="Hex SHA-256 of the file (the page computes it): S3 then refuses any other bytes."
    )


class UploadForm(_Model):
    upload_id: UUID
    url: str
    fields: dict[str, str]
    expires_at: datetime = Field(description="Never later than the cut-off: S3 refuses the form after it.")
    max_bytes: int
    attempts_used: int
    attempts_left: int
    due_at: datetime
    cutoff_at: datetime
    late: bool = Field(description="An upload now would be after the due time (it is still accepted).")


class StudentName(_Model):
    first_name: str
    last_name: str


class ExamWindow(_Model):
    """The exam as one student sees it: its window with this student's extension."""

    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: ShownTimeZone


class UploadState(_Model):
    upload_id: UUID
    status: UploadStatus
    rejection_reason: str | None = None


class UploadProgress(_Model):
    exam: ExamWindow
    server_time: datetime = Field(description="The server's clock, so a page can count down without trusting its own.")
    student: StudentName
    attempts_used: int
    attempts_left: int
    current: Submission | None
    uploads: list[UploadState]


class ExamTitle(_Model):
    title: str


class Verification(_Model):
    verification_code: str
    exam: ExamTitle
    filename: str
    size_bytes: int
    content_type: str
    sha256: str
    submitted_at: datetime
    status: SubmissionStatus
    late: bool
    student: StudentName | None = Field(description="None when the exam is anonymous.")


class DownloadLink(_Model):
    url: str
    expires_at: datetime


# --- receipts ---------------------------------------------------------------------------------


class ReceiptIn(_Model):
    receipt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)]


class ReceiptCheck(_Model):
    genuine: bool
    reason: str | None = Field(default=None, description="Why it is not genuine, for people.")
    claims: dict[str, object] | None = Field(default=None, description="What a genuine receipt states.")
    status: SubmissionStatus | None = Field(default=None, description="What became of the file since.")


class Jwks(_Model):
    keys: list[dict[str, str]]


# --- exports ----------------------------------------------------------------------------------

ExportStatus = Literal["queued", "running", "done", "failed"]


class ExportStarted(_Model):
    export_id: UUID
    status: ExportStatus


class Export(_Model):
    export_id: UUID
    status: ExportStatus
    files_done: int
    files_total: int | None
    bytes: int
    created_at: datetime
    url: str | None = Field(
        default=None, description="When done: a link to the ZIP, minutes long; ask again for a new one."
    )
    expires_at: datetime | None = Field(default=None, description="When done: when the ZIP is deleted.")
    error: str | None = Field(default=None, description="When failed: why. Start another export to retry.")


class Problem(_Model):
    """RFC 9457 problem details, the one error shape of every route."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, object]] | None = None
