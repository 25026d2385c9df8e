"""LTI 1.3's rules, as plain functions of what a platform sent: the claims' names, which roles get
what, the pure halves of a launch's checks and the sentences of their refusals, the names and
nicknames of roster entries made from a course, and the hand-in status sent to the gradebook. No
I/O: the tool's adapter reads the token, the statements store what these decide. Only the three
LTI functions load it; the class list's difference from the roster is `lti_roster`'s, which only
the worker loads."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from exam_depository.domain.access import Role
from exam_depository.domain.characters import unstorable

if TYPE_CHECKING:
    from uuid import UUID

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
# What the tool asks a platform for: line items and scores (the hand-in status), the class list.
SCOPES = (SCOPE_LINEITEM, SCOPE_SCORE, SCOPE_RESULT, SCOPE_MEMBERSHIPS)

MessageType = Literal["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
RefusalKind = Literal[
    "state-unknown",
    "state-other-browser",
    "token-malformed",
    "platform-unknown",
    "wrong-audience",
    "signature",
    "expired",
    "nonce-reused",
    "deployment-unknown",
    "message-invalid",
    "wrong-target",
    "exam-not-linked",
    "link-other-course",
    "role-has-no-access",
    "platform-unreachable",
    "exam-id-taken",
    "member-removed",
]

PROBLEM_PREFIX = "urn:exam-depository:problem:lti-"


@dataclass(frozen=True)
class LtiRefusal:
    """Why a launch was refused: its status and the sentence the refusal page shows."""

    kind: RefusalKind
    status: int
    sentence: str

    @property
    def problem_type(self) -> str:
        return PROBLEM_PREFIX + self.kind


_INCOMPLETE = "the course sent an incomplete launch"
REFUSALS: Mapping[RefusalKind, tuple[int, str]] = {
    "state-unknown": (400, "the sign-in took too long or was used already"),
    "state-other-browser": (403, "it did not start in this browser"),
    "token-malformed": (400, _INCOMPLETE),
    "platform-unknown": (403, "this course's platform is not registered with Exam Depository"),
    "wrong-audience": (403, "the launch was meant for another tool"),
    "signature": (403, "the launch is not signed by the course's platform"),
    "expired": (403, "the launch is too old"),
    "nonce-reused": (403, "this launch was used already"),
    "deployment-unknown": (403, "this installation of the tool is not registered"),
    "message-invalid": (400, _INCOMPLETE),
    "wrong-target": (400, "the launch was meant for another address"),
    "exam-not-linked": (403, "this link does not name an exam this course may open"),
    "link-other-course": (
        403,
        "this link belongs to another course (was the course copied?): your teacher adds the exam to this course again",
    ),
    "role-has-no-access": (403, "your role in this course has no access to exams"),
    "platform-unreachable": (503, "the course's platform did not answer; try again in a minute"),
    "exam-id-taken": (
        409,
        "you are a member of another exam with this exam id already: rename your own exam with that id in the"
        " console (or ask its owner to), then open this link again",
    ),
    "member-removed": (
        403,
        "an owner of this exam removed you from its members: ask them to add you again in the console's members panel",
    ),
}


def refusal(kind: RefusalKind) -> LtiRefusal:
    status, sentence = REFUSALS[kind]
    return LtiRefusal(kind, status, sentence)


# A launch's checks in the order they run: the names its log lines and the trace use.
CHECKS: tuple[str, ...] = (
    "form",
    "state-known",
    "browser",
    "format",
    "registration",
    "audience",
    "signature",
    "time",
    "nonce",
    "deployment",
    "message",
    "target",
    "link",
    "role",
)


@dataclass(frozen=True)
class AgsClaim:
    scope: tuple[str, ...]
    lineitems: str | None
    lineitem: str | None


@dataclass(frozen=True)
class DeepLinkSettings:
    return_url: str
    accept_types: tuple[str, ...]
    accept_line_item: bool
    data: str | None


@dataclass(frozen=True)
class LaunchFacts:
    """What a validated id_token says, read once."""

    registration_id: int
    deployment_id: str
    sub: str
    message_type: MessageType
    roles: tuple[str, ...]
    context_id: str | None
    context_title: str | None
    resource_link_id: str | None
    custom: Mapping[str, str]
    given_name: str | None
    family_name: str | None
    name: str | None
    email: str | None
    locale: str | None
    ags: AgsClaim | None
    memberships_url: str | None
    deep_linking: DeepLinkSettings | None
    target_link_uri: str


Landing = Literal["student", "teacher", "deep_link"]

# --- roles ------------------------------------------------------------------------------------

_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"


def _context_role(uri: str) -> tuple[str, str | None] | None:
    """A context role as (role, sub-role): `membership#Instructor` → ("Instructor", None),
    `membership/Instructor#TeachingAssistant` → ("Instructor", "TeachingAssistant"), and the
    short forms ("Instructor", "Learner") the specification still allows. Institution and system
    roles are None: they say nothing of this course."""
    if uri.startswith(_MEMBERSHIP + "#"):
        return uri[len(_MEMBERSHIP) + 1 :], None
    if uri.startswith(_MEMBERSHIP + "/"):
        role, _, sub_role = uri[len(_MEMBERSHIP) + 1 :].partition("#")
        return role, sub_role or None
    if re.fullmatch(r"[A-Za-z]+", uri):
        return uri, None
    return None


def _grades_only(role: str, sub_role: str | None) -> bool:
    """A teaching assistant or a grader: LIS v2's Instructor sub-roles `TeachingAssistant`,
    `TeachingAssistantSection`, `…Offering`, `…Group`, `…SectionAssociation`, `…Template` and
    `Grader` (and the short form `TeachingAssistant`)."""
    if role == "TeachingAssistant":
        return True
    return sub_role is not None and (sub_role.startswith("TeachingAssistant") or sub_role == "Grader")


def role_of(roles: Sequence[str]) -> Role | Literal["student"] | None:
    """What a course role may be here: an Instructor a co-examiner, a teaching assistant or a
    grader (any of their sub-roles) a grader (the sub-role wins over the Instructor role it is sent
    with: the least of the two), a Learner a student; staff and Learner together the staff role
    (test accounts); anything else nothing."""
    found = [role for role in map(_context_role, roles) if role is not None]
    if any(_grades_only(role, sub_role) for role, sub_role in found):
        return Role.GRADER
    if any(role == "Instructor" for role, _ in found):
        return Role.CO_EXAMINER
    if any(role == "Learner" for role, _ in found):
        return "student"
    return None


def landing_of(facts: LaunchFacts) -> Landing | LtiRefusal:
    """Where a launch lands: deep linking is staff's; a resource link lands a student on the upload
    page and staff in the console."""
    role = role_of(facts.roles)
    if role is None:
        return refusal("role-has-no-access")
    if facts.message_type == "LtiDeepLinkingRequest":
        return "deep_link" if role != "student" else refusal("role-has-no-access")
    return "student" if role == "student" else "teacher"


# --- the checks' pure halves --------------------------------------------------------------------

LEEWAY_S = 30
OLDEST_IAT_S = 600


def audience_refusal(aud: object, azp: object, client_id: str) -> LtiRefusal | None:
    """The token is for this tool: `aud` is the client id or holds it; with several audiences the
    authorized party must be named; an authorized party named must be the client id."""
    audiences = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list | tuple) else []
    if client_id not in audiences or not all(isinstance(a, str) for a in audiences):
        return refusal("wrong-audience")
    if len(audiences) > 1 and azp is None:
        return refusal("wrong-audience")
    if azp is not None and azp != client_id:
        return refusal("wrong-audience")
    return None


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def time_refusal(exp: object, iat: object, now: datetime) -> LtiRefusal | None:
    """The token is young enough: not expired (30 s of leeway for clocks), issued neither in the
    future (the same leeway) nor more than 10 minutes ago, whatever its `exp` says."""
    expires, issued = _seconds(exp), _seconds(iat)
    if expires is None or issued is None:
        return refusal("token-malformed")
    t = now.timestamp()
    if expires <= t - LEEWAY_S or issued > t + LEEWAY_S or issued < t - OLDEST_IAT_S:
        return refusal("expired")
    return None


@dataclass(frozen=True)
class LinkFacts:
    """A link as the launch compares it: the exam it places, where it was placed."""

    link_id: UUID
    exam_slug: str
    registration_id: int
    deployment_id: str
    context_id: str


def link_refusal(link: LinkFacts | None, facts: LaunchFacts) -> LtiRefusal | None:
    """A resource link's custom parameters name a link of this platform and installation, placing
    the exam they name, in this course. A link copied with its course (another context) is refused
    on its own: the teacher places the exam in the new course."""
    if (
        link is None
        or link.registration_id != facts.registration_id
        or link.deployment_id != facts.deployment_id
        or facts.custom.get("exam_id") != link.exam_slug
    ):
        return refusal("exam-not-linked")
    if facts.context_id != link.context_id:
        return refusal("link-other-course")
    return None


# --- names and nicknames ------------------------------------------------------------------------

NAME_MAX = 200
NICKNAME_BASE_MAX = 28  # room for "-999" within the nickname's 32


def sub_hash6(sub: str) -> str:
    """Six hex characters of the platform user's id: a stable stand-in where no name was sent."""
    return hashlib.sha256(sub.encode()).hexdigest()[:6]


