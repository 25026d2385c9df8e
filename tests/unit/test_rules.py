"""The rules as plain functions, each decision by a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from exam_depository import rules
from exam_depository.errors import AttemptsUsed, TooManyOpenForms
from exam_depository.models import SubmissionStatus
from exam_depository.rules import (
    Duplicate,
    FormReused,
    Orphan,
    Record,
    Reject,
    SeenObject,
    StudentFacts,
    UploadFacts,
    must_not_exist,
    recording_decision,
)

MAX = 3 * 1024 * 1024


def test_attempts_left_never_goes_negative() -> None:
    assert rules.attempts_left(0, 5) == 5
    assert rules.attempts_left(5, 5) == 0
    assert rules.attempts_left(7, 5) == 0


def test_a_current_submission_expires_at_its_instant() -> None:
    expires = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert rules.status_at("current", expires, expires - timedelta(microseconds=1)) == "current"
    assert rules.status_at("current", expires, expires) == "expired"
    assert rules.status_at("superseded", expires, expires + timedelta(days=1)) == "superseded"


def test_retention_is_counted_from_when_s3_accepted_the_bytes() -> None:
    submitted = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert rules.expiry_of(submitted, 3) == datetime(2026, 11, 28, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("new", "current", "expected"), [(5, None, "current"), (5, 3, "current"), (3, 5, "superseded")]
)
def test_the_upload_issued_last_is_current(new: int, current: int | None, expected: str) -> None:
    assert rules.placement(new, current) == expected


@pytest.mark.parametrize(
    ("used", "open_forms", "refusal"),
    [(0, 0, None), (4, 9, None), (5, 0, AttemptsUsed), (6, 0, AttemptsUsed), (4, 10, TooManyOpenForms)],
)
def test_a_form_is_refused_when_attempts_are_used_or_too_many_are_open(
    used: int, open_forms: int, refusal: type | None
) -> None:
    now = datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
    found = rules.form_refusal(
        window=rules.Window(now - timedelta(hours=1), now + timedelta(hours=1), now + timedelta(hours=1)),
        now=now,
        attempts_used=used,
        max_attempts=5,
        open_forms=open_forms,
        max_open_forms=10,
        form_ttl_s=600,
    )
    if refusal is None:
        assert found is None
    else:
        assert type(found) is refusal


PENDING = UploadFacts("pending", None, issue_seq=7)
RECORDED = UploadFacts("recorded", "v1", issue_seq=7)
REJECTED = UploadFacts("rejected", "v1", issue_seq=7)
FRESH = StudentFacts(attempts_used=0, max_attempts=5, current_issue_seq=None)
NEWER_CURRENT = StudentFacts(attempts_used=2, max_attempts=5, current_issue_seq=9)
OLDER_CURRENT = StudentFacts(attempts_used=2, max_attempts=5, current_issue_seq=3)
USED_UP = StudentFacts(attempts_used=5, max_attempts=5, current_issue_seq=3)


@pytest.mark.parametrize(
    ("upload", "seen", "student", "decision"),
    [
        (None, SeenObject("v1", 10), None, Orphan()),
        (PENDING, SeenObject("v1", 10), FRESH, Record("current")),
        (PENDING, SeenObject("v1", 10), OLDER_CURRENT, Record("current")),
        (PENDING, SeenObject("v1", 10), NEWER_CURRENT, Record("superseded")),
        (PENDING, SeenObject("v1", MAX), FRESH, Record("current")),
        (PENDING, SeenObject("v1", MAX + 1), FRESH, Reject("too_large")),
        (PENDING, SeenObject("v1", 0), FRESH, Reject("empty")),
        (PENDING, SeenObject("v1", 10), USED_UP, Reject("limit_reached")),
        (RECORDED, SeenObject("v1", 10), FRESH, Duplicate()),
        (RECORDED, SeenObject("v2", 10), FRESH, FormReused()),
        (RECORDED, SeenObject("v2", MAX + 1), FRESH, FormReused()),
        (REJECTED, SeenObject("v1", 10), FRESH, Duplicate()),
        (REJECTED, SeenObject("v2", 10), FRESH, FormReused()),
    ],
    ids=[
        "no form",
        "first upload",
        "newer than the current",
        "older than the current",
        "exactly 3 MiB",
        "one byte over",
        "empty",
        "attempts used",
        "same version again",
        "form posted again",
        "form posted again too large",
        "rejected version again",
        "rejected form posted again",
    ],
)
def test_what_becomes_of_an_uploaded_version(
    upload: UploadFacts | None, seen: SeenObject, student: StudentFacts | None, decision: rules.Decision
) -> None:
    assert recording_decision(upload, seen, student, max_bytes=MAX) == decision


@pytest.mark.parametrize(
    ("upload", "submission", "version", "must_go"),
    [
        (None, None, "v1", True),
        (PENDING, None, "v1", False),
        (RECORDED, "current", "v1", False),
        (RECORDED, "current", "v2", True),
        (RECORDED, "superseded", "v1", True),
        (RECORDED, "expired", "v1", True),
        (REJECTED, None, "v1", True),
        (REJECTED, None, "v2", True),
    ],
    ids=["orphan", "pending", "current", "reuse of the current's form", "superseded", "expired", "rejected", "reuse"],
)
def test_which_versions_must_not_exist(
    upload: UploadFacts | None, submission: SubmissionStatus | None, version: str, must_go: bool
) -> None:
    assert must_not_exist(upload, submission, version) is must_go
