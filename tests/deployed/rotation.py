"""Rotating a created database's master password while the product runs, the two ways it happens:
RDS's own rotation (here ModifyDBCluster RotateMasterUserPassword, which the emulator's patch in
scripts/deploy_local.py applies to the embedded PostgreSQL and the secret, as RDS applies it to
the cluster and the secret) and an operator's by hand (ALTER ROLE, then PutSecretValue). Either
way the role's idle sessions are then ended: open sessions outlive a password change, so without
that only a cold start would meet the new password; this way every warm function must connect
again with the password it cached."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from scripts.deploy_local import scram_verifier

Rotation = Literal["rds", "operator"]


@dataclass(frozen=True)
class ClusterCredentials:
    """A created database's credentials as its operator reaches them: the cluster and its
    RDS-managed secret through the AWS APIs, the server itself as its administrator (over its
    Unix socket, where only that role needs no password)."""

    rds: Any  # boto3 clients with the operator's credentials
    secretsmanager: Any
    cluster: str
    secret_arn: str
    postgres_socket: str

    def secret(self) -> dict[str, str]:
        value: dict[str, str] = json.loads(
            self.secretsmanager.get_secret_value(SecretId=self.secret_arn)["SecretString"]
        )
        return value

    def admin(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.postgres_socket, port=5432, user="postgres", dbname=database, autocommit=True)


def rotate(credentials: ClusterCredentials, *, through: Rotation) -> int:
    """Give the master user a new password in PostgreSQL and in its secret, then end the role's
    idle sessions; returns how many were ended. An operator changes the database first, then the
    secret, as RDS's rotation sets the password before it makes the new version current: in
    between, a function that refetches the secret still reads the old one."""
    username = credentials.secret()["username"]
    if through == "rds":
        credentials.rds.modify_db_cluster(
            DBClusterIdentifier=credentials.cluster, RotateMasterUserPassword=True, ApplyImmediately=True
        )
    else:
        password = secrets.token_urlsafe(24)
        with credentials.admin() as admin:
            # The verifier, never the password: a statement the server refuses is written to its log.
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(username), sql.Literal(scram_verifier(password))
                )
            )
        credentials.secretsmanager.put_secret_value(
            SecretId=credentials.secret_arn, SecretString=json.dumps({"username": username, "password": password})
        )
    return end_idle_sessions(credentials, username)


def end_idle_sessions(credentials: ClusterCredentials, username: str) -> int:
    """End `username`'s sessions that wait between units of work (never one inside a transaction:
    a failover or a pause ends those too, but that is another test)."""
    with credentials.admin() as admin:
        ended = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = %s AND state = 'idle'",
            (username,),
        ).fetchone()
    return int(ended[0]) if ended else 0


def sessions_of(credentials: ClusterCredentials, username: str) -> int:
    with credentials.admin() as admin:
        found = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (username,)).fetchone()
    return int(found[0]) if found else 0