def platform_text(value: object) -> str | None:
    """A name or address the platform sent, None where it sent none a roster may hold: not a
    string (a number, an object), or one holding what nothing can store once its runs of white
    space are one space (a NUL, a lone surrogate)."""
    if not isinstance(value, str) or unstorable(" ".join(value.split())):
        return None
    return value


def _clean(value: object) -> str:
    return " ".join((platform_text(value) or "").split())[:NAME_MAX].strip()


def names_for(given: str | None, family: str | None, name: str | None, sub: str) -> tuple[str, str]:
    """A roster entry's first and last names from what the platform sent (a name that is not
    `platform_text` counts as not sent): given and family names as sent; else the full name split
    at its last space (one word: both halves); else "Student" and six characters of the user id's
    hash."""
    first, last, full = _clean(given), _clean(family), _clean(name)
    if first and last:
        return first, last
    if full:
        head, _, tail = full.rpartition(" ")
        return (first or head or full, last or tail)
    if first or last:
        return first or "Student", last or sub_hash6(sub)
    return "Student", sub_hash6(sub)


def _folded(value: str) -> str:
    """ASCII letters, digits, '.', '_' and '-' of a name, accents taken off (Zoë → Zoe)."""
    decomposed = unicodedata.normalize("NFKD", value)
    return re.sub(r"[^A-Za-z0-9._-]", "", decomposed.encode("ascii", "ignore").decode()).lower()


