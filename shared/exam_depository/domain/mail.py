"""Mail to students: a message's states and how SES's events move them, what a student's
`email_state` shows, the idempotency keys that make a message one message ever, the limits on how
often a student is mailed. The facts each kind of message tells are `domain.messages`'s, which
renders them: only the sender loads them.

Events arrive at least once and in any order (a `Delivery` before the sender's own `sent` is
normal): a state only moves to a higher `RANK`, so every order and every repetition of a message's
events ends in the same state. The one move down is the sweep's `sending -> queued`, a claim that
SES never answered, which the sweep's own SQL makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from exam_depository.domain.statuses import EmailState, MessageState

# `skipped` is absent: it is final from the claim that sets it, and nothing moves to it.
# adapters/db/messages.py generates its SQL's state lists from this mapping (a unit test holds them equal).
RANK: Mapping[MessageState, int] = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "failed": 4,
    "bounced": 5,
    "complained": 6,
}
# Shown on every student with a suppressed address, whichever message taught us, until the
# examiner gives another address.
STICKY: frozenset[EmailState] = frozenset({"bounced", "complained"})

# Limits: how often one student, and one exam, may be mailed.
INVITE_COOLDOWN = timedelta(minutes=10)  # per student and address, also with resend
INVITES_PER_DAY = 3  # per student, rolling 24 h (counted from message rows)
# Per address of an exam, rolling 24 h, whichever students have it: a mailbox several students share,
# or a student deleted and added again (counted from address_invitation, which outlives the student).
INVITES_PER_ADDRESS_PER_DAY = 10
REJECTIONS_PER_DAY = 5  # per student; receipts are bounded by the exam's attempts
EXAM_SEND_COOLDOWN = timedelta(seconds=10)  # per exam: a double click answers 429
MAX_ATTEMPTS = 8  # SES calls per message before it is failed
SENDING_GRACE = timedelta(minutes=15)  # a claim older than this, with no Send event: queued again

SkipReason = Literal["no_email", "suppressed", "already_invited", "too_soon", "daily_limit", "receipts_off", "from_lms"]


def advances(old: MessageState, new: MessageState) -> bool:
    """Whether an event saying `new` moves a message that is `old` (skipped moves nowhere)."""
    if old not in RANK or new not in RANK:
        return False
    return RANK[new] > RANK[old]


def email_state_of(state: MessageState) -> EmailState | None:
    """What a student's `email_state` shows for their latest message in `state` (None: unchanged)."""
    if state == "sending":
        return "queued"
    if state == "skipped":
        return None
    return state


def student_state_after(current: EmailState | None, latest: bool, new: MessageState) -> EmailState | None:
    """A student's `email_state` once one of their messages reached `new`: only their latest
    message speaks for them, and a sticky state (the address is dead) yields only to another."""
    shown = email_state_of(new)
    if not latest or shown is None:
        return current
    if current in STICKY and shown not in STICKY:
        return current
    return shown


def invitation_key(student_id: int, n: int) -> str:
    """The student's n-th invitation (n counts every invitation queued to them)."""
    return f"invitation:{student_id}:{n}"


def receipt_key(upload_id: UUID) -> str:
    return f"receipt:{upload_id}"


def rejection_key(upload_id: UUID) -> str:
    return f"rejection:{upload_id}"


@dataclass(frozen=True)
class InviteCandidate:
    student_id: int
    nickname: str
    email: str | None  # the address mail goes to (normalized), None when the student has none
    suppressed: bool
    invited_at: datetime | None  # their last invitation to their current address (not skipped: it went out)
    invites_24h: int  # their invitations queued in the last 24 h, whatever address each went to
    address_invites_24h: int  # invitations queued to their address in the exam in 24 h, any student's
    # From an LMS's course: they open the exam from there, and a mailed code would sit in a link.
    from_lms: bool = False


def invite_decision(c: InviteCandidate, *, resend: bool, now: datetime) -> SkipReason | None:
    """Why this student is not invited now, or None to invite them. Invited and the cooldown are
    about their current address (a corrected address gets the code at once, one changed away and
    back has had it); the daily limits count every invitation, to the student and to the address."""
    if c.from_lms or c.email is None:  # an LMS's student opens the exam from their course
        return "from_lms" if c.from_lms else "no_email"
    if c.suppressed:
        return "suppressed"
    if c.invited_at is not None and not resend:
        return "already_invited"
    if c.invited_at is not None and now - c.invited_at < INVITE_COOLDOWN:
        return "too_soon"
    if c.invites_24h >= INVITES_PER_DAY or c.address_invites_24h >= INVITES_PER_ADDRESS_PER_DAY:
        return "daily_limit"
    return None


def suppressed_sentence(reason: Literal["bounce", "complaint"], since: datetime, detail: str | None) -> str:
    """Why an address is refused wherever one is given (the roster, an import, a change): it
    bounced hard or complained, and nothing can be sent to it."""
    what = "bounced" if reason == "bounce" else "was reported as spam"
    said = f": {detail}" if detail else ""
    return f"This address {what} on {since:%-d %b %Y at %H:%M} UTC{said}. Give another address."
