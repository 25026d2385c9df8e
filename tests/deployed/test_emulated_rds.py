"""The deployment's emulator gives a CloudFormation Aurora cluster what RDS gives it (the patch in
scripts/deploy_local.py): proved with a stack of one cluster deployed into that emulator, started
as `make deploy-local` starts it (the holder: MiniStack with IAM and TLS, the embedded PostgreSQL
with passwords checked) on a free port of its own, without the product's template."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from local_stack import background
from scripts import deploy_local
from tests.deployed.rotation import ClusterCredentials, Rotation, rotate, sessions_of
from tests.waiting import wait_until

MASTER_USER = "exam"
DATABASE = "exam_depository"
PASSWORDS_SEEN: set[str] = set()  # what the last test looks for in the logs


def cluster_template(username: str, database: str) -> str:
    """A cluster as template.yaml declares one, its instance, and what a stack reads of it."""
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "DatabaseCluster": {
                    "Type": "AWS::RDS::DBCluster",
                    "DeletionPolicy": "Snapshot",
                    "Properties": {
                        "Engine": "aurora-postgresql",
                        "EngineVersion": "17.7",
                        "DatabaseName": database,
                        "MasterUsername": username,
                        "ManageMasterUserPassword": True,
                        "StorageEncrypted": True,
                        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0, "MaxCapacity": 1},
                    },
                },
                "DatabaseInstance": {
                    "Type": "AWS::RDS::DBInstance",
                    "Properties": {
                        "DBClusterIdentifier": {"Ref": "DatabaseCluster"},
                        "DBInstanceClass": "db.serverless",
                        "Engine": "aurora-postgresql",
                    },
                },
            },
            "Outputs": {
                "Cluster": {"Value": {"Ref": "DatabaseCluster"}},
                "SecretArn": {"Value": {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}},
                "Host": {"Value": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]}},
                "Port": {"Value": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Port"]}},
            },
        }
    )


@dataclass
class Emulator:
    """The holder `make deploy-local` starts, and the operator's clients of its MiniStack."""

    paths: deploy_local.Paths
    endpoint: str
    operator: dict[str, str]
    postgres_socket: str

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=deploy_local.REGION,
            aws_access_key_id=self.operator["key"],
            aws_secret_access_key=self.operator["secret"],
            config=Config(retries={"max_attempts": 1}),
        )

    def deploy(self, stack: str, template: str) -> dict[str, str]:
        cloudformation = self.client("cloudformation")
        cloudformation.create_stack(StackName=stack, TemplateBody=template)
        wait_until(lambda: not self.status(stack).endswith("IN_PROGRESS"), timeout_s=120, what=f"{stack} created")
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE", self.failures(stack)
        return {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}

    def delete(self, stack: str) -> None:
        self.client("cloudformation").delete_stack(StackName=stack)
        wait_until(lambda: self.status(stack) in ("DELETE_COMPLETE", "GONE"), timeout_s=120, what=f"{stack} deleted")

    def status(self, stack: str) -> str:
        try:
            return str(self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
        except ClientError:
            return "GONE"

    def failures(self, stack: str) -> list[str]:
        events = self.client("cloudformation").describe_stack_events(StackName=stack)["StackEvents"]
        return [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]

    def credentials(self, outputs: dict[str, str]) -> ClusterCredentials:
        return ClusterCredentials(
            rds=self.client("rds"),
            secretsmanager=self.client("secretsmanager"),
            cluster=outputs["Cluster"],
            secret_arn=outputs["SecretArn"],
            postgres_socket=self.postgres_socket,
        )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    paths = deploy_local.Paths(tmp_path_factory.mktemp("emulated-rds"))
    port = background.free_port()
    deploy_local._start_holder(paths, port)
    try:
        ready = json.loads(paths.ready.read_text())
        tls = deploy_local.local_tls()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_CA_BUNDLE", str(tls.bundle))
            yield Emulator(
                paths, f"https://127.0.0.1:{port}", deploy_local._secrets(paths)["operator"], ready["postgres_socket"]
            )
    finally:
        assert deploy_local.stop_holder(paths)


@pytest.fixture(scope="module")
def cluster(emulator: Emulator) -> dict[str, str]:
    return emulator.deploy("emulated-rds", cluster_template(MASTER_USER, DATABASE))


def connect(host: str, port: str, secret: dict[str, str], database: str = DATABASE) -> psycopg.Connection[Any]:
    """As the functions connect: the host and port of the cluster, the user and password of its
    secret, autocommit (between units of work a session is idle, not idle in a transaction)."""
    return psycopg.connect(
        host=host,
        port=port,
        dbname=database,
        user=secret["username"],
        password=secret["password"],
        connect_timeout=10,
        autocommit=True,
    )


def refused(host: str, port: str, secret: dict[str, str]) -> str:
    with pytest.raises(psycopg.OperationalError) as failed:
        connect(host, port, secret).close()
    return str(failed.value)


def test_a_cluster_with_a_managed_password_has_its_master_user_database_and_secret_as_on_rds(
    emulator: Emulator, cluster: dict[str, str]
) -> None:
    # Given the stack's cluster, with ManageMasterUserPassword and no password in the template
    credentials = emulator.credentials(cluster)

    # Then RDS's secret holds the master user's name and password, nothing else
    described = credentials.secretsmanager.describe_secret(SecretId=cluster["SecretArn"])
    assert described["Name"].startswith("rds!cluster-")
    secret = credentials.secret()
    PASSWORDS_SEEN.add(secret["password"])
    assert set(secret) == {"username", "password"}
    assert secret["username"] == MASTER_USER
    rds_view = credentials.rds.describe_db_clusters(DBClusterIdentifier=cluster["Cluster"])["DBClusters"][0]
    assert rds_view["MasterUserSecret"]["SecretArn"] == cluster["SecretArn"]
    assert rds_view["Endpoint"] == cluster["Host"] == emulator.postgres_socket

    # And the cluster's endpoint is a PostgreSQL where that user owns that database
    with connect(cluster["Host"], cluster["Port"], secret) as conn:
        row = conn.execute(
            "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row == (MASTER_USER, MASTER_USER)

    # And a wrong password is refused, as a real server refuses it
    assert "password authentication failed" in refused(cluster["Host"], cluster["Port"], {**secret, "password": "x"})


@pytest.mark.parametrize("through", ["rds", "operator"])
def test_a_rotation_changes_the_password_in_postgresql_and_in_the_secret(
    emulator: Emulator, cluster: dict[str, str], through: Rotation
) -> None:
    # Given a session opened with the current password, idle (as a warm function's is between requests)
    credentials = emulator.credentials(cluster)
    before = credentials.secret()
    session = connect(cluster["Host"], cluster["Port"], before)
    session.execute("SELECT 1")

    # When the password is rotated
    ended = rotate(credentials, through=through)

    # Then the secret holds a new password, which PostgreSQL takes, and the old one is refused
    after = credentials.secret()
    PASSWORDS_SEEN.update((before["password"], after["password"]))
    assert after["username"] == before["username"]
    assert after["password"] != before["password"]
    with connect(cluster["Host"], cluster["Port"], after) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (MASTER_USER,)
    assert "password authentication failed" in refused(cluster["Host"], cluster["Port"], before)

    # And the idle session was ended: its next statement fails, so a warm function must connect again
    assert ended >= 1
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    assert sessions_of(credentials, MASTER_USER) == 0


def test_a_stack_that_deletes_its_cluster_deletes_the_secret_the_user_and_the_database(emulator: Emulator) -> None:
    # Given a second stack's cluster, with a master user and a database of its own
    username, database = f"gone_{uuid.uuid4().hex[:6]}", "gone_database"
    outputs = emulator.deploy("emulated-rds-deleted", cluster_template(username, database))
    credentials = emulator.credentials(outputs)
    secret = credentials.secret()
    PASSWORDS_SEEN.add(secret["password"])
    connect(outputs["Host"], outputs["Port"], secret, database).close()

    # When the stack is deleted
    emulator.delete("emulated-rds-deleted")

    # Then RDS's secret went with the cluster, and so did the user and its database
    with pytest.raises(ClientError) as missing:
        credentials.secret()
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with credentials.admin() as admin:
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone() is None
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None


def test_no_password_reaches_the_logs(emulator: Emulator, cluster: dict[str, str]) -> None:
    # Given every password the tests above saw the cluster have, and its current one
    PASSWORDS_SEEN.add(emulator.credentials(cluster).secret()["password"])

    # Then neither PostgreSQL's log (which writes a refused statement whole) nor MiniStack's shows one
    logs = "".join(
        Path(emulator.paths.state, name).read_text(errors="replace")
        for name in ("postgres.log", "ministack.log", "holder.log")
    )
    assert [p for p in PASSWORDS_SEEN if p in logs] == []
