"""Applying the versioned SQL in `migrations/` with yoyo, outside request handling."""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

# The migrations stay at the package's top: yoyo names each by its file, and a deployed database
# remembers them by those names.
MIGRATIONS = Path(__file__).parents[2] / "migrations"


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when up to date)."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [migration.id for migration in pending]


def _yoyo_url(database_url: str) -> str:
    """yoyo picks psycopg 3 (not psycopg2) from the `postgresql+psycopg` scheme."""
    scheme, _, rest = database_url.partition("://")
    if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"
