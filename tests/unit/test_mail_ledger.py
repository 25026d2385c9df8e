"""The mail ledger's rules: a message's states only advance (so every order and repetition of its
events ends in its highest state), what a student's email_state shows, the idempotency keys, who
is invited now and why not; and that the SQL speaks the same lists as the Python."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args
from uuid import UUID

import pytest
from exam_depository.adapters.db import schema
from exam_depository.adapters.db.messages import STUDENT_FOLLOWS, states_below
from exam_depository.adapters.db.suppressions import address_key
from exam_depository.domain.mail import (
    INVITE_COOLDOWN,
    INVITES_PER_ADDRESS_PER_DAY,
    INVITES_PER_DAY,
    RANK,
    STICKY,
    InviteCandidate,
    SkipReason,
    advances,
    email_state_of,
    invitation_key,
    invite_decision,
    receipt_key,
    rejection_key,
    student_state_after,
)
from exam_depository.domain.statuses import EmailState, MessageState
from hypothesis import given
from hypothesis import strategies as st

MIGRATION = (Path(schema.MIGRATIONS) / "0013.mail.sql").read_text()
RANKED = list(RANK)


def _check_list(column: str) -> list[str]:
    """The values of the CHECK (<column> IN (...)) of the migration's column."""
    found = re.search(rf"\b{column} text[^;]*?CHECK \({column} IN\s*\(([^)]*)\)", MIGRATION, re.DOTALL)
    assert found is not None, column
    return re.findall(r"'([a-z_]+)'", found.group(1))


def test_the_migrations_state_lists_are_the_pythons() -> None:
    assert _check_list("state") == list(get_args(MessageState))
    assert _check_list("email_state") == list(get_args(EmailState))
    # Every state but skipped is ranked; skipped is final and nothing moves to it.
    assert set(get_args(MessageState)) - set(RANK) == {"skipped"}
    # The student's states are the message's, but for sending (shown as queued) and skipped.
    assert {email_state_of(state) for state in get_args(MessageState)} - {None} == set(get_args(EmailState))


def test_the_sqls_lists_are_generated_from_the_ranking() -> None:
    assert states_below("queued") == []
    assert states_below("sent") == ["queued", "sending"]
    assert states_below("complained") == ["queued", "sending", "sent", "delivered", "failed", "bounced"]
    for state in RANK:
        assert states_below(state) == [old for old in RANKED if advances(old, state)]
    # The students' sticky states, as the fragment every state change appends names them.
    assert re.findall(r"NOT IN \(([^)]*)\)", STUDENT_FOLLOWS) == [", ".join(f"'{s}'" for s in sorted(STICKY))]


@pytest.mark.parametrize(
    ("old", "new", "moves"),
    [
        ("queued", "sending", True),
        ("sending", "sent", True),
        ("queued", "delivered", True),  # a Delivery before the sender's own sent: normal
        ("delivered", "sent", False),  # the sender's late mark
        ("sent", "sent", False),  # an event twice
        ("delivered", "bounced", True),  # a bounce after delivery (a mailbox gone later)
        ("bounced", "delivered", False),
        ("delivered", "complained", True),
        ("complained", "bounced", False),
        ("failed", "bounced", True),
        ("bounced", "failed", False),
        ("sending", "queued", False),  # only the sweep's own SQL does that
        ("skipped", "sent", False),  # final
        ("queued", "skipped", False),  # set by the claim, not by an event
    ],
)
def test_a_state_only_advances(old: MessageState, new: MessageState, moves: bool) -> None:
    assert advances(old, new) is moves


MESSAGE_STATES = st.sampled_from([state for state in RANKED if state != "queued"])


@given(st.lists(MESSAGE_STATES, max_size=12))
def test_any_order_and_repetition_of_a_messages_events_ends_in_its_highest_state(events: list[MessageState]) -> None:
    state: MessageState = "queued"
    for new in events:
        if advances(state, new):
            state = new
    assert state == max(["queued", *events], key=RANK.__getitem__)


