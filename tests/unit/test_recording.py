"""The recorder's batch decision, `recording.weigh_batch`, by a table of cases: which upload of a
batch is recorded and ends current, rejected, a duplicate, a reused form or an orphan, in what
order they are weighed, and whose current submission moves. No database: the integration tests
prove the same against PostgreSQL (test_submissions.py, test_delivery_properties.py)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from exam_depository.adapters import pdfs
from exam_depository.domain.content_types import Content, Found, PdfFacts
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.recording import (
    Arrival,
    Form,
    Outcome,
    Record,
    Reject,
    SeenObject,
    StudentFacts,
    UploadFacts,
    must_not_exist,
    recording_decision,
    weigh_batch,
)
from exam_depository.domain.statuses import UploadStatus

from tests.waiting import wait_until

MAX = 3 * 1024 * 1024
CUTOFF = datetime(2026, 12, 14, 12, tzinfo=UTC)
SHA = "a" * 64


def form(
    issue: int,
    student: int = 1,
    status: UploadStatus = "pending",
    version: str | None = None,
    *,
    expected_sha256: str | None = None,
    expires: datetime | None = None,
) -> Form:
    return Form(student, UploadFacts(status, version, issue, expected_sha256, expires))


def arrival(
    key: str, version: str, sequencer: str = "01", size: int = 10, sha256: str | None = SHA, at: datetime | None = None
) -> Arrival:
    return Arrival(key, SeenObject(version, size, sha256, at), sequencer)


def student(used: int = 0, limit: int = 5, current: int | None = None, cutoff: datetime | None = None) -> StudentFacts:
    return StudentFacts(used, limit, current, cutoff)


@dataclass(frozen=True)
class Case:
    arrivals: list[Arrival]
    forms: dict[str, Form]
    students: dict[int, StudentFacts]
    # Per arrival, in the batch's order: its outcome, its attempt number if recorded, and whether
    # it ends the batch as its student's current submission.
    expected: list[tuple[Outcome, int | None, bool]]
    current_moved: list[int] = field(default_factory=list)
    weighed_in: list[int] | None = None  # the order the arrivals were weighed, when it matters


CASES = {
    "a first upload is recorded, current, attempt 1": Case(
        [arrival("k1", "v1")], {"k1": form(1)}, {1: student()}, [("recorded", 1, True)], [1]
    ),
    "an upload issued after the current one replaces it": Case(
        [arrival("k3", "v1")], {"k3": form(3)}, {1: student(used=2, current=2)}, [("recorded", 3, True)], [1]
    ),
    "an older upload arriving late is recorded, never current": Case(
        [arrival("k3", "v1")], {"k3": form(3)}, {1: student(used=1, current=5)}, [("superseded", 2, False)], []
    ),
    "two uploads of a student delivered in reverse: weighed in issue order, the later ends current": Case(
        [arrival("k2", "v1"), arrival("k1", "v1")],
        {"k1": form(1), "k2": form(2)},
        {1: student()},
        [("recorded", 2, True), ("recorded", 1, False)],
        [1],
        weighed_in=[1, 0],
    ),
    "the same notification twice in a batch: one record": Case(
        [arrival("k1", "v1"), arrival("k1", "v1")],
        {"k1": form(1)},
        {1: student()},
        [("recorded", 1, True), ("duplicate", None, False)],
        [1],
    ),
    "the version already recorded, delivered again": Case(
        [arrival("k1", "v1")],
        {"k1": form(1, status="recorded", version="v1")},
        {1: student(1, current=1)},
        [("duplicate", None, False)],
    ),
    "a form posted twice in a batch: the first version S3 accepted counts, whatever the delivery order": Case(
        [arrival("k1", "v2", sequencer="0A"), arrival("k1", "v1", sequencer="09")],
        {"k1": form(1)},
        {1: student()},
        [("form_reused", None, False), ("recorded", 1, True)],
        [1],
        weighed_in=[1, 0],
    ),
    "a recorded form posted again": Case(
        [arrival("k1", "v2")],
        {"k1": form(1, status="recorded", version="v1")},
        {1: student(1, current=1)},
        [("form_reused", None, False)],
    ),
    "a rejected form posted again": Case(
        [arrival("k1", "v2")],
        {"k1": form(1, status="rejected", version="v1")},
        {1: student()},
        [("form_reused", None, False)],
    ),
    "a key no form was issued for": Case([arrival("stray", "v1")], {}, {}, [("orphan", None, False)]),
    "a form whose student is gone": Case([arrival("k1", "v1")], {"k1": form(1)}, {}, [("orphan", None, False)]),
    "no attempt left": Case(
        [arrival("k6", "v1")], {"k6": form(6)}, {1: student(used=5, current=5)}, [("rejected", None, False)]
    ),
    "one attempt left, two uploads: the one issued first is recorded, the other rejected": Case(
        [arrival("k7", "v1"), arrival("k6", "v1")],
        {"k6": form(6), "k7": form(7)},
        {1: student(used=4, current=4)},
        [("rejected", None, False), ("recorded", 5, True)],
        [1],
        weighed_in=[1, 0],
    ),
    "empty": Case(
        [arrival("k1", "v1", size=0, sha256=None)], {"k1": form(1)}, {1: student()}, [("rejected", None, False)]
    ),
    "too large": Case(
        [arrival("k1", "v1", size=MAX + 1, sha256=None)], {"k1": form(1)}, {1: student()}, [("rejected", None, False)]
    ),
    "not the bytes the page hashed": Case(
        [arrival("k1", "v1", sha256="b" * 64)],
        {"k1": form(1, expected_sha256=SHA)},
        {1: student()},
        [("rejected", None, False)],
    ),
    "accepted after a cut-off moved earlier than the form's expiry": Case(
        [arrival("k1", "v1", at=CUTOFF + timedelta(seconds=1))],
        {"k1": form(1, expires=CUTOFF + timedelta(minutes=5))},
        {1: student(cutoff=CUTOFF)},
        [("rejected", None, False)],
    ),
    "a rejected object delivered again is a duplicate": Case(
        [arrival("k1", "v1", size=0, sha256=None), arrival("k1", "v1", size=0, sha256=None)],
        {"k1": form(1)},
        {1: student()},
        [("rejected", None, False), ("duplicate", None, False)],
    ),
    "two students in one batch, each on their own": Case(
        [arrival("b1", "v1"), arrival("a1", "v1")],
        {"a1": form(1, student=1), "b1": form(2, student=2)},
        {1: student(), 2: student(used=1, current=1)},
        [("recorded", 2, True), ("recorded", 1, True)],
        [1, 2],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_batch_is_weighed_in_issue_order_and_the_last_issued_recorded_upload_ends_current(case: Case) -> None:
    batch = weigh_batch(case.arrivals, case.forms, case.students, max_bytes=MAX)

    by_arrival = {weighed.arrival: weighed for weighed in batch.weighed}
    assert [(w.outcome, w.attempt, w.current) for _, w in sorted(by_arrival.items())] == case.expected
    assert batch.current_moved == case.current_moved
    if case.weighed_in is not None:
        assert [weighed.arrival for weighed in batch.weighed] == case.weighed_in


def test_every_rejection_names_its_reason() -> None:
    reasons = {
        name: weigh_batch(case.arrivals, case.forms, case.students, max_bytes=MAX).weighed[0].decision
        for name, case in CASES.items()
        if name in ("no attempt left", "empty", "too large", "not the bytes the page hashed")
        or name.startswith("accepted after")
    }
    assert {name: getattr(decision, "reason", None) for name, decision in reasons.items()} == {
        "no attempt left": "limit_reached",
        "empty": "empty",
        "too large": "too_large",
        "not the bytes the page hashed": "checksum_mismatch",
        "accepted after a cut-off moved earlier than the form's expiry": "after_cutoff",
    }


def test_the_batch_leaves_what_it_was_given_unchanged() -> None:
    forms, students = {"k1": form(1)}, {1: student()}
    weigh_batch([arrival("k1", "v1")], forms, students, max_bytes=MAX)
    assert forms == {"k1": form(1)}
    assert students == {1: student()}


# --- a file's content ------------------------------------------------------------------------

_PDF = Content(Found("pdf", "pdf", "a PDF"))
_PROGRAM = Content(Found("windows-program", None, "a Windows program"))


def _decide(facts: UploadFacts, seen: SeenObject, used: int = 0, cutoff: datetime | None = None) -> object:
    return recording_decision(facts, seen, student(used, 5, None, cutoff), max_bytes=MAX)


@pytest.mark.parametrize(
    ("seen", "used", "cutoff", "expected"),
    [
        # a wrong type is told after the object's own faults...
        (SeenObject("v1", 0, None, None, _PROGRAM), 0, None, Reject("empty")),
        (SeenObject("v1", MAX + 1, None, None, _PROGRAM), 0, None, Reject("too_large")),
        (SeenObject("v1", 10, "b" * 64, None, _PROGRAM), 0, None, Reject("checksum_mismatch")),
        # ...and before the window and the limit: a student who sent the wrong file is told so
        (SeenObject("v1", 10, SHA, CUTOFF + timedelta(minutes=1), _PROGRAM), 0, CUTOFF, Reject("wrong-type")),
        (SeenObject("v1", 10, SHA, None, _PROGRAM), 5, None, Reject("wrong-type")),
        # a PDF that must open: a password first, then damage; then the window and the limit
        (
            SeenObject("v1", 10, SHA, None, Content(_PDF.found, PdfFacts(False, True, None))),
            5,
            None,
            Reject("pdf-encrypted"),
        ),
        (
            SeenObject("v1", 10, SHA, None, Content(_PDF.found, PdfFacts(False, False, None))),
            5,
            None,
            Reject("pdf-unreadable"),
        ),
        (SeenObject("v1", 10, SHA, None, _PDF), 5, None, Reject("limit_reached")),
        # not identified where the form restricts its types: never accepted blind
        (SeenObject("v1", 10, SHA, None, None), 0, None, Reject("wrong-type")),
    ],
)
def test_the_contents_reasons_come_in_their_order(
    seen: SeenObject, used: int, cutoff: datetime | None, expected: Reject
) -> None:
    facts = UploadFacts("pending", None, 1, SHA, CUTOFF + timedelta(hours=1), ("pdf",), True)

    assert _decide(facts, seen, used, cutoff) == expected


def test_a_pdf_without_text_is_recorded_with_a_warning_not_refused() -> None:
    facts = UploadFacts("pending", None, 1, accepted_types=("pdf",), check_pdfs=True)
    scanned = Content(_PDF.found, PdfFacts(opens=True, needs_password=False, has_text=False))
    with_text = Content(_PDF.found, PdfFacts(opens=True, needs_password=False, has_text=True))

    assert _decide(facts, SeenObject("v1", 10, SHA, None, scanned)) == Record("current", ("scanned_pdf",))
    assert _decide(facts, SeenObject("v1", 10, SHA, None, with_text)) == Record("current")


def test_a_form_for_any_type_records_whatever_the_bytes_are() -> None:
    facts = UploadFacts("pending", None, 1)

    assert _decide(facts, SeenObject("v1", 10, SHA, None, _PROGRAM)) == Record("current")
    assert _decide(facts, SeenObject("v1", 10, SHA)) == Record("current")


def test_a_superseded_threat_is_kept_until_its_retention_and_every_other_superseded_file_goes() -> None:
    recorded = UploadFacts("recorded", "v1", 1)

    assert must_not_exist(recorded, "superseded", "v1", "threat") is False  # quarantined, for the records
    assert must_not_exist(recorded, "superseded", "v1", "clean") is True
    assert must_not_exist(recorded, "superseded", "v1", None) is True
    assert must_not_exist(recorded, "expired", "v1", "threat") is True  # its retention ended
    assert must_not_exist(recorded, "superseded", "v2", "threat") is True  # another version of its key


def test_a_superseded_file_kept_for_a_current_one_not_downloadable_is_kept() -> None:
    recorded = UploadFacts("recorded", "v1", 1)

    assert must_not_exist(recorded, "superseded", "v1", "clean", kept_in_place=True) is False
    assert must_not_exist(recorded, "superseded", "v1", None, kept_in_place=True) is False
    # Its own scan not ended yet: it may turn out clean, the answer to serve
    assert must_not_exist(recorded, "superseded", "v1", "scanning", kept_in_place=True) is False
    assert must_not_exist(recorded, "superseded", "v1", "clean", kept_in_place=False) is True  # the later one is clean
    assert (
        must_not_exist(recorded, "superseded", "v2", "clean", kept_in_place=True) is True
    )  # another version of its key
    assert must_not_exist(recorded, "expired", "v1", "clean", kept_in_place=True) is True  # its retention ended


def test_pdfs_are_checked_one_at_a_time_so_their_children_fit_in_the_recorders_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recorder reads a batch in ten threads; each PDF check runs a child of 128 MiB: two
    children at once never run, whatever the threads do."""
    inside: list[bytes] = []  # the checks in their child now
    most_at_once = 0
    let_go = threading.Event()

    def child_held_until_let_go(args: list[str], *, input: bytes, **_: object) -> subprocess.CompletedProcess[bytes]:
        nonlocal most_at_once
        inside.append(input)
        most_at_once = max(most_at_once, len(inside))
        assert let_go.wait(timeout=60), "never let go"
        inside.remove(input)
        answer = {"opens": True, "needs_password": False, "has_text": True, "problem": None}
        return subprocess.CompletedProcess(args, 0, stdout=json.dumps(answer).encode())

    # The child's run, held: a real child cannot be paused at will
    monkeypatch.setattr(subprocess, "run", child_held_until_let_go)
    with ThreadPoolExecutor(max_workers=2) as threads:
        # Given one check in its child
        first = threads.submit(pdfs.check_pdf, b"%PDF first")
        wait_until(lambda: inside == [b"%PDF first"], timeout_s=30, what="the first check entered its child")

        # Then a check that may not wait fails its event (retried), never entering the child
        with pytest.raises(ServiceUnavailable):
            pdfs.check_pdf(b"%PDF impatient", deadline=time.monotonic())

        # And a check that may wait is observed waiting for the first, outside the child
        second = threads.submit(pdfs.check_pdf, b"%PDF second")
        # (the semaphore's own queue of waiting threads: CPython's Condition keeps it)
        waiting = pdfs._ONE_AT_A_TIME._cond._waiters  # type: ignore[attr-defined]
        wait_until(lambda: len(waiting) == 1, timeout_s=30, what="the second check waits")
        assert inside == [b"%PDF first"]

        # When the first is let go, the second runs, and both answer
        let_go.set()
        assert first.result(timeout=60).opens
        assert second.result(timeout=60).opens
    assert most_at_once == 1


