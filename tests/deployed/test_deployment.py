"""What only the deployment shows: the stack created its database and the network it is reached in,
and migrated it while it deployed; the migration and reconcile functions invoked as ops invoke
them on AWS (`make migrate-remote`, `make reconcile`: sam remote invoke), an export built by the
deployed builder from its own queue, and a student handing in through the deployed page in
Chromium, from the API's own origin to the bucket's (the CORS rule template.yaml sets)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, chromium
from tests.conftest import ROOT
from tests.deployed.conftest import Deployed
from tests.e2e.conftest import EXAM
from tests.unit.test_network import ENDPOINT_NAMES, services_the_code_calls

CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$")


def _payload(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """What `sam remote invoke` printed last: the function's answer."""
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


MIGRATIONS = sorted(
    path.name.removesuffix(".sql")
    for path in (ROOT / "shared/exam_depository/migrations").glob("*.sql")
    if not path.name.endswith(".rollback.sql")
)
# The resources the stack creates when it is given neither a database nor subnets.
CREATED = {
    "Vpc": "AWS::EC2::VPC",
    "PrivateSubnetA": "AWS::EC2::Subnet",
    "PrivateSubnetB": "AWS::EC2::Subnet",
    "PrivateRouteTable": "AWS::EC2::RouteTable",
    "S3GatewayEndpoint": "AWS::EC2::VPCEndpoint",
    "SecretsManagerEndpoint": "AWS::EC2::VPCEndpoint",
    "KmsEndpoint": "AWS::EC2::VPCEndpoint",
    "SqsEndpoint": "AWS::EC2::VPCEndpoint",
    "SchedulerEndpoint": "AWS::EC2::VPCEndpoint",
    "EndpointSecurityGroup": "AWS::EC2::SecurityGroup",
    "FunctionSecurityGroup": "AWS::EC2::SecurityGroup",
    "DatabaseSecurityGroup": "AWS::EC2::SecurityGroup",
    "DatabaseSubnetGroup": "AWS::RDS::DBSubnetGroup",
    "DatabaseCluster": "AWS::RDS::DBCluster",
    "DatabaseInstance": "AWS::RDS::DBInstance",
    "DatabaseMigration": "Custom::DatabaseMigration",
}


def test_the_stack_created_its_database_in_a_private_network_of_its_own(deployed: Deployed) -> None:
    cloudformation, ec2, rds = deployed.client("cloudformation"), deployed.client("ec2"), deployed.client("rds")
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=deployed.info["stack"])
    resources = {r["LogicalResourceId"]: r for page in pages for r in page["StackResourceSummaries"]}

    # The stack made them all
    assert {name: resources[name]["ResourceType"] for name in CREATED if name in resources} == CREATED
    assert {resources[name]["ResourceStatus"] for name in CREATED} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}

    # Two private subnets in two zones; an endpoint for each service the code calls (the list
    # tests/unit/test_network.py reads from the code and ties to the roles and the template), S3's a gateway
    vpc = deployed.info["outputs"]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert len({subnet["AvailabilityZone"] for subnet in subnets}) == len(subnets) == 2
    assert not any(subnet["MapPublicIpOnLaunch"] for subnet in subnets)
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    region = deployed.info["region"]
    assert {e["ServiceName"]: e["VpcEndpointType"] for e in endpoints} == {
        f"com.amazonaws.{region}.{ENDPOINT_NAMES.get(service, service)}": "Gateway" if service == "s3" else "Interface"
        for service in services_the_code_calls()
    }
    assert (
        ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
        == []
    )

    # The database admits PostgreSQL from the functions' group only
    database_group, functions_group = (
        deployed.physical_id(name) for name in ("DatabaseSecurityGroup", "FunctionSecurityGroup")
    )
    ingress = ec2.describe_security_groups(GroupIds=[database_group])["SecurityGroups"][0]["IpPermissions"]
    assert [(rule["FromPort"], rule["ToPort"], rule["IpRanges"]) for rule in ingress] == [(5432, 5432, [])]
    assert [pair["GroupId"] for pair in ingress[0]["UserIdGroupPairs"]] == [functions_group]

    # An encrypted, protected Aurora Serverless v2 cluster that pauses at 0 ACU, whose master
    # secret RDS manages, and its one instance; its endpoint here is the embedded PostgreSQL
    cluster = rds.describe_db_clusters(DBClusterIdentifier=deployed.info["database_cluster"])["DBClusters"][0]
    assert (cluster["Engine"], cluster["StorageEncrypted"], cluster["DeletionProtection"]) == (
        "aurora-postgresql",
        True,
        True,
    )
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0
    assert cluster["MasterUserSecret"]["SecretArn"] == deployed.info["database_secret_arn"]
    assert cluster["Endpoint"] == deployed.info["postgres_socket"]
    instance = rds.describe_db_instances(DBInstanceIdentifier=deployed.physical_id("DatabaseInstance"))
    assert instance["DBInstances"][0]["DBInstanceClass"] == "db.serverless"

    # And the functions read RDS's secret and reach the cluster's endpoint
    name = deployed.physical_id("GetExamFunction")
    variables = deployed.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert (variables["DB_SECRET_ARN"], variables["DB_HOST"]) == (
        deployed.info["database_secret_arn"],
        deployed.info["postgres_socket"],
    )


