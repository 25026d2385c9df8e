"""What a caller may ask, validated: the request models and the value types they are made of
(names, instants, time zones, ids). Shared by the JSON bodies of the API and the rows of a CSV
roster, and taken by the use cases as their arguments. No I/O: tzdata's zone list is read from
the package."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from exam_depository.domain.access import Role
from exam_depository.domain.filenames import invisible_characters, unstorable
from exam_depository.domain.instants import time_zone_names
from exam_depository.domain.mail import MailLanguage, normalized_address
from exam_depository.domain.rules import Window, order_refusal, pdf_check_refusal
from exam_depository.domain.statuses import Kind

NICKNAME_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"


def _shown_as_written(value: str) -> str:
    """A name people read must show what it is: no control characters, and no invisible
    formatting ones (bidi controls can make a name read as another)."""
    if unstorable(value):
        raise ValueError("must not contain control characters")
    invisible = invisible_characters(value)
    if invisible:
        raise ValueError(f"must not contain invisible formatting characters ({', '.join(invisible)})")
    return value


def _not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("must contain a letter or digit (. and .. name no one in a URL)")
    return value


Nickname = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=NICKNAME_PATTERN), AfterValidator(_not_only_dots)
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_shown_as_written),
]


def _sendable(value: str) -> str:
    """An address SES can send to (`domain.mail.normalized_address`), kept as written: the
    examiner sees what they typed, mail goes to its normalized form. Refused in the validator's
    own sentence, without pydantic's "Value error" before it (a CSV's line shows it as it is)."""
    try:
        normalized_address(value)
    except ValueError as exc:
        raise PydanticCustomError("email", str(exc)) from exc
    return value


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_shown_as_written),
    AfterValidator(_sendable),
]
EXAM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEFAULT_MAX_ATTEMPTS = 5


_EARLIEST, _LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    """Every instant is stored and sent in UTC; the exam's time zone is for display only. The
    range keeps every sum made later (a cut-off from a due time) far from datetime's limits."""
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between 1970 and 2999")
    return value.astimezone(UTC)


def _known_time_zone(name: str) -> str:
    if name not in time_zone_names():
        raise ValueError(
            "must be an IANA time zone name that browsers know, such as Europe/Paris "
            "(not localtime, posixrules, Factory or a name under posix/ or right/)"
        )
    return name


# An instant a client gives must carry its offset (RFC 3339): a bare local time is ambiguous.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_time_zone)]
ExamId = Annotated[str, StringConstraints(pattern=EXAM_ID_PATTERN)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_shown_as_written)
]
MaxAttempts = Annotated[int, Field(ge=1, le=50)]
# A timed exam's time limit: a minute to a week.
DurationMinutes = Annotated[int, Field(ge=1, le=10080)]


def _each_once(kinds: list[Kind]) -> list[Kind]:
    if len(set(kinds)) != len(kinds):
        raise ValueError("must name each kind once")
    return kinds


AcceptedTypes = Annotated[
    list[Kind],
    Field(
        max_length=6,
        description="The kinds of file the exam accepts (pdf, word, odt, image, text, zip), checked by the "
        "file's content. Empty: any file.",
    ),
    AfterValidator(_each_once),
]
_CHECK_PDFS = "Whether a PDF must open (not damaged, no password) to be handed in; one without text is flagged."
_EMAIL_RECEIPTS = "Whether each student with an address is emailed a receipt after an upload (or its rejection)."
_LANGUAGE = "The language of the emails sent to the exam's students (en, de, fr); the pages keep the reader's own."


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
        refusal = None if None in (opens, due, cutoff) else order_refusal(Window(opens, due, cutoff))
        if refusal is not None:
            raise ValueError(refusal)
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
    duration_minutes: DurationMinutes | None = Field(
        default=None,
        description="A timed exam: each student has this long from the moment they start (plus their extra "
        "time), never past their due time. Null: not timed.",
    )
    accepted_types: AcceptedTypes = []
    check_pdfs: bool = Field(default=False, description=_CHECK_PDFS)
    email_receipts: bool = Field(default=True, description=_EMAIL_RECEIPTS)
    language: MailLanguage = Field(default="en", description=_LANGUAGE)

    @model_validator(mode="after")
    def _pdfs_accepted(self) -> Self:
        refusal = pdf_check_refusal(self.accepted_types, self.check_pdfs)
        if refusal is not None:
            raise ValueError(refusal)
        return self