def nickname_for(first: str, last: str, email: str | None, sub: str, taken: Container[str]) -> str:
    """A new roster entry's nickname: `first.last` folded to ASCII, else the email's local part,
    else `lms-` and the user id's hash; `-2`, `-3`… while the exam has it (`taken` holds the
    exam's nicknames lower-cased, as their unique index compares them)."""
    base = ".".join(part for part in (_folded(first), _folded(last)) if part)[:NICKNAME_BASE_MAX].strip(".")
    if not base.strip("._-") and email:
        base = _folded(email.rpartition("@")[0])[:NICKNAME_BASE_MAX].strip(".")
    if not base.strip("._-"):
        base = f"lms-{sub_hash6(sub)}"
    nickname, n = base, 1
    while nickname.lower() in taken:
        n += 1
        nickname = f"{base}-{n}"
    return nickname


# --- the gradebook ------------------------------------------------------------------------------


def rfc3339_ms(at: datetime) -> str:
    """An instant as a Score's timestamp: UTC, milliseconds, Z."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def size_text(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    if size_bytes < 1024 * 1024:
        return f"{round(size_bytes / 1024)} KiB"
    return f"{size_bytes / (1024 * 1024):.1f} MiB"


def score_of(
    *,
    user_id: str,
    submitted_at: datetime,
    late: bool,
    filename: str,
    size_bytes: int,
    attempt: int,
    max_attempts: int,
) -> dict[str, object]:
    """The Score sent to the line item for a recorded file: handed in, waiting for a person to
    mark it. No `scoreGiven`: nothing is marked here."""
    at = rfc3339_ms(submitted_at)
    handed_in = "Handed in late" if late else "Handed in"
    return {
        "userId": user_id,
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "timestamp": at,
        "submission": {"submittedAt": at},
        "comment": f"{handed_in}: {filename} ({size_text(size_bytes)}), attempt {attempt} of {max_attempts}.",
    }
