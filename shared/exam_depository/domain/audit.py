"""The audit log's rules: what an event is, the canonical text that is hashed, and the hash chain
that links each exam's events (docs/AUDIT.md). Plain functions, no I/O.

Each exam's events form a chain: event n's hash is `link(hash of n - 1, n, at, body)`, the first
linking to GENESIS. PostgreSQL computes the same link as it appends (adapters/db/audit.py), from
the body written here, so anyone can recompute every hash from a downloaded log: removing,
changing, swapping or inserting an event breaks the chain after it (`audit_log.chain_break`, with the
log as read back), and a consistent rewrite of the chain's tail differs from a signed checkpoint of its head.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # annotations only: a reviewer's or the recorder's event loads no roles
    from uuid import UUID

    from exam_depository.domain.access import Caller, Role
    from exam_depository.domain.audit_log import AuditItem, Head

type Json = bool | int | str | Sequence[Json] | Mapping[str, Json] | None

GENESIS = "0" * 64
CheckpointReason = Literal["closed", "exported"]


class AuditAction(StrEnum):
    EXAM_CREATED = "exam.created"
    EXAM_UPDATED = "exam.updated"
    EXAM_CLOSED = "exam.closed"
    EXAM_DELETED = "exam.deleted"  # the tombstone: it outlives the exam's other events
    EXAM_ASSIGNED = "exam.assigned"
    MEMBER_INVITED = "member.invited"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    STUDENT_ADDED = "student.added"
    STUDENTS_IMPORTED = "students.imported"
    STUDENT_REMOVED = "student.removed"
    STUDENT_CODE_REGENERATED = "student.code_regenerated"
    STUDENT_CODE_SHOWN = "student.code_shown"
    STUDENT_NAME_REVEALED = "student.name_revealed"
    STUDENTS_INVITED = "students.invited"  # their codes were sent to their addresses
    STUDENT_EMAIL_CHANGED = "student.email_changed"  # set, changed or removed: the log holds no address
    EXTENSION_SET = "extension.set"
    EXTENSION_REMOVED = "extension.removed"
    EXTENSIONS_IMPORTED = "extensions.imported"
    ACCOMMODATION_SET = "accommodation.set"
    ACCOMMODATIONS_IMPORTED = "accommodations.imported"
    PAPER_FORM_ISSUED = "paper.form_issued"
    PAPER_UPLOADED = "paper.uploaded"
    PAPER_FIRST_DOWNLOAD = "paper.first_download"
    EXPORT_CREATED = "export.created"
    EXPORT_LINK_ISSUED = "export.link_issued"
    VERIFICATION_LINK_ISSUED = "verification.link_issued"
    SUBMISSION_SCAN_THREAT = "submission.scan_threat"
    SUBMISSION_SCAN_UNSUPPORTED = "submission.scan_unsupported"
    SUBMISSION_SCAN_FAILED = "submission.scan_failed"
    SUBMISSION_RELEASED = "submission.released"
    # From an LMS: every event's `after` names the platform and its user ({"platform", "lti_user"}).
    LTI_LINKED = "lti.linked"  # the exam placed in a course
    LTI_TEACHER_LAUNCHED = "lti.teacher_launched"
    LTI_STUDENT_LAUNCHED = "lti.student_launched"
    LTI_ROSTER_SYNCED = "lti.roster_synced"
    LTI_SCORE_SENT = "lti.score_sent"  # a hand-in status reached the gradebook
    LTI_SCORE_FAILED = "lti.score_failed"


# Every text cell of the log starts with a letter or a digit (a JSON cell with `{`): no cell can
# start a spreadsheet formula (=, +, -, @), so the CSV is written as it is hashed, not neutralized.
_SAFE_TEXT = re.compile(r"[A-Za-z0-9][^\x00]*", re.DOTALL)


@dataclass(frozen=True)
class Actor:
    """Who did it: a member's member_id (a UUID), `student:<pseudonym>`, `reviewer`, `ops` or
    `system:<job>`; the member's role then, else None; where from: API Gateway's request id, or a
    job's Lambda request id."""

    id: str
    role: Role | None
    request_id: str | None


class Member(Protocol):
    """A member as the exam's row found for their request names them (`db.exams.ExamRow`)."""

    @property
    def member_id(self) -> UUID: ...

    @property
    def role(self) -> Role: ...


def member_actor(member: Member, caller: Caller) -> Actor:
    """The caller as the log names a member: their member id and role in the exam, and the request."""
    return Actor(str(member.member_id), member.role, caller.request_id)


