from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from exam_depository import rules


def test_attempts_left_never_goes_negative() -> None:
    assert rules.attempts_left(0, 5) == 5
    assert rules.attempts_left(5, 5) == 0
    assert rules.attempts_left(7, 5) == 0


def test_a_current_submission_expires_at_its_instant() -> None:
    expires = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert rules.status_at("current", expires, expires - timedelta(microseconds=1)) == "current"
    assert rules.status_at("current", expires, expires) == "expired"
    assert rules.status_at("superseded", expires, expires + timedelta(days=1)) == "superseded"


def test_retention_is_counted_from_recording() -> None:
    recorded = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert rules.expiry_of(recorded, 72) == datetime(2026, 11, 28, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("new", "current", "expected"), [(5, None, "current"), (5, 3, "current"), (3, 5, "superseded")]
)
def test_the_upload_issued_last_is_current(new: int, current: int | None, expected: str) -> None:
    assert rules.placement(new, current) == expected


@pytest.mark.parametrize(
    ("sequencer", "recorded", "newer"),
    [("0A", None, True), ("0B", "0A", True), ("0A", "0A", False), ("09", "0A", False), ("100", "FF", True)],
)
def test_events_on_one_key_are_ordered_by_the_hex_value_of_the_sequencer(
    sequencer: str, recorded: str | None, newer: bool
) -> None:
    assert rules.is_newer_event(sequencer, recorded) is newer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C:\\fakepath\\answer.pdf", "answer.pdf"),
        ("../../etc/passwd", "passwd"),
        ("a/", "answer"),
        ("Zoe\u0308.txt", "Zoë.txt"),
    ],
)
def test_client_filenames_lose_any_path(raw: str, expected: str) -> None:
    assert rules.client_filename(raw) == expected


def test_object_keys_are_chosen_by_the_server_and_unique_per_upload() -> None:
    upload_id = uuid.UUID("0f8e2a4c-3b1d-4e5f-9a6b-7c8d9e0f1a2b")
    assert rules.object_key("submissions/", upload_id, "my answers.pdf") == f"submissions/{upload_id}/my answers.pdf"
    assert rules.object_key("submissions/", upload_id, "a\\b\x01") == f"submissions/{upload_id}/a_b_"


def test_attachment_disposition_keeps_the_original_name_and_an_ascii_fallback() -> None:
    header = rules.attachment_disposition('Réponses "finales"; v2.pdf')
    assert header.startswith('attachment; filename="Reponses _finales__ v2.pdf"; ')
    assert header.endswith("filename*=UTF-8''R%C3%A9ponses%20%22finales%22%3B%20v2.pdf")
