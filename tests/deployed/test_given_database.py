"""The other way to deploy: with a database of the operator's (DatabaseSecretArn given, its secret
in the RDS format), as `python -m scripts.deploy_local up --database-given` deploys it. A second
stack of the template, into the suite's emulator beside the first, from the same build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local_stack.client import ApiClient
from scripts import deploy_local
from tests.deployed.conftest import Deployed
from tests.waiting import wait_until


def test_a_stack_given_its_database_creates_none_migrates_it_and_answers(deployed: Deployed) -> None:
    # Given the operator's database (a role with a password, owning a database) and its secret
    paths = deploy_local.Paths(deployed.local_dir)

    # When the template is deployed with that secret
    given = deploy_local.deploy(
        paths, deployed.port, "given", database_given=True, build_dir=Path(deployed.info["build_dir"])
    )
    try:
        # Then it creates no database and no network, and the functions read the secret given
        pages = (
            deployed.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=given["stack"])
        )
        types = {r["ResourceType"] for page in pages for r in page["StackResourceSummaries"]}
        assert not types & {"AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::EC2::VPC", "AWS::EC2::VPCEndpoint"}
        assert (given["database_created"], given["database_cluster"]) == (False, None)
        assert given["database_secret_arn"] == given["parameters"]["DatabaseSecretArn"]

        # And it migrated that database as the secret's user, whom the product then serves as
        client = ApiClient(given["api_url"], given["api_key"])
        client.create_exam("given", due_in_s=3600, title="A given database")
        assert client.exam("given").json()["title"] == "A given database"
        with deployed.database().admin("exam_depository_given") as admin:
            owner = admin.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'exam'").fetchone()
            exams = admin.execute("SELECT count(*) FROM exam").fetchone()
        assert (owner, exams) == (("exam_depository_given",), (1,))
    finally:
        # Deleted through the API and waited for here: `sam delete` (make deploy-local-down's way,
        # which the session's end takes) first looks again after 30 s.
        cloudformation = deployed.client("cloudformation")
        cloudformation.delete_stack(StackName=given["stack"])
        wait_until(lambda: _gone(cloudformation, given["stack"]), timeout_s=300, what="the given stack deleted")
        deployed.client("secretsmanager").delete_secret(
            SecretId=given["database_secret_arn"], ForceDeleteWithoutRecovery=True
        )


def _gone(cloudformation: Any, stack: str) -> bool:
    try:
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError:
        return True
    assert status in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"), status
    return bool(status == "DELETE_COMPLETE")
