"""The ops function (administer: `make link-key`, `make assign-exam`), invoked as ops invoke it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from types import ModuleType

import psycopg
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


def test_ops_lift_an_address_s_suppression_whatever_its_case_and_say_when_there_was_none(
    handler: Callable[[str], ModuleType], aws: None, clean_database: str
) -> None:
    # Given an address suppressed after a bounce (kept by its hash only)
    address = "ana.example@example.edu"
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO suppressed_address (address_sha256, reason, since) VALUES (%s, 'bounce', now())",
            (hashlib.sha256(address.encode()).hexdigest(),),
        )

    # When ops lift it (as written by a person: any case), twice
    administer = handler("administer")
    event = sample_event("administer", "unsuppress") | {"address": "Ana.Example@EXAMPLE.edu"}
    first = administer.lambda_handler(event, LambdaContext())
    second = administer.lambda_handler(event, LambdaContext())

    # Then it is gone, and the second time there was nothing to lift
    assert first["done"] == "mail may go to the address again"
    assert second["done"] == "the address was not suppressed"
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM suppressed_address").fetchone() == (0,)
    with pytest.raises(ValueError, match="address"):
        administer.lambda_handler(
            sample_event("administer", "unsuppress") | {"address": "not an address"}, LambdaContext()
        )
