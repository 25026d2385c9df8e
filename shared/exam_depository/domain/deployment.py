"""What a deployment does to the schema: the migrations run as a step of the stack's deployment
(CloudFormation asks the migration function to Create, Update or Delete the stack's migrations),
so that a deployment whose migration fails fails, and its rollback leaves the database alone.

The migrations ship in the shared layer, so a new layer version is what may bring new ones. The
layer's ARN ends in its version number (`arn:aws:lambda:eu-west-1:123456789012:layer:Shared:8`),
and Lambda never gives a number twice under one name: an Update to a lower number than the one
it replaces is CloudFormation rolling a failed deployment back, never a deployment of new code.
"""

from __future__ import annotations

import re
from typing import Literal

type MigrationStep = Literal["migrate", "skip"]

_LAYER_VERSION_ARN = re.compile(r"(arn:[^:]+:lambda:[^:]*:[^:]*:layer:[^:]+):([0-9]+)")


def migration_step(request_type: str, new_layer: str | None, old_layer: str | None) -> MigrationStep:
    """Whether the stack's deployment request migrates the database or leaves it alone.

    - Create (a new stack, or one upgraded to migrate as it deploys): migrate.
    - Update to a newer layer version, the same, or one that cannot be compared (another layer's
      name, an ARN that names no version): migrate. Applying only what is pending, it is harmless
      when nothing is.
    - Update to an older layer version of the same layer: a rollback, whose code is older than
      the schema it would meet: skip. Re-running the failed deployment's migration would fail the
      rollback too.
    - Delete (the stack, or the resource leaving the template): skip. The schema and its data
      outlive the stack's migrations, and a failed deployment's rollback deletes the resource it
      had created."""
    match request_type:
        case "Create":
            return "migrate"
        case "Delete":
            return "skip"
        case "Update":
            new, old = layer_version(new_layer), layer_version(old_layer)
            rollback = new is not None and old is not None and new[0] == old[0] and new[1] < old[1]
            return "skip" if rollback else "migrate"
    raise ValueError(f"CloudFormation sends Create, Update or Delete, not {request_type!r}")


def layer_version(arn: str | None) -> tuple[str, int] | None:
    """A layer version's ARN as (the layer's ARN, its version number); None for anything else."""
    found = _LAYER_VERSION_ARN.fullmatch(arn or "")
    return None if found is None else (found[1], int(found[2]))


class MigrationFailed(Exception):
    """A migration could not be applied: which one, and what failed, as a class name (and the
    SQLSTATE where the database gave one). Never the database's message: it can quote the rows,
    and this text leaves the function (in CloudFormation's stack events)."""

    def __init__(self, migration_id: str, error: str) -> None:
        super().__init__(f"Migration {migration_id} failed: {error}")
        self.migration_id = migration_id
        self.error = error