def _child(
    held: threading.Event, inside: list[bytes], timeouts: dict[bytes, float]
) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """The child's run as the checks see it: a PDF starting `%PDF hostile` takes the child until
    `held` is set, then is killed at its wall limit; `%PDF slow` is killed at once (its limit, or
    the deadline: what it was given is kept in `timeouts`); any other opens."""

    def run(args: list[str], *, input: bytes, timeout: float, **_: object) -> subprocess.CompletedProcess[bytes]:
        timeouts[input] = timeout
        inside.append(input)
        try:
            if input.startswith(b"%PDF hostile"):
                assert held.wait(timeout=60), "never let go"
                raise subprocess.TimeoutExpired(args, timeout)
            if input.startswith(b"%PDF slow"):
                raise subprocess.TimeoutExpired(args, timeout)
        finally:
            inside.remove(input)
        answer = {"opens": True, "needs_password": False, "has_text": True, "problem": None}
        return subprocess.CompletedProcess(args, 0, stdout=json.dumps(answer).encode())

    return run


def test_pdfs_that_take_the_child_to_its_limit_delay_the_other_checks_of_their_batch_until_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile student's PDFs, each holding the one child for its whole wall limit, delay the
    honest checks of their batch; they wait until the batch's deadline (the recorder's Lambda's
    end less what the batch does after), not a fixed time, and open."""
    held, inside, timeouts = threading.Event(), list[bytes](), dict[bytes, float]()
    monkeypatch.setattr(subprocess, "run", _child(held, inside, timeouts))
    deadline = time.monotonic() + 600
    with ThreadPoolExecutor(max_workers=5) as threads:
        # Given two hostile PDFs, the first in the child, and three honest ones waiting behind them
        hostile = [threads.submit(pdfs.check_pdf, b"%PDF hostile 1", deadline=deadline)]
        wait_until(lambda: inside == [b"%PDF hostile 1"], timeout_s=30, what="the first hostile PDF took the child")
        hostile.append(threads.submit(pdfs.check_pdf, b"%PDF hostile 2", deadline=deadline))
        honest = [threads.submit(pdfs.check_pdf, f"%PDF honest {n}".encode(), deadline=deadline) for n in range(3)]
        waiting = pdfs._ONE_AT_A_TIME._cond._waiters  # type: ignore[attr-defined]
        wait_until(lambda: len(waiting) == 4, timeout_s=30, what="the other four checks wait")

        # Then a check whose deadline comes while it waits fails its event (retried), never entering the child
        with pytest.raises(ServiceUnavailable, match="time ran out"):
            pdfs.check_pdf(b"%PDF late", deadline=time.monotonic() + 0.2)
        assert b"%PDF late" not in timeouts

        # When the hostile ones are killed at their wall limit
        held.set()

        # Then they are unreadable, and every honest one opens
        assert [future.result(timeout=60).problem for future in hostile] == [pdfs.BEYOND_LIMITS] * 2
        assert [future.result(timeout=60).opens for future in honest] == [True] * 3


def test_a_pdf_whose_check_is_cut_short_by_its_batchs_deadline_is_retried_not_counted_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held, inside, timeouts = threading.Event(), list[bytes](), dict[bytes, float]()
    monkeypatch.setattr(subprocess, "run", _child(held, inside, timeouts))

    # Given a slow PDF checked with less time left in its batch than the child's wall limit
    with pytest.raises(ServiceUnavailable, match="ran out of its batch's time"):
        pdfs.check_pdf(b"%PDF slow, near the deadline", deadline=time.monotonic() + 3)
    # Then the child was given only the time left, and the PDF is retried (its event fails)
    assert timeouts[b"%PDF slow, near the deadline"] <= 3

    # And with time enough, the same PDF killed at the child's own limit is unreadable
    facts = pdfs.check_pdf(b"%PDF slow, in time", deadline=time.monotonic() + 600)
    assert (facts.opens, facts.problem) == (False, pdfs.BEYOND_LIMITS)
    assert timeouts[b"%PDF slow, in time"] == pdfs.CHILD_WALL_S
