"""An exam's switches (anonymous, check_pdfs, email_receipts) take JSON's true and false only: a
client sending "yes", "false", 1 or 0 has made a mistake, and guessing what it meant (pydantic's lax
mode takes "yes" and 1 as true) would silently change what reviewers see or what is checked."""

from __future__ import annotations

from typing import Any

import pytest
from exam_depository.domain.exam_changes import ExamChange
from exam_depository.domain.exam_inputs import ExamIn
from pydantic import ValidationError

EXAM: dict[str, Any] = {
    "exam_id": "chem-1",
    "title": "Chemistry",
    "opens_at": "2026-12-14T09:00:00+01:00",
    "due_at": "2026-12-14T12:00:00+01:00",
    "cutoff_at": "2026-12-14T12:15:00+01:00",
    "timezone": "Europe/Paris",
}
SWITCHES = ("anonymous", "check_pdfs", "email_receipts")


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("value", ["yes", "false", "true", 1, 0, "1", None])
def test_a_switch_that_is_not_a_json_boolean_is_refused(switch: str, value: object) -> None:
    with pytest.raises(ValidationError, match=switch):
        ExamIn.model_validate({**EXAM, switch: value})
    if value is not None:  # a change's null is "not given" for these fields
        with pytest.raises(ValidationError, match=switch):
            ExamChange.model_validate({switch: value})


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("value", [True, False])
def test_a_json_boolean_is_taken_as_it_is(switch: str, value: bool) -> None:
    assert getattr(ExamIn.model_validate({**EXAM, switch: value}), switch) is value
    assert getattr(ExamChange.model_validate({switch: value}), switch) is value