@pytest.mark.parametrize(
    ("current", "latest", "new", "shown"),
    [
        (None, True, "queued", "queued"),
        ("queued", True, "sending", "queued"),
        ("queued", True, "sent", "sent"),
        ("sent", True, "delivered", "delivered"),
        ("delivered", False, "bounced", "delivered"),  # an older message speaks for no one
        ("queued", True, "skipped", "queued"),  # a skipped message leaves the state as it was
        ("delivered", True, "failed", "failed"),
        ("bounced", True, "delivered", "bounced"),  # a dead address stays dead
        ("complained", True, "sent", "complained"),
        ("bounced", True, "complained", "complained"),
        (None, False, "delivered", None),
    ],
)
def test_what_a_student_shows_after_a_message_moves(
    current: EmailState | None, latest: bool, new: MessageState, shown: EmailState | None
) -> None:
    assert student_state_after(current, latest, new) == shown


def test_the_keys_make_one_message_per_thing_and_fit_the_migrations_pattern() -> None:
    pattern = re.search(r"idempotency_key ~ '([^']+)'", MIGRATION)
    assert pattern is not None
    upload = UUID("0b6f3c2e-5d4a-4e8b-9f1c-2a3b4c5d6e7f")
    keys = [invitation_key(42, 1), invitation_key(42, 2), receipt_key(upload), rejection_key(upload)]
    assert keys == [
        "invitation:42:1",
        "invitation:42:2",
        "receipt:0b6f3c2e-5d4a-4e8b-9f1c-2a3b4c5d6e7f",
        "rejection:0b6f3c2e-5d4a-4e8b-9f1c-2a3b4c5d6e7f",
    ]
    for key in keys:
        assert re.fullmatch(pattern.group(1).strip("^$"), key)


def test_an_address_is_kept_by_its_sha256_only() -> None:
    # SHA-256 of the address's UTF-8 bytes, hex (the integration tests hold PostgreSQL's the same)
    assert address_key("ana@example.org") == "86b9260a115ceac89a9738af23696ce3a5d70449de8d95ef28bd754bb80196b9"
    assert re.fullmatch(r"[0-9a-f]{64}", address_key("ana@xn--mnchen-3ya.de"))
    assert address_key("ana@example.org") != address_key("ana@example.com")


NOW = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


def _candidate(
    *,
    email: str | None = "ana@example.org",
    suppressed: bool = False,
    invited_at: datetime | None = None,
    invites_24h: int = 0,
    address_invites_24h: int = 0,
) -> InviteCandidate:
    return InviteCandidate(1, "ana", email, suppressed, invited_at, invites_24h, address_invites_24h)


@pytest.mark.parametrize(
    ("candidate", "resend", "decision"),
    [
        (_candidate(), False, None),
        (_candidate(email=None), False, "no_email"),
        (_candidate(email=None, suppressed=True), True, "no_email"),
        (_candidate(suppressed=True), True, "suppressed"),
        (_candidate(invited_at=NOW - timedelta(days=2)), False, "already_invited"),
        (_candidate(invited_at=NOW - timedelta(days=2), invites_24h=0), True, None),
        (_candidate(invited_at=NOW - timedelta(minutes=9)), True, "too_soon"),
        (_candidate(invited_at=NOW - INVITE_COOLDOWN), True, None),
        (_candidate(invited_at=NOW - timedelta(hours=1), invites_24h=INVITES_PER_DAY), True, "daily_limit"),
        (_candidate(invited_at=NOW - timedelta(hours=1), invites_24h=INVITES_PER_DAY - 1), True, None),
        # A suppressed address is said before a cooldown: the examiner must give another one.
        (_candidate(suppressed=True, invited_at=NOW - timedelta(minutes=1)), True, "suppressed"),
        # A new address has not had the code (invited_at is the current address's): invited at once
        (_candidate(invited_at=None, invites_24h=INVITES_PER_DAY - 1), False, None),
        # The address's own limit, whichever students share it
        (_candidate(address_invites_24h=INVITES_PER_ADDRESS_PER_DAY), False, "daily_limit"),
        (_candidate(address_invites_24h=INVITES_PER_ADDRESS_PER_DAY - 1), False, None),
    ],
)
def test_who_is_invited_now_and_why_not(candidate: InviteCandidate, resend: bool, decision: SkipReason | None) -> None:
    assert invite_decision(candidate, resend=resend, now=NOW) == decision
