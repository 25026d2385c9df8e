"""An exam's time zone is one a browser can show: canonical IANA names from tzdata's zone list,
never the files beside them in a zoneinfo folder (which Python's ZoneInfo opens, and
Intl.DateTimeFormat refuses with a RangeError). tests/e2e/test_time_zones.py checks every
accepted name in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from exam_depository.api.models.exams import Exam
from exam_depository.domain import instants
from exam_depository.domain.exam_changes import ExamChange
from exam_depository.domain.exam_inputs import ExamIn
from pydantic import ValidationError

EXAM: dict[str, Any] = {
    "exam_id": "chem-1",
    "title": "Chemistry",
    "opens_at": "2026-12-14T09:00:00+01:00",
    "due_at": "2026-12-14T12:00:00+01:00",
    "cutoff_at": "2026-12-14T12:15:00+01:00",
}


@pytest.mark.parametrize(
    "name",
    [
        "localtime",  # the server's own zone, a file beside the zones
        "posixrules",
        "right/UTC",  # the right/ tree counts leap seconds, which no browser does
        "posix/Europe/Paris",  # the posix/ tree: the same zones under names browsers do not know
        "Factory",  # no place: "-00"
        "europe/paris",
        "Europe/Paris/",
        "Mars/Olympus",
        "zone.tab",
        "iso3166.tab",
        "tzdata.zi",
    ],
)
def test_a_name_a_browser_cannot_show_is_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ExamIn.model_validate({**EXAM, "timezone": name})
    assert "IANA time zone name that browsers know, such as Europe/Paris" in str(refused.value)
    with pytest.raises(ValidationError):
        ExamChange.model_validate({"timezone": name})


@pytest.mark.parametrize(
    "name", ["Europe/Paris", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT-14", "Asia/Kolkata"]
)
def test_canonical_names_are_accepted(name: str) -> None:
    assert ExamIn.model_validate({**EXAM, "timezone": name}).timezone == name


def test_the_accepted_names_are_tzdatas_zones_and_nothing_beside_them() -> None:
    names = instants.time_zone_names()
    assert len(names) > 400
    assert not any(name.startswith(("posix/", "right/")) for name in names)
    assert {"localtime", "posixrules", "Factory"}.isdisjoint(names)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("posix/Europe/Paris", "Europe/Paris"),
        ("right/America/New_York", "America/New_York"),
        ("right/UTC", "UTC"),
        ("localtime", "UTC"),
        ("posixrules", "UTC"),
        ("Factory", "UTC"),
        ("posix/localtime", "UTC"),
    ],
)
def test_an_exam_stored_with_a_name_browsers_refuse_is_answered_with_one_they_know(stored: str, shown: str) -> None:
    # Exams created before the names were checked this way may hold one of these.
    exam = Exam.model_validate(
        {
            **{name: value for name, value in EXAM.items() if name != "exam_id"},
            "exam_id": "chem-1",
            "timezone": stored,
            "state": "upcoming",
            "max_attempts": 5,
            "anonymous": False,
            "created_at": "2026-12-01T09:00:00Z",
            "files_deleted_from": "2026-12-17T11:15:00Z",
            "counts": {"students": 0, "handed_in": 0, "late": 0, "none_yet": 0, "started": 0},
            "duration_minutes": None,
            "accepted_types": [],
            "check_pdfs": False,
            "scan_counts": {"scanning": 0, "threat": 0, "unsupported": 0, "failed": 0},
            "email_receipts": True,
            "language": "en",
            "email_counts": {"queued": 0, "sent": 0, "delivered": 0, "bounced": 0, "complained": 0, "failed": 0},
            "paper": None,
            "paper_uploads": [],
            "role": "owner",
            "allowed_actions": ["exam.read"],
        }
    )
    assert exam.timezone == shown