def test_the_deployment_migrated_the_database_it_created_as_its_master_user(deployed: Deployed) -> None:
    # The migration ran while the stack deployed, as CloudFormation's custom resource
    pages = (
        deployed.client("cloudformation")
        .get_paginator("describe_stack_events")
        .paginate(StackName=deployed.info["stack"])
    )
    events = [event for page in pages for event in page["StackEvents"]]
    migration = [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "DatabaseMigration"]
    assert "CREATE_COMPLETE" in migration

    # Every migration is applied, by the user of RDS's secret (the functions' credentials)
    database = deployed.database()
    username = database.secret()["username"]
    with database.admin("exam_depository") as admin:
        applied = [row[0] for row in admin.execute("SELECT migration_id FROM _yoyo_migration ORDER BY 1")]
        owner = admin.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'exam'").fetchone()
    assert applied == MIGRATIONS
    assert owner == (username,)


@pytest.mark.parametrize(
    ("parameters", "rule"),
    [
        ({"SecurityGroupIds": "sg-0123456789abcdef0"}, "CreatedDatabaseMakesTheFunctionsGroup"),
        ({"SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210"}, "GivenSubnetsNeedTheirVpc"),
    ],
)
def test_the_templates_rules_refuse_a_created_database_with_parameters_that_do_not_fit_it(
    deployed: Deployed, parameters: dict[str, str], rule: str
) -> None:
    # Given the template as deployed, and no database given (the stack would create one)
    cloudformation = deployed.client("cloudformation")
    template = cloudformation.get_template(StackName=deployed.info["stack"], TemplateStage="Original")["TemplateBody"]

    # When another stack of it is asked for with the functions' own security groups, or with
    # subnets but not their VPC
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(
            StackName=f"refused-{uuid.uuid4().hex[:6]}",
            TemplateBody=template if isinstance(template, str) else json.dumps(template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )

    # Then CloudFormation refuses it before creating anything, naming the rule
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert rule in refused.value.response["Error"]["Message"]


def test_the_migration_function_as_ops_invoke_it_has_nothing_left_to_apply(deployed: Deployed) -> None:
    # The deployment ran every migration through this function; run again, it finds none pending
    done = deployed.make("migrate-remote")

    assert _payload(done) == {"applied": []}


def test_the_reconcile_function_invoked_remotely_finds_a_file_removed_by_hand(deployed: Deployed) -> None:
    # Given a recorded file whose version someone deleted from the bucket for good
    student = deployed.create_student(EXAM, f"deployed.reconcile.{uuid.uuid4().hex[:6]}")
    form = deployed.form(student["upload_code"])
    posted = deployed.post_form(form, b"%PDF reconciled")
    assert posted.status_code == 204, posted.text
    current = deployed.wait_until_settled(student["upload_code"], form["upload_id"])["current"]
    deployed.s3.delete_object(
        Bucket=deployed.bucket, Key=form["fields"]["key"], VersionId=posted.headers["x-amz-version-id"]
    )

    # When ops run the job now, with no grace
    report = _reconcile_now(deployed)

    # Then its report counts the loss, and the reviewer's link is refused instead of pointing at nothing
    assert (report["lost"], report["failed"]) == (1, 0), report
    link = deployed.download_link(current["verification_code"])
    assert link.status_code == 410
    assert link.headers["Content-Type"] == "application/problem+json"


def test_the_reconcile_function_records_a_file_whose_notification_was_lost_with_its_receipt(
    deployed: Deployed,
) -> None:
    # Given a file S3 accepted while the bucket sent no notification (lost on its way to the queue)
    student = deployed.create_student(EXAM, f"deployed.unnotified.{uuid.uuid4().hex[:6]}")
    content = b"%PDF never notified"
    form = deployed.form(student["upload_code"], sha256=hashlib.sha256(content).hexdigest())
    s3 = deployed.s3
    notifications = s3.get_bucket_notification_configuration(Bucket=deployed.bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=deployed.bucket, NotificationConfiguration={})
    try:
        posted = deployed.post_form(form, content)
    finally:
        s3.put_bucket_notification_configuration(Bucket=deployed.bucket, NotificationConfiguration=notifications)
    assert posted.status_code == 204, posted.text
    assert deployed.progress(student["upload_code"])["current"] is None

    # When ops run the reconcile job now, with no grace
    report = _reconcile_now(deployed)

    # Then it recorded the file, with a receipt the product signed (the job signs with the
    # receipts' key, as the recorder does) that checks out
    assert "errorMessage" not in report, report  # the job ran to its report
    assert (report["recorded"], report["failed"]) == (1, 0), report
    current = deployed.progress(student["upload_code"])["current"]
    assert current["sha256"] == hashlib.sha256(content).hexdigest()
    checked = deployed.check_receipt(current["receipt"])
    assert checked.status_code == 200, checked.text
    assert (checked.json()["genuine"], checked.json()["status"]) == (True, "current")


def _reconcile_now(deployed: Deployed) -> dict[str, object]:
    """`make reconcile` with no grace (the job leaves anything newer than RECONCILE_GRACE_S, 15
    minutes, to its next run; these files are seconds old); its report."""
    function = deployed.client("lambda")
    name = deployed.info["outputs"]["ReconcileStorageFunctionName"]
    variables = function.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    function.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**variables, "RECONCILE_GRACE_S": "0"}}
    )
    try:
        return _payload(deployed.make("reconcile"))
    finally:
        function.update_function_configuration(FunctionName=name, Environment={"Variables": variables})


