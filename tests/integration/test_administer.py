"""The ops function (administer: `make link-key`, `make assign-exam`), invoked as ops invoke it."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from local_stack.functions import LambdaContext, sample_event
from tests.integration.conftest import Api


def test_a_rotated_key_keeps_its_examiners_exams(api: Api, handler: Callable[[str], ModuleType]) -> None:
    # Given exams created with one key; when ops link a new key to that key's examiner
    administer = handler("administer")
    linked = administer.lambda_handler(sample_event("administer", "link_key"), LambdaContext())

    # Then the new key sees them, as the old one does until it is disabled
    assert linked["done"].startswith("key f6g7h8i9j0 now belongs")
    mine = api.call("list_exams", "first_page", api_key_id="f6g7h8i9j0").body["items"]
    assert [exam["exam_id"] for exam in mine] == ["physics-2026-12"]
    with pytest.raises(Exception, match="already belongs to an examiner"):
        administer.lambda_handler(sample_event("administer", "link_key"), LambdaContext())
