"""The audit log's rules: the canonical body, the instant's text, the chain's link (a vector pinned
here and computed by PostgreSQL in tests/integration/test_audit.py), where a chain breaks, the CSV
cells, and what a checkpoint claims."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from exam_depository.domain import audit, audit_log
from exam_depository.domain.access import Caller, Role
from exam_depository.domain.audit import AuditAction, Event
from exam_depository.domain.audit_log import AuditItem, Checkpoint

MEMBER = "0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b"
REQUEST = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
OWNER = audit.Actor(MEMBER, Role.OWNER, REQUEST)

# The pinned vector: PostgreSQL's expression must give the same hash for the same four inputs.
VECTOR_EVENT = Event(
    OWNER,
    AuditAction.EXTENSION_SET,
    "student:anon-7K3QX2",
    after={
        "due_at": "2026-12-14T10:00:00Z",
        "cutoff_at": "2026-12-14T10:30:00Z",
        "extra_attempts": 1,
        "note": "Zoë — 😀",
    },
)
# A century ahead: the integration test sets the chain's head there, and PostgreSQL's append keeps
# an instant that is later than its clock (`at` never goes back along a chain).
VECTOR_AT = datetime(2126, 12, 14, 8, 0, 0, 123, tzinfo=UTC)
VECTOR_BODY = (
    '{"action":"extension.set","actor":"0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b","after":{"cutoff_at":'
    '"2026-12-14T10:30:00Z","due_at":"2026-12-14T10:00:00Z","extra_attempts":1,"note":"Zoë — 😀"},'
    '"before":null,"request_id":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","role":"owner","target":"student:anon-7K3QX2"}'
)
VECTOR_HASH = "3a67555fc5cb071b4f22f24c4a1d4a0870dc1e67f720de8895022824fee40942"  # also by sha256sum


def test_the_pinned_vector() -> None:
    assert audit.body(VECTOR_EVENT) == VECTOR_BODY
    assert audit.at_text(VECTOR_AT) == "2126-12-14T08:00:00.000123Z"
    assert audit.link(audit.GENESIS, 1, "2126-12-14T08:00:00.000123Z", VECTOR_BODY) == VECTOR_HASH


def test_a_body_is_canonical_whatever_the_order_of_its_keys() -> None:
    one = Event(OWNER, AuditAction.EXAM_UPDATED, "exam", before={"b": 1, "a": {"y": 2, "x": 3}}, after={"t": "é"})
    other = Event(OWNER, AuditAction.EXAM_UPDATED, "exam", after={"t": "é"}, before={"a": {"x": 3, "y": 2}, "b": 1})
    assert audit.body(one) == audit.body(other)
    assert audit.body(one) == (
        '{"action":"exam.updated","actor":"0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b","after":{"t":"é"},'
        '"before":{"a":{"x":3,"y":2},"b":1},"request_id":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","role":"owner",'
        '"target":"exam"}'
    )
    # subjects serve the filter and are not hashed
    assert audit.body(dataclasses.replace(one, subjects=("anon-1",))) == audit.body(one)


@pytest.mark.parametrize(
    "event",
    [
        # jsonb may give a float back as another text (mypy refuses one too)
        Event(OWNER, AuditAction.EXAM_UPDATED, "exam", after={"weight": 1.5}),  # type: ignore[dict-item]
        Event(OWNER, AuditAction.EXAM_UPDATED, "exam", after={"title": "a\x00b"}),  # jsonb refuses NUL
        Event(OWNER, AuditAction.EXAM_UPDATED, "=HYPERLINK()"),  # a cell that would start a formula
        Event(audit.Actor("@ops", None, None), AuditAction.EXAM_ASSIGNED, "exam"),
        Event(audit.Actor("ops", None, "-1"), AuditAction.EXAM_ASSIGNED, "exam"),
        Event(audit.Actor("", None, None), AuditAction.EXAM_ASSIGNED, "exam"),
    ],
)
def test_a_body_refuses_what_could_not_be_rebuilt_or_would_start_a_formula(event: Event) -> None:
    with pytest.raises(ValueError, match="audit event"):
        audit.body(event)


def test_an_instant_is_written_in_utc_with_six_digits() -> None:
    assert audit.at_text(datetime(2026, 12, 14, 9, 0, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-12-14T08:00:00.000000Z"
    )
    assert audit.at_text(datetime(2026, 12, 14, 8, 0, 0, 999999, tzinfo=UTC)) == "2026-12-14T08:00:00.999999Z"


# --- chains -----------------------------------------------------------------------------------


def _chain(count: int, start: datetime = VECTOR_AT) -> list[AuditItem]:
    """A chain as PostgreSQL would append it, one event a second."""
    items: list[AuditItem] = []
    previous = audit.GENESIS
    for seq in range(1, count + 1):
        at = start + timedelta(seconds=seq)
        event = Event(
            OWNER,
            AuditAction.STUDENT_ADDED,
            f"student:anon-{seq:06d}",
            after={"pseudonym": f"anon-{seq:06d}"},
        )
        item = _item(seq, at, event, previous)
        items.append(item)
        previous = item.hash
    return items


def _item(seq: int, at: datetime, event: Event, previous: str) -> AuditItem:
    return AuditItem(
        seq=seq,
        at=at,
        actor=event.actor.id,
        role=None if event.actor.role is None else str(event.actor.role),
        action=str(event.action),
        target=event.target,
        before=event.before,
        after=event.after,
        request_id=event.actor.request_id,
        prev_hash=previous,
        hash=audit.link(previous, seq, audit.at_text(at), audit.body(event)),
    )


def test_an_intact_chain_has_no_break() -> None:
    assert audit_log.chain_break(_chain(5)) is None
    assert audit_log.chain_break([]) is None


def test_a_changed_field_breaks_the_chain_at_that_event() -> None:
    items = _chain(5)
    items[2] = dataclasses.replace(items[2], after={"pseudonym": "anon-999999"})
    assert audit_log.chain_break(items) == audit_log.Break(3, "hash does not match the event")
    items = _chain(5)
    items[3] = dataclasses.replace(items[3], at=items[3].at + timedelta(microseconds=1))
    assert audit_log.chain_break(items) == audit_log.Break(4, "hash does not match the event")


def test_a_removed_event_breaks_the_chain_where_it_was() -> None:
    items = _chain(5)
    del items[2]
    broken = audit_log.chain_break(items)
    assert broken is not None
    assert broken.seq == 4
    assert "follows seq 2" in broken.reason


def test_two_swapped_events_break_the_chain() -> None:
    items = _chain(5)
    items[1], items[2] = items[2], items[1]
    broken = audit_log.chain_break(items)
    assert broken is not None
    assert broken.seq == 3


def test_an_inserted_event_breaks_the_chain_even_with_its_own_hash_right() -> None:
    items = _chain(5)
    # An event made to follow event 2 with a right hash of its own, and the rest renumbered: the
    # event after it names event 2's hash, not the inserted one's.
    forged = _item(3, items[1].at, Event(OWNER, AuditAction.STUDENT_REMOVED, "student:anon-000001"), items[1].hash)
    renumbered = [dataclasses.replace(item, seq=item.seq + 1) for item in items[2:]]
    broken = audit_log.chain_break([*items[:2], forged, *renumbered])
    assert broken == audit_log.Break(4, "prev_hash is not the previous event's hash")


def test_a_chain_must_start_at_genesis() -> None:
    items = _chain(3)
    items[0] = dataclasses.replace(items[0], prev_hash="1" * 64)
    assert audit_log.chain_break(items) == audit_log.Break(1, "prev_hash is not the genesis hash")
    assert audit_log.chain_break(_chain(3)[1:]) == audit_log.Break(2, "seq 2 follows seq 0")


def test_an_instant_never_goes_back_along_the_chain() -> None:
    first, second = _chain(2)
    earlier = second.at - timedelta(seconds=5)
    event = Event(OWNER, AuditAction.STUDENT_ADDED, "student:anon-000002", after={"pseudonym": "anon-000002"})
    second = _item(2, earlier, event, first.hash)
    assert audit_log.chain_break([first, second]) == audit_log.Break(2, "at is earlier than the previous event's")


def test_a_tail_rewritten_consistently_holds_as_a_chain_and_only_the_checkpoint_catches_it() -> None:
    # Given a chain of 5 whose head was signed, and the last two events rewritten, hashes and all
    items = _chain(5)
    signed = Checkpoint(5, items[4].hash)
    rewritten = items[:3]
    for seq in (4, 5):
        event = Event(OWNER, AuditAction.STUDENT_REMOVED, f"student:anon-{seq:06d}", before={"submissions": 0})
        rewritten.append(_item(seq, items[seq - 1].at, event, rewritten[-1].hash))
    # Then the chain alone holds, and the checkpoint names the rewritten head
    assert audit_log.chain_break(rewritten) is None
    assert audit_log.chain_break(rewritten, checkpoint=signed) == audit_log.Break(
        5, "hash differs from the signed checkpoint's"
    )
    # and a log cut short before the signed head is caught too
    assert audit_log.chain_break(items[:3], checkpoint=signed) == audit_log.Break(
        4, "the log ends before the signed checkpoint's seq 5"
    )
    assert audit_log.chain_break(items, checkpoint=signed) is None


# --- the CSV ----------------------------------------------------------------------------------


def _csv(items: list[AuditItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(audit_log.CSV_COLUMNS)
    writer.writerows(audit_log.csv_cells(item) for item in items)
    return out.getvalue()


def _every_kind_of_event() -> Iterator[Event]:
    actors = [
        OWNER,
        audit.Actor("student:anon-7K3QX2", None, REQUEST),
        audit.Actor("reviewer", None, None),
        audit.Actor("ops", None, None),
        audit.Actor("system:recorder", None, "8f5a0c1e-0000-4000-8000-000000000000"),
    ]
    for actor in actors:
        for action in AuditAction:
            yield Event(actor, action, "students", after={"count": 3, "=cmd": "@SUM(A1)", "-x": ["+1"]})
            yield Event(actor, action, "exam", before={"title": "=1+1"}, after=None)


def test_every_csv_cell_starts_with_a_letter_a_digit_or_a_brace_and_reads_back_as_hashed() -> None:
    items: list[AuditItem] = []
    previous = audit.GENESIS
    for seq, event in enumerate(_every_kind_of_event(), start=1):
        items.append(_item(seq, VECTOR_AT + timedelta(seconds=seq), event, previous))
        previous = items[-1].hash
    rows = list(csv.reader(io.StringIO(_csv(items))))
    assert tuple(rows[0]) == audit_log.CSV_COLUMNS
    for row in rows[1:]:
        for cell in row:
            assert cell == "" or (cell[0].isascii() and (cell[0].isalnum() or cell[0] == "{")), row
    # What the documented verifier does: rebuild each item from its cells, and the chain holds
    rebuilt = [
        AuditItem(
            seq=int(row[0]),
            at=datetime.strptime(row[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            actor=row[2],
            role=row[3] or None,
            action=row[4],
            target=row[5],
            before=json.loads(row[6]) if row[6] else None,
            after=json.loads(row[7]) if row[7] else None,
            request_id=row[8] or None,
            prev_hash=row[9],
            hash=row[10],
        )
        for row in rows[1:]
    ]
    assert audit_log.chain_break(rebuilt) is None


def test_a_checkpoint_claims_the_exam_the_head_and_why() -> None:
    claims = audit_log.checkpoint_claims(
        deployment="exam-depository-prod",
        exam_id="physics-2026-12",
        exam_created_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        seq=42,
        hash=VECTOR_HASH,
        at=datetime(2026, 12, 14, 8, 0, 0, 123, tzinfo=UTC),
        reason="exported",
        issued_at=1_800_000_000,
    )
    assert claims == {
        "iss": "exam-depository-prod",
        "iat": 1_800_000_000,
        "purpose": "audit-checkpoint",
        "exam": "physics-2026-12",
        "exam_created_at": "2026-11-01T09:00:00Z",
        "seq": 42,
        "hash": VECTOR_HASH,
        "at": "2026-12-14T08:00:00.000123Z",
        "reason": "exported",
    }


@dataclasses.dataclass(frozen=True)
class _ExamAsSeen:
    """What an exam's row says of the member asking (`db.exams.ExamRow`'s two fields)."""

    member_id: uuid.UUID
    role: Role


def test_a_member_is_named_by_member_id_and_role_then_with_the_request() -> None:
    member_id = uuid.UUID("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b")
    actor = audit.member_actor(_ExamAsSeen(member_id, Role.GRADER), Caller("a1b2c3d4e5", "request-1"))
    assert actor == audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", Role.GRADER, "request-1")
    assert "a1b2c3d4e5" not in audit.body(Event(actor, AuditAction.EXPORT_CREATED, "export:x"))  # never a key id


@pytest.mark.parametrize("count", [0, 1, 9, 10, 500, 123456])
def test_a_counted_events_body_is_the_text_around_its_count(count: int) -> None:
    # Given a disclosure whose count a statement decides (a roster page's, in the database)
    actor = audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", Role.OWNER, "req-1")
    shown = Event(actor, AuditAction.STUDENT_CODE_SHOWN, "students", after={"count": 0})
    # When its body is split around the count
    before, after = audit.body_around_count(shown)
    # Then any count spliced in as PostgreSQL writes it is the body `append` hashes
    assert before + str(count) + after == audit.body(dataclasses.replace(shown, after={"count": count}))


def test_only_an_event_whose_after_is_its_count_has_a_body_around_it() -> None:
    actor = audit.Actor("ops", None, None)
    with pytest.raises(ValueError, match="count"):
        audit.body_around_count(Event(actor, AuditAction.STUDENT_CODE_SHOWN, "students", after={"count": 1, "x": 2}))