@dataclass(frozen=True)
class Event:
    """One change or disclosure. `before`/`after` hold only what changed, students named by
    pseudonym and codes as `codes.redact` shows them. `subjects` (pseudonyms) serve the log's
    filter by student and are not hashed."""

    actor: Actor
    action: AuditAction
    target: str
    before: Mapping[str, Json] | None = None
    after: Mapping[str, Json] | None = None
    subjects: tuple[str, ...] = ()


def body(event: Event) -> str:
    """The canonical text of what an event says, the one its hash covers: JSON with sorted keys,
    no spaces, UTF-8 as is. Values are null, booleans, integers and strings (instants as
    `rfc3339`), in lists and objects: PostgreSQL's jsonb gives exactly these back, so the text can
    be rebuilt from the stored columns (a float could come back another number's text)."""
    return _body(
        {
            "actor": event.actor.id,
            "role": None if event.actor.role is None else str(event.actor.role),
            "action": str(event.action),
            "target": event.target,
            "before": event.before,
            "after": event.after,
            "request_id": event.actor.request_id,
        }
    )


def body_around_count(event: Event) -> tuple[str, str]:
    """`body(event)` as the text before and after the number of its `after` ({"count": n}), for an
    event whose count a statement decides (a page's, in the database): for every n >= 0, before +
    str(n) + after is the body of the event with that count, and PostgreSQL writes a count as
    str(n) does. The bodies with counts 0 and 1 differ in that one character alone."""
    if event.after is None or set(event.after) != {"count"}:
        raise ValueError("only an event whose after is its count has a body around it")
    zero, one = body(replace(event, after={"count": 0})), body(replace(event, after={"count": 1}))
    at = next(index for index, (a, b) in enumerate(zip(zero, one, strict=True)) if a != b)
    return zero[:at], zero[at + 1 :]


def _body(fields: Mapping[str, Json]) -> str:
    """A body's canonical JSON, once its text fields are ones a CSV cell may start with."""
    for name in ("actor", "action", "target"):
        _check_text(name, fields[name])
    for name in ("role", "request_id"):
        if fields[name] is not None:
            _check_text(name, fields[name])
    return canonical(fields)


def canonical(value: Mapping[str, Json]) -> str:
    """`value` as the log's canonical JSON (a body, or a `before`/`after` cell of the CSV)."""
    _check_values(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_text(name: str, value: Json) -> None:
    if not isinstance(value, str) or not _SAFE_TEXT.fullmatch(value):
        raise ValueError(f"an audit event's {name} must be text starting with a letter or digit, not {value!r}")


def _check_values(value: Json) -> None:
    if isinstance(value, float):
        raise ValueError("an audit event holds no floating-point numbers")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("an audit event holds no NUL characters (jsonb refuses them)")
    if isinstance(value, Mapping):
        for item in value.values():
            _check_values(item)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            _check_values(item)


def at_text(at: datetime) -> str:
    """An event's instant as hashed and as the CSV writes it: UTC, always 6 fractional digits."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(prev_hash: str, seq: int, at: str, body: str) -> str:
    """An event's hash: SHA-256 (hex) of the previous hash, its seq, its instant (`at_text`) and
    its body, one per line, in UTF-8."""
    return hashlib.sha256(f"{prev_hash}\n{seq}\n{at}\n{body}".encode()).hexdigest()


def item_body(item: AuditItem) -> str:
    """The body an item's hash covers, rebuilt from its columns."""
    return _body(
        {
            "actor": item.actor,
            "role": item.role,
            "action": item.action,
            "target": item.target,
            "before": item.before,
            "after": item.after,
            "request_id": item.request_id,
        }
    )


class SignCheckpoint(Protocol):
    """`usecases.checkpoints.sign_checkpoint`, as the functions that sign hand it to a use case
    that must not import KMS itself: signs the chain at `head` (by default its head now) and
    returns the token, None when the exam is gone."""

    def __call__(self, exam_pk: int, reason: CheckpointReason, head: Head | None = None, /) -> str | None: ...


def difference(
    before: Mapping[str, Json], after: Mapping[str, Json]
) -> tuple[dict[str, Json] | None, dict[str, Json] | None]:
    """What an event records of a change: the fields whose value changed, as they were and as they
    are (None for a side with nothing to say)."""
    changed = [name for name in after if before.get(name) != after[name]]
    return ({name: before.get(name) for name in changed} or None, {name: after[name] for name in changed} or None)
