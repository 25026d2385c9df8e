"""The question paper's rules by tables of cases: what becomes of a paper S3 accepted
(`paper_decision`, and a batch of them, `weigh_papers`), when an examiner may have a form
(`paper_form_refusal`) and a student a link (`paper_refusal`), the key. No database: the
integration tests prove the same against PostgreSQL and moto (tests/integration/test_papers.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from exam_depository.domain.errors import (
    DomainError,
    ExamClosed,
    ExamNotOpen,
    NoPaper,
    NotStarted,
    PaperLocked,
    TooManyOpenForms,
)
from exam_depository.domain.paper_recording import (
    ExamPaper,
    PaperArrival,
    PaperDecision,
    PaperFacts,
    PaperForm,
    RecordPaper,
    RejectPaper,
    SeenPaper,
    paper_decision,
    weigh_papers,
)
from exam_depository.domain.papers import paper_form_refusal, paper_key, paper_refusal, starts_as_pdf
from exam_depository.domain.recording import Duplicate, FormReused, Orphan
from exam_depository.domain.rules import Window
from exam_depository.domain.statuses import PaperStatus

MAX = 20 * 1024 * 1024
OPENS = datetime(2026, 12, 14, 9, tzinfo=UTC)
BEFORE = OPENS - timedelta(hours=1)
SHA = "a" * 64


def seen(
    version: str = "v1", size: int = 1000, sha256: str | None = SHA, pdf: bool = True, at: datetime = BEFORE
) -> SeenPaper:
    return SeenPaper(version, size, sha256, pdf, at)


def facts(
    issue: int = 1, status: PaperStatus = "pending", version: str | None = None, sha256: str | None = None
) -> PaperFacts:
    return PaperFacts(status, version, issue, sha256)


DECISIONS: dict[str, tuple[PaperFacts | None, SeenPaper, int | None, PaperDecision]] = {
    "no form was issued for the key": (None, seen(), None, Orphan()),
    "the first paper of an exam is current": (facts(), seen(), None, RecordPaper("current")),
    "a paper of a form issued after the current one replaces it": (facts(3), seen(), 2, RecordPaper("current")),
    "a paper of a form issued before the current one is never current": (
        facts(2),
        seen(),
        3,
        RecordPaper("superseded"),
    ),
    "the recorded version notified again": (facts(status="current", version="v1"), seen("v1"), 1, Duplicate()),
    "a rejected version notified again": (facts(status="rejected", version="v1"), seen("v1"), None, Duplicate()),
    "the form posted again after its paper was recorded": (
        facts(status="current", version="v1"),
        seen("v2"),
        1,
        FormReused(),
    ),
    "the form posted again after its paper was replaced": (
        facts(status="superseded", version="v1"),
        seen("v2"),
        2,
        FormReused(),
    ),
    "an empty file": (facts(), seen(size=0, sha256=None, pdf=False), None, RejectPaper("empty")),
    "a byte over 20 MiB": (facts(), seen(size=MAX + 1, sha256=None, pdf=False), None, RejectPaper("too_large")),
    "exactly 20 MiB": (facts(), seen(size=MAX), None, RecordPaper("current")),
    "other bytes than the checksum the form pinned": (
        facts(sha256="b" * 64),
        seen(),
        None,
        RejectPaper("checksum_mismatch"),
    ),
    "the bytes the form pinned": (facts(sha256=SHA), seen(), None, RecordPaper("current")),
    "not a PDF": (facts(), seen(pdf=False), None, RejectPaper("not_pdf")),
    "accepted the instant the exam opens (the opening moved earlier after the form)": (
        facts(),
        seen(at=OPENS),
        None,
        RejectPaper("after_opening"),
    ),
    "accepted a microsecond before the opening": (
        facts(),
        seen(at=OPENS - timedelta(microseconds=1)),
        None,
        RecordPaper("current"),
    ),
    "empty comes before not a PDF and after the opening": (
        facts(),
        seen(size=0, sha256=None, pdf=False, at=OPENS),
        None,
        RejectPaper("empty"),
    ),
}


@pytest.mark.parametrize("case", DECISIONS)
def test_what_becomes_of_a_paper_s3_accepted(case: str) -> None:
    form, paper, current, expected = DECISIONS[case]
    assert paper_decision(form, paper, opens_at=OPENS, current_issue_seq=current, max_bytes=MAX) == expected


def arrival(
    key: str, version: str = "v1", sequencer: str = "01", *, pdf: bool = True, at: datetime = BEFORE
) -> PaperArrival:
    return PaperArrival(key, seen(version, pdf=pdf, at=at), sequencer)


@dataclass(frozen=True)
class BatchCase:
    arrivals: list[PaperArrival]
    forms: dict[str, PaperForm]
    exams: dict[int, ExamPaper]
    # Per arrival, in the batch's order: its decision, and whether it ends its exam's current paper.
    expected: list[tuple[PaperDecision, bool]]
    current_moved: list[int]


BATCHES = {
    "two forms delivered in reverse: weighed in issue order, the later ends current": BatchCase(
        [arrival("k2"), arrival("k1")],
        {"k1": PaperForm(7, facts(1)), "k2": PaperForm(7, facts(2))},
        {7: ExamPaper(OPENS, None)},
        [(RecordPaper("current"), True), (RecordPaper("current"), False)],
        [7],
    ),
    "a form posted twice in one batch: the first version S3 accepted is the paper, the other a reuse": BatchCase(
        [arrival("k1", "v2", "02"), arrival("k1", "v1", "01")],
        {"k1": PaperForm(7, facts(1))},
        {7: ExamPaper(OPENS, None)},
        [(FormReused(), False), (RecordPaper("current"), True)],
        [7],
    ),
    "a rejected paper leaves the exam's current one in place": BatchCase(
        [arrival("k2", pdf=False)],
        {"k2": PaperForm(7, facts(2))},
        {7: ExamPaper(OPENS, 1)},
        [(RejectPaper("not_pdf"), False)],
        [],
    ),
    "each exam its own current paper; a key without a form is an orphan": BatchCase(
        [arrival("a"), arrival("b"), arrival("stray")],
        {"a": PaperForm(7, facts(4)), "b": PaperForm(8, facts(5))},
        {7: ExamPaper(OPENS, 3), 8: ExamPaper(OPENS, 6)},
        [(RecordPaper("current"), True), (RecordPaper("superseded"), False), (Orphan(), False)],
        [7],
    ),
    "each exam's own opening": BatchCase(
        [arrival("a", at=OPENS), arrival("b", at=OPENS)],
        {"a": PaperForm(7, facts(1)), "b": PaperForm(8, facts(2))},
        {7: ExamPaper(OPENS, None), 8: ExamPaper(OPENS + timedelta(days=1), None)},
        [(RejectPaper("after_opening"), False), (RecordPaper("current"), True)],
        [8],
    ),
}


@pytest.mark.parametrize("case", BATCHES)
def test_a_batch_of_papers_is_weighed_in_the_order_their_forms_were_issued(case: str) -> None:
    given = BATCHES[case]
    batch = weigh_papers(given.arrivals, given.forms, given.exams, max_bytes=MAX)
    by_arrival = {weighed.arrival: (weighed.decision, weighed.current) for weighed in batch.weighed}
    assert [by_arrival[index] for index in range(len(given.arrivals))] == given.expected
    assert batch.current_moved == given.current_moved


NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)

FORM_REFUSALS: dict[str, tuple[datetime, int, type[DomainError] | None]] = {
    "an exam opening tomorrow": (NOW + timedelta(days=1), 0, None),
    "an exam opening in two seconds (the form lives a second)": (NOW + timedelta(seconds=2), 0, None),
    "an exam opening in half a second (no whole second left)": (NOW + timedelta(milliseconds=500), 0, PaperLocked),
    "an exam opening now": (NOW, 0, PaperLocked),
    "an exam that opened": (NOW - timedelta(days=1), 0, PaperLocked),
    "four unused forms": (NOW + timedelta(days=1), 4, None),
    "five unused forms": (NOW + timedelta(days=1), 5, TooManyOpenForms),
    "an exam that opened, with five unused forms: locked first": (NOW - timedelta(days=1), 5, PaperLocked),
}


@pytest.mark.parametrize("case", FORM_REFUSALS)
def test_an_examiner_gets_a_form_for_the_paper_until_the_exam_opens(case: str) -> None:
    opens_at, open_forms, expected = FORM_REFUSALS[case]
    refusal = paper_form_refusal(opens_at=opens_at, now=NOW, ttl_s=3600, open_forms=open_forms, max_open_forms=5)
    assert type(refusal) is expected if expected else refusal is None
    if isinstance(refusal, PaperLocked):
        assert refusal.extra == {"opens_at": opens_at}


WINDOW = Window(NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW + timedelta(hours=2))
STARTED = NOW - timedelta(minutes=30)

LINK_REFUSALS: dict[str, tuple[Window, bool, datetime | None, bool, type[DomainError] | None]] = {
    "timed, started, within the window": (WINDOW, True, STARTED, True, None),
    "timed, not started": (WINDOW, True, None, True, NotStarted),
    "timed, not started, and no paper: not started first": (WINDOW, True, None, False, NotStarted),
    "untimed, open": (WINDOW, False, None, True, None),
    "untimed, before the opening": (
        Window(NOW + timedelta(minutes=1), WINDOW.due_at, WINDOW.cutoff_at),
        False,
        None,
        True,
        ExamNotOpen,
    ),
    "untimed, the instant it opens": (Window(NOW, WINDOW.due_at, WINDOW.cutoff_at), False, None, True, None),
    "in the late period": (
        Window(WINDOW.opens_at, NOW - timedelta(minutes=1), WINDOW.cutoff_at),
        True,
        STARTED,
        True,
        None,
    ),
    "at the cut-off": (Window(WINDOW.opens_at, NOW - timedelta(hours=1), NOW), True, STARTED, True, ExamClosed),
    "half a second before the cut-off (a link would not live a second)": (
        Window(WINDOW.opens_at, WINDOW.opens_at, NOW + timedelta(milliseconds=500)),
        True,
        STARTED,
        True,
        ExamClosed,
    ),
    "a second before the cut-off": (
        Window(WINDOW.opens_at, WINDOW.opens_at, NOW + timedelta(seconds=1)),
        True,
        STARTED,
        True,
        None,
    ),
    "within the window, no paper": (WINDOW, True, STARTED, False, NoPaper),
    "after the cut-off, no paper: closed first": (
        Window(WINDOW.opens_at, WINDOW.opens_at, NOW),
        True,
        STARTED,
        False,
        ExamClosed,
    ),
}


@pytest.mark.parametrize("case", LINK_REFUSALS)
def test_a_student_gets_a_link_to_the_paper_once_their_clock_runs_and_until_their_cut_off(case: str) -> None:
    window, timed, started_at, has_paper, expected = LINK_REFUSALS[case]
    refusal = paper_refusal(window, timed=timed, started_at=started_at, now=NOW, ttl_s=60, has_paper=has_paper)
    assert type(refusal) is expected if expected else refusal is None


def test_a_paper_key_is_under_its_exam_and_never_repeats() -> None:
    keys = [paper_key("papers/", 42) for _ in range(1000)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        # 32 random bytes, URL-safe base64 without padding: 43 characters, nothing to escape.
        assert re.fullmatch(r"papers/42/[A-Za-z0-9_-]{43}/question-paper\.pdf", key), key


@pytest.mark.parametrize(
    ("first_bytes", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", True),
        (b"\xef\xbb\xbf%PDF-1.4", True),  # a header after a few bytes of junk, as readers accept
        (b" " * 1019 + b"%PDF-", True),  # the header ends on the 1,024th byte
        (b" " * 1020 + b"%PDF-", False),  # one byte too far
        (b"PK\x03\x04", False),  # a .docx renamed .pdf
        (b"%PDF", False),
        (b"", False),
    ],
)
def test_a_pdf_is_known_by_its_header_within_its_first_1024_bytes(first_bytes: bytes, expected: bool) -> None:
    assert starts_as_pdf(first_bytes) is expected
