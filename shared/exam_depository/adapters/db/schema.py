"""Applying the versioned SQL in `migrations/` with yoyo, outside request handling."""

from __future__ import annotations

from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from exam_depository.domain.deployment import MigrationFailed

# The migrations stay at the package's top: yoyo names each by its file, and a deployed database
# remembers them by those names.
MIGRATIONS = Path(__file__).parents[2] / "migrations"


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration, in order, each in a transaction of its own; returns the ids
    applied (empty when up to date). The first that fails stops the run as `MigrationFailed`
    naming it; those before it stay applied."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        # One by one (yoyo's apply_migrations does the same, naming none): to say which failed.
        for migration in pending:
            try:
                backend.apply_one(migration)
            except Exception as exc:
                raise MigrationFailed(migration.id, _error_class(exc)) from exc
        backend.run_post_apply(pending)
    return [migration.id for migration in pending]


def _error_class(exc: Exception) -> str:
    """What failed, in words that quote nothing: the class, and PostgreSQL's SQLSTATE if any."""
    sqlstate = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    return f"{type(exc).__name__} (SQLSTATE {sqlstate})" if sqlstate else type(exc).__name__


def _yoyo_url(database_url: str) -> str:
    """yoyo picks psycopg 3 (not psycopg2) from the `postgresql+psycopg` scheme."""
    scheme, _, rest = database_url.partition("://")
    if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"
