"""What a deployment's request does to the schema: `migration_step` by a table of cases, and how
a layer version's ARN is read."""

from __future__ import annotations

import pytest
from exam_depository.domain.deployment import MigrationFailed, MigrationStep, layer_version, migration_step

LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:SharedLayer"


def v(number: int, layer: str = LAYER) -> str:
    return f"{layer}:{number}"


@pytest.mark.parametrize(
    ("case", "request_type", "new", "old", "expected"),
    [
        ("a new stack, or one upgraded to migrate as it deploys", "Create", v(7), None, "migrate"),
        ("created without the layer property: still migrates", "Create", None, None, "migrate"),
        ("a deployment of a newer layer", "Update", v(8), v(7), "migrate"),
        ("a change of another property, same layer", "Update", v(8), v(8), "migrate"),
        ("versions past 9 compare as numbers, not text", "Update", v(10), v(9), "migrate"),
        ("a rollback to the older layer", "Update", v(7), v(8), "skip"),
        ("a rollback, numbers compared as numbers", "Update", v(9), v(10), "skip"),
        (
            "a rollback in another partition",
            "Update",
            v(3, "arn:aws-cn:lambda:cn-north-1:1:layer:L"),
            v(4, "arn:aws-cn:lambda:cn-north-1:1:layer:L"),
            "skip",
        ),
        ("another layer's name: not comparable, migrate", "Update", v(1, f"{LAYER}Renamed"), v(8), "migrate"),
        ("the previous value was no layer version ARN", "Update", v(8), "SharedLayer", "migrate"),
        ("no previous layer at all", "Update", v(8), None, "migrate"),
        ("no new layer at all", "Update", None, v(8), "migrate"),
        ("a version that is no number", "Update", f"{LAYER}:latest", v(8), "migrate"),
        ("the stack, or the resource, deleted", "Delete", v(8), None, "skip"),
        ("deleted after a failed create", "Delete", None, None, "skip"),
    ],
)
def test_migration_step(
    case: str, request_type: str, new: str | None, old: str | None, expected: MigrationStep
) -> None:
    assert migration_step(request_type, new, old) == expected, case


def test_a_request_type_cloudformation_never_sends_is_refused() -> None:
    with pytest.raises(ValueError, match="not 'Replace'"):
        migration_step("Replace", v(8), v(7))


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (v(7), (LAYER, 7)),
        (v(123), (LAYER, 123)),
        ("arn:aws:lambda:eu-west-1:123456789012:layer:SharedLayer", None),  # the layer, no version
        ("arn:aws:lambda:eu-west-1:123456789012:function:Migrate:7", None),  # a function's version
        (f"{LAYER}:7:extra", None),
        (f"{LAYER}:-7", None),
        ("", None),
        (None, None),
    ],
)
def test_layer_version(arn: str | None, expected: tuple[str, int] | None) -> None:
    assert layer_version(arn) == expected


def test_a_failed_migration_says_which_and_what_in_its_words() -> None:
    failed = MigrationFailed("0008.exam-rooms", "UndefinedColumn (SQLSTATE 42703)")
    assert str(failed) == "Migration 0008.exam-rooms failed: UndefinedColumn (SQLSTATE 42703)"
    assert (failed.migration_id, failed.error) == ("0008.exam-rooms", "UndefinedColumn (SQLSTATE 42703)")