def test_an_export_is_built_from_its_queue_and_holds_every_current_file(deployed: Deployed) -> None:
    # Given three students who handed in (one twice: the export holds the current file)
    deployed.create_exam("exported", due_in_s=3600, title="Exported")
    handed_in = {}
    for nickname in ("ann", "bob", "cy"):
        code = deployed.create_student("exported", nickname)["upload_code"]
        content = f"%PDF answers of {nickname}".encode() * 100
        deployed.hand_in(code, b"%PDF a first try")
        handed_in[nickname] = deployed.hand_in(code, content)["current"]
        assert handed_in[nickname]["sha256"] == hashlib.sha256(content).hexdigest()

    # When the examiner exports the exam
    started = deployed.start_export("exported")
    assert started.status_code == 202, started.text
    done = deployed.wait_for_export("exported", started.json()["export_id"])

    # Then the ZIP behind its link holds exactly the current files, as the manifest says
    assert (done["status"], done["files_done"], done["files_total"]) == ("done", 3, 3), done
    body = requests.get(done["url"], timeout=30)
    assert body.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(body.content))
    assert archive.testzip() is None
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert {row["nickname"] for row in manifest} == set(handed_in)
    for row in manifest:
        current = handed_in[row["nickname"]]
        assert hashlib.sha256(archive.read(row["path_in_zip"])).hexdigest() == row["sha256"] == current["sha256"]
        assert row["verification_code"] == current["verification_code"]
    # With the exam's audit log and a checkpoint of it the builder signed with the receipts' key
    # (its role's grant, as MiniStack enforces it)
    assert {"audit.csv", "audit-checkpoint.jwt"} <= set(archive.namelist())
    header = json.loads(base64.urlsafe_b64decode(archive.read("audit-checkpoint.jwt").split(b".")[0] + b"=="))
    assert header["typ"] == "audit-checkpoint+jwt"
    assert header["kid"] in {key["kid"] for key in deployed.jwks().json()["keys"]}

    # And a close signs one too, with the close function's own role
    assert deployed.close_exam("exported").status_code == 200
    with deployed.database().admin("exam_depository") as admin:
        reasons = admin.execute(
            """SELECT c.reason FROM audit_checkpoint c JOIN exam e ON e.id = c.exam_pk
               WHERE e.slug = 'exported' ORDER BY c.seq, c.reason"""
        ).fetchall()
    assert [reason for (reason,) in reasons] == ["exported", "closed"]


def test_a_student_hands_in_through_the_deployed_page_in_chromium(deployed: Deployed, tmp_path: Path) -> None:
    student = deployed.create_student(EXAM, f"deployed.browser.{uuid.uuid4().hex[:6]}")
    answers = tmp_path / "Réponses.pdf"
    answers.write_bytes(b"%PDF-1.7 answers " * 4000)
    page_url = deployed.info["browser_api_url"] + "/"  # https://<api id>.execute-api.localhost:PORT/v1/
    problems: list[str] = []

    # Trust exactly the emulator's certificate (its public key), nothing else.
    with chromium(f"--ignore-certificate-errors-spki-list={deployed.info['ca_spki_sha256']}") as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        refused: list[str] = []
        page.on("response", lambda response: refused.append(response.url) if response.status >= 400 else None)
        page.goto(page_url)
        page.get_by_label("Your upload code").fill(student["upload_code"])
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Choose your file").set_input_files(answers)
        page.get_by_role("button", name="Upload").click()
        receipt = page.locator("#receipt-code")
        expect(receipt).to_have_text(CODE, timeout=30_000)
        page.screenshot(path=ARTIFACTS / "deployed-upload-verification-code.png", full_page=True)
        code = receipt.inner_text()

    # Every request of the page was answered (its files, the API, S3's preflight and POST); no CSP
    # violation, CORS refusal or script error. (The browser's own /favicon.ico gets API Gateway's
    # 403, a route the API does not have: a console line that names no resource, as in the e2e tests.)
    assert refused == []
    assert [
        p for p in problems if not p.startswith("Failed to load resource: the server responded with a status of 403")
    ] == []
    progress = deployed.progress(student["upload_code"])
    assert progress["current"]["verification_code"] == code
    assert progress["current"]["filename"] == "Réponses.pdf"
    assert deployed.download(code) == answers.read_bytes()
