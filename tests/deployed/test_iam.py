"""Least privilege, proved with the credentials each deployed function really runs with: MiniStack
(AUTH=true) gives every function's execution environment a session of the role template.yaml
made for it, and enforces that role's policies. Each function is warmed once; its credentials are
read from its worker process (as its own code would see them); with them the test makes one call
the role must NOT allow and sees AccessDenied, after one the role allows (who it is, and for
every function but the pages, the database secret) has shown the credentials are good. Then, for
every function, what the created database must keep from it: another secret of the account, a
new value for the database's secret, the cluster's settings, the database's security group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import pytest
from botocore.exceptions import ClientError

from local_stack.functions import read_template
from tests.deployed.conftest import Deployed

# No object needs to exist: a role is refused before S3 looks (an allowed role would get NoSuchKey).
# One in submissions/ would not last anyway: the recorder deletes what no upload form made.
SUBMISSION = "submissions/iam-proof/0000/answers.pdf"
VERSION = "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd9t"
EXPORT = "exports/iam-proof/export.zip"
PAPER = "papers/iam-proof/0000/question-paper.pdf"

Call = Callable[[Deployed, dict[str, str]], Any]


def _s3(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("s3", credentials)


def read_a_submission(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).get_object(Bucket=deployed.bucket, Key=SUBMISSION)


def write_a_submission(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).put_object(Bucket=deployed.bucket, Key=SUBMISSION, Body=b"%PDF forged")


def delete_a_submission_version(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).delete_object(Bucket=deployed.bucket, Key=SUBMISSION, VersionId=VERSION)


def read_a_paper_version(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).get_object(Bucket=deployed.bucket, Key=PAPER, VersionId=VERSION)


def write_a_paper(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).put_object(Bucket=deployed.bucket, Key=PAPER, Body=b"%PDF forged")


def write_an_export(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return _s3(deployed, credentials).put_object(Bucket=deployed.bucket, Key=EXPORT, Body=b"PK forged")


def sign_with_the_receipt_key(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("kms", credentials).sign(
        KeyId=deployed.info["outputs"]["ReceiptSigningKeyArn"],
        Message=b"a forged receipt",
        MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256",
    )


def mint_a_session(deployed: Deployed, credentials: dict[str, str]) -> Any:
    """A session from the LMS is the launch's to sign (the tool's role) alone."""
    return deployed.client("kms", credentials).sign(
        KeyId=deployed.info["outputs"]["LtiSessionKeyArn"],
        Message=b"a forged session",
        MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256",
    )


def sign_as_the_lti_tool(deployed: Deployed, credentials: dict[str, str]) -> Any:
    """The tool's RS256 key signs deep-linking responses and service tokens: admin and worker alone."""
    return deployed.client("kms", credentials).sign(
        KeyId=deployed.info["outputs"]["LtiToolKeyArn"],
        Message=b"a forged token request",
        MessageType="RAW",
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )


def queue_a_forged_notification(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("sqs", credentials).send_message(QueueUrl=deployed.info["queue_url"], MessageBody="{}")


def _raw_email(source: str) -> bytes:
    return f"From: {source}\r\nTo: iam-proof@example.edu\r\nSubject: forged\r\n\r\nforged\r\n".encode()


def send_an_email(deployed: Deployed, credentials: dict[str, str]) -> Any:
    """From the deployment's own sender: only the sender's role may."""
    source = "exams@exam-depository.test"
    return deployed.client("ses", credentials).send_raw_email(
        Source=source, Destinations=["iam-proof@example.edu"], RawMessage={"Data": _raw_email(source)}
    )


def send_an_email_as_another_sender(deployed: Deployed, credentials: dict[str, str]) -> Any:
    """From an identity that is not the stack's (verified in the account all the same)."""
    deployed.client("sesv2").create_email_identity(EmailIdentity="another-sender.test")
    source = "someone@another-sender.test"
    return deployed.client("ses", credentials).send_raw_email(
        Source=source, Destinations=["iam-proof@example.edu"], RawMessage={"Data": _raw_email(source)}
    )


def read_the_database_secret(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("secretsmanager", credentials).get_secret_value(
        SecretId=deployed.info["database_secret_arn"]
    )


# Each function, and one thing its role must not let it do (and why it must not).
FORBIDDEN: dict[str, Call] = {
    "CreateExamFunction": read_a_submission,  # examiner routes that touch only the database
    "ListExamsFunction": read_a_submission,
    "GetExamFunction": read_a_submission,
    "UpdateExamFunction": write_a_submission,
    "CloseExamFunction": delete_a_submission_version,  # closes the window, signs a checkpoint; deletes no file
    "CreateStudentFunction": read_a_submission,
    "ImportStudentsFunction": write_a_submission,
    "ListStudentsFunction": read_a_submission,
    "GetStudentFunction": read_a_submission,
    "SetExtensionFunction": read_a_submission,
    "RemoveExtensionFunction": delete_a_submission_version,
    "ImportExtensionsFunction": read_a_submission,
    "SetAccommodationFunction": read_a_submission,
    "ImportAccommodationsFunction": write_a_submission,
    "RequestPaperUploadFunction": read_a_paper_version,  # signs the examiner's form (PutObject) only
    "DeleteExamFunction": read_a_submission,  # lists and deletes versions; never reads a file
    "DeleteStudentFunction": read_a_submission,
    "RegenerateUploadCodeFunction": read_a_submission,
    "CreateExportFunction": queue_a_forged_notification,  # may queue export jobs only
    "GetExportFunction": read_a_submission,  # may read exports/ only
    "MembersFunction": read_a_submission,  # an exam's members: the database only
    "ListAuditFunction": sign_with_the_receipt_key,  # reads the log; never signs a checkpoint
    "ReleaseSubmissionFunction": read_a_submission,  # an audited release: the database only
    "RequestUploadFunction": read_a_submission,  # signs upload forms (PutObject) only
    "GetUploadStatusFunction": read_a_submission,
    "StartAttemptFunction": read_a_paper_version,  # starts a clock; the paper comes from its own route
    "GetPaperLinkFunction": write_a_paper,  # links to recorded versions only
    "GetVerificationFunction": read_a_submission,
    "GetDownloadUrlFunction": delete_a_submission_version,  # reads recorded versions only
    "VerifyReceiptFunction": sign_with_the_receipt_key,  # checks with the published keys, never KMS
    "GetJwksFunction": sign_with_the_receipt_key,
    "ServePagesFunction": read_the_database_secret,  # serves files, no database
    "ServeDocsFunction": read_the_database_secret,
    "RecordSubmissionsFunction": write_a_submission,  # records files, never writes one
    "BuildExportFunction": delete_a_submission_version,  # reads versions, writes exports/
    # The results are in the events; it deletes earlier files no longer kept, never reads one
    "RecordScanResultsFunction": read_a_submission,
    "ExpireSubmissionsFunction": read_a_submission,  # deletes expired versions only
    "ReconcileStorageFunction": write_an_export,  # submissions/ only
    "MigrateDatabaseFunction": read_a_submission,
    "WakeDatabaseFunction": read_a_submission,  # uses the database once, touches no file
    "AdministerFunction": sign_with_the_receipt_key,
    "StudentMailFunction": send_an_email,  # queues invitations; the sender sends them
    "SendMessagesFunction": send_an_email_as_another_sender,  # sends from the stack's identity only
    "RecordMailEventsFunction": send_an_email,  # the events are in the events; it never sends
    "LtiAuthorizerFunction": mint_a_session,  # verifies sessions with the public key; no database
    "LtiToolFunction": sign_as_the_lti_tool,  # mints sessions and publishes the tool's keys; never signs as it
    "LtiAdminFunction": mint_a_session,  # signs as the tool; sessions are the launch's
    "LtiWorkerFunction": mint_a_session,
}
NO_DATABASE = {"ServePagesFunction", "ServeDocsFunction", "LtiAuthorizerFunction"}


def test_every_function_of_the_template_has_its_forbidden_call() -> None:
    functions = {
        name
        for name, resource in read_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(FORBIDDEN) == functions


def read_a_decoy_secret(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("secretsmanager", credentials).get_secret_value(SecretId=DECOY_SECRET)


def write_the_database_secret(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("secretsmanager", credentials).put_secret_value(
        SecretId=deployed.info["database_secret_arn"], SecretString='{"username": "exam", "password": "forged"}'
    )


def lift_the_clusters_deletion_protection(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("rds", credentials).modify_db_cluster(
        DBClusterIdentifier=deployed.info["database_cluster"], DeletionProtection=False, ApplyImmediately=True
    )


def open_the_database_to_the_internet(deployed: Deployed, credentials: dict[str, str]) -> Any:
    return deployed.client("ec2", credentials).authorize_security_group_ingress(
        GroupId=deployed.physical_id("DatabaseSecurityGroup"),
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )


# What no function may do to the database the stack created, whatever its role allows otherwise.
KEPT_FROM_EVERY_FUNCTION: dict[str, Call] = {
    "another secret of the account": read_a_decoy_secret,  # the grant names the database's secret only
    "a new value for the database's secret": write_the_database_secret,  # read, never written
    "the cluster's settings": lift_the_clusters_deletion_protection,
    "the database's security group": open_the_database_to_the_internet,  # the VPC grants are ENI actions only
}
DECOY_SECRET = "exam-depository/iam-proof/decoy"

_CREDENTIALS: dict[str, dict[str, str]] = {}  # per function: read once from its worker


def credentials_of(deployed: Deployed, function: str) -> dict[str, str]:
    if function not in _CREDENTIALS:
        _CREDENTIALS[function] = _read_credentials(deployed, function)
    return _CREDENTIALS[function]


def _read_credentials(deployed: Deployed, function: str) -> dict[str, str]:
    """The credentials in the environment of the function's execution environment: a warm worker
    process of MiniStack's, or the one an invocation starts (read while it initialises: MiniStack
    ends a worker whose handler raised, and an empty event makes most handlers raise)."""
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=1) as pool:
        invocation = None
        while time.monotonic() < deadline:
            found = _worker_environment(deployed, function)
            if found is not None:
                return found
            if invocation is None or invocation.done():
                invocation = pool.submit(deployed.client("lambda").invoke, FunctionName=function, Payload=b"{}")
            time.sleep(0.01)
    raise AssertionError(f"no execution environment of {function} appeared in 60 s")


def _worker_environment(deployed: Deployed, function: str) -> dict[str, str] | None:
    for process in deployed.ministack().children(recursive=True):
        try:
            environment = process.environ()
        except psutil.Error:
            continue
        if environment.get("AWS_LAMBDA_FUNCTION_NAME") == function and "AWS_SESSION_TOKEN" in environment:
            return {
                name: environment[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            }
    return None


@pytest.mark.parametrize("function", sorted(FORBIDDEN))
def test_a_functions_role_refuses_what_it_must_not_do(deployed: Deployed, function: str) -> None:
    name = deployed.physical_id(function)
    role = deployed.client("lambda").get_function_configuration(FunctionName=name)["Role"]
    credentials = credentials_of(deployed, name)

    # Given the function's own credentials, which are its role's
    identity = deployed.client("sts", credentials).get_caller_identity()
    assert f":assumed-role/{role.rsplit('/', 1)[-1]}/" in identity["Arn"]
    if function not in NO_DATABASE:
        assert read_the_database_secret(deployed, credentials)["SecretString"]  # what every such role may do

    # When it calls what its role does not allow, then the emulator refuses it
    with pytest.raises(ClientError) as refused:
        FORBIDDEN[function](deployed, credentials)
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), refused.value.response


@pytest.fixture(scope="module")
def decoy_secret(deployed: Deployed) -> Iterator[str]:
    """A secret of the operator's in the same account, which no function has any business reading."""
    secretsmanager = deployed.client("secretsmanager")
    arn = str(secretsmanager.create_secret(Name=DECOY_SECRET, SecretString="not the product's")["ARN"])
    yield arn
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


@pytest.mark.parametrize("kept", sorted(KEPT_FROM_EVERY_FUNCTION))
@pytest.mark.parametrize("function", sorted(FORBIDDEN))
def test_no_function_can_touch_the_created_database_beyond_reading_its_secret(
    deployed: Deployed, decoy_secret: str, function: str, kept: str
) -> None:
    # Given the function's own credentials, in a deployment that created its database
    assert deployed.info["database_created"]
    credentials = credentials_of(deployed, deployed.physical_id(function))

    # When it reaches for what it must not have, then the emulator refuses it (EC2 says so its own way)
    with pytest.raises(ClientError) as refused:
        KEPT_FROM_EVERY_FUNCTION[kept](deployed, credentials)
    assert refused.value.response["Error"]["Code"] in (
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
    ), refused.value.response
