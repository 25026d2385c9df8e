"""A deployment whose migration fails fails, and rolls back: the stack is left as it was, its
functions answering with the code they had. (Last of the suite: it redeploys the stack.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from scripts import deploy_local
from tests.deployed.conftest import Deployed
from tests.e2e.conftest import EXAM

FAILING = "9999.fails-on-purpose"


def test_a_deploy_whose_migration_fails_rolls_back_and_the_previous_functions_still_answer(
    deployed: Deployed, tmp_path: Path
) -> None:
    lambda_client = deployed.client("lambda")
    function = deployed.physical_id("GetExamFunction")
    layers = lambda_client.get_function_configuration(FunctionName=function)["Layers"]

    # Given a build of the same template whose shared layer brings a migration that fails
    # (the build's files linked, not copied: only the new migration is new)
    build = tmp_path / "build"
    shutil.copytree(Path(deployed.info["build_dir"]), build, copy_function=os.link)
    migrations = build / "SharedLayer/python/exam_depository/migrations"
    (migrations / f"{FAILING}.sql").write_text("-- A migration that fails, on purpose.\nSELECT 1 / 0;\n")

    # When it is deployed
    with pytest.raises(SystemExit):
        deploy_local.redeploy(deploy_local.Paths(deployed.local_dir), deployed.info, build / "template.yaml")

    # Then the deployment failed on the migration, naming it and its error's class (not the
    # database's own words), and rolled back
    cloudformation = deployed.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=deployed.info["stack"])["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    pages = cloudformation.get_paginator("describe_stack_events").paginate(StackName=deployed.info["stack"])
    events = [event for page in pages for event in page["StackEvents"]]
    failed = [
        e.get("ResourceStatusReason", "")
        for e in events
        if e["LogicalResourceId"] == "DatabaseMigration" and e["ResourceStatus"] == "UPDATE_FAILED"
    ]
    assert len(failed) == 1, failed
    assert FAILING in failed[0]
    assert "DivisionByZero" in failed[0]
    assert "division by zero" not in failed[0]

    # And the functions have the layer they had, and answer
    assert lambda_client.get_function_configuration(FunctionName=function)["Layers"] == layers
    answer = deployed.exam(EXAM)
    assert answer.status_code == 200, answer.text

    # And the database has no trace of the failed migration
    with deployed.database().admin("exam_depository") as admin:
        applied = {row[0] for row in admin.execute("SELECT migration_id FROM _yoyo_migration")}
    assert FAILING not in applied
