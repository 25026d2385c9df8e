"""Lambda SnapStart: what an execution environment must not carry from its snapshot into the
copies restored from it.

With SnapStart on (template.yaml's SnapStart parameter), Lambda initializes a function once when a
version is published, snapshots the environment's memory, and starts every new environment of
that version from the snapshot. A socket open in the snapshot is dead in each copy, a secret read
then may have rotated since, and every copy would draw the same "random" numbers. Importing this
module registers the runtime hooks that deal with it; Lambda calls them only under SnapStart
(before the snapshot in reverse order of registration, after each restore in order), so a function
that imports it costs nothing more without SnapStart.

Nothing in the product opens a connection or makes a client at import: the hooks are cheap, and
they hold also when a first invocation ran before the snapshot. What they need beyond this module
they import when called: Powertools' parameters alone would load the AWS SDK at every cold start,
and the pages function, which has no database, would load its driver.
"""

from __future__ import annotations

import random

from snapshot_restore_py import register_after_restore, register_before_snapshot

from exam_depository.adapters import aws


def before_snapshot() -> None:
    """Close what the snapshot must not hold, and load what every restored copy would load alike.

    The AWS SDK is imported here, at publish time, rather than at each environment's first call:
    its modules are the largest part of a function's start, and they hold no credentials or
    connections until a client is made."""
    import boto3  # noqa: F401
    import botocore.config  # noqa: F401  # the adapters' client options, loaded with the SDK

    from exam_depository.adapters.db import transactions

    transactions.reset()
    aws.reset()


def after_restore() -> None:
    """Make this copy of the environment its own: no connection, client or secret from the
    snapshot, and a random generator of its own.

    The database secret is read again at the next connection (it may have been rotated since the
    version was published); the SDK's default session goes too, with any credentials it cached;
    `random`, which botocore's retries draw their jitter from, is seeded afresh, lest every
    restored copy back off in step under a deadline's burst."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from exam_depository.adapters.db import transactions

    transactions.reset()
    aws.reset()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped
    boto3.DEFAULT_SESSION = None
    random.seed()


register_before_snapshot(before_snapshot)
register_after_restore(after_restore)