# The one field of an exam whose null is a value: not timed.
_NULLABLE = frozenset({"duration_minutes"})


class ExamChange(_Window):
    """PATCH: only the fields given change; the window is checked as it will be. A field left out
    is kept; a field given as null is a mistake (every one of them has a value), not a removal,
    but for `duration_minutes`, whose null makes the exam untimed."""

    title: Title | None = None
    opens_at: Instant | None = None
    due_at: Instant | None = None
    cutoff_at: Instant | None = None
    timezone: TimeZoneName | None = None
    max_attempts: MaxAttempts | None = None
    anonymous: bool | None = None
    duration_minutes: DurationMinutes | None = Field(default=None, description="Null: the exam is no longer timed.")
    accepted_types: AcceptedTypes | None = Field(default=None, description="Applies to the forms issued after it.")
    check_pdfs: bool | None = Field(default=None, description=_CHECK_PDFS)
    email_receipts: bool | None = Field(default=None, description=_EMAIL_RECEIPTS)
    language: MailLanguage | None = Field(default=None, description=_LANGUAGE)

    @model_validator(mode="after")
    def _pdfs_accepted(self) -> Self:
        # What is given together is checked here; against the stored exam, by the use case.
        if self.accepted_types is not None and self.check_pdfs is not None:
            refusal = pdf_check_refusal(self.accepted_types, self.check_pdfs)
            if refusal is not None:
                raise ValueError(refusal)
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, given: Any) -> Any:
        if isinstance(given, dict):
            nulls = sorted(name for name, value in given.items() if value is None and name not in _NULLABLE)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} must not be null: leave a field out to keep it")
        return given


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


class AccommodationIn(_Model):
    """A student's extra time in a timed exam: a percentage of the exam's duration, then minutes
    added to it. Zeros remove it."""

    extra_time_percent: Annotated[int, Field(ge=0, le=300)] = 0
    extra_time_minutes: Annotated[int, Field(ge=0, le=1440)] = 0


class SendCodesIn(_Model):
    """Email students their upload codes: every student of the exam not yet invited, or those named."""

    nicknames: Annotated[list[Nickname] | None, Field(min_length=1, max_length=5000)] = Field(
        default=None, description="The students to invite (default: every student of the exam)."
    )
    resend: bool = Field(
        default=False, description="Send again to those already invited (at most once in 10 minutes, 3 a day)."
    )

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        # Nicknames are unique per exam whatever their case.
        if self.nicknames is not None and len({n.lower() for n in self.nicknames}) != len(self.nicknames):
            raise ValueError("nicknames must name each student once")
        return self


class EmailChangeIn(_Model):
    """A student's address, given, changed or removed (null)."""

    email: Email | None


# --- members ----------------------------------------------------------------------------------


# What the exam's members call someone ("Marker: Sam"): given with the invitation, never an identity.
MemberLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_shown_as_written)
]


class InvitationIn(_Model):
    role: Role = Field(description="The role the invitee will have: owner, co_examiner, grader or invigilator.")
    label: MemberLabel | None = Field(default=None, description="What the members list calls the invitee.")


class MemberChangeIn(_Model):
    """PATCH: only the fields given change; a label given as null is removed (a role has no null)."""

    role: Role | None = None
    label: MemberLabel | None = None

    @model_validator(mode="before")
    @classmethod
    def _role_not_null(cls, given: Any) -> Any:
        if isinstance(given, dict) and "role" in given and given["role"] is None:
            raise ValueError("role must not be null: leave it out to keep it")
        return given


# --- malware scans ----------------------------------------------------------------------------


class ReleaseIn(_Model):
    """The exam's owner releases a file that could not be scanned: why, for the audit log."""

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(_shown_as_written)
    ]
