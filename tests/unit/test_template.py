"""What template.yaml must say, read from the template itself (no AWS needed)."""

from __future__ import annotations

import ast
import importlib
import ipaddress
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from exam_depository.adapters import queues
from exam_depository.adapters import scheduler as scheduler_adapter
from exam_depository.config import DatabaseSettings, RulesSettings, StorageSettings
from exam_depository.domain.mail import SENDING_GRACE
from exam_depository.domain.redelivery import LONGEST_RETRY_S
from exam_depository.domain.rules import Window, expiry_of, window_refusal
from exam_depository.domain.wakes import MOMENTS
from samtranslator.yaml_helper import yaml_parse

from local_stack.emulator import NOTIFIED_PREFIXES
from local_stack.functions import concurrency_limits, gateway_responses, load_function
from tests import sam_template
from tests.conftest import ROOT
from tests.contract import EXAMINER_ROUTES, LTI_EXAMINER_ROUTES, LTI_TOOL_ROUTES, OPEN_ROUTES, PAGE_ROUTES

BUCKET = "arn:${AWS::Partition}:s3:::exam-depository-${EnvironmentName}-${AWS::AccountId}-${AWS::Region}"
SUBMISSIONS = f"{BUCKET}/submissions/*"
PAPERS = f"{BUCKET}/papers/*"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text()))


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _api_routes(template: dict[str, Any]) -> dict[tuple[str, str], tuple[str, bool]]:
    routes = {}
    for name, props in _functions(template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "Api":
                key = (event["Properties"]["Path"], event["Properties"]["Method"])
                routes[key] = (name, event["Properties"]["Auth"]["ApiKeyRequired"])
    return routes


def test_every_route_of_the_contract_has_one_function_and_the_right_key_rule(template: dict[str, Any]) -> None:
    routes = _api_routes(template)
    assert set(routes) >= EXAMINER_ROUTES | OPEN_ROUTES
    assert all(routes[route][1] is True for route in EXAMINER_ROUTES)
    assert all(routes[route][1] is False for route in OPEN_ROUTES)
    contract_functions = [routes[route][0] for route in EXAMINER_ROUTES | OPEN_ROUTES]
    # One function per route, but for an exam's members: their five routes share one function, and
    # so one share of the database's connections (docs/RELIABILITY.md).
    members = [function for function in contract_functions if function == "MembersFunction"]
    assert len(members) == len(MEMBER_ROUTES)
    assert {routes[route][0] for route in MEMBER_ROUTES} == {"MembersFunction"}
    # ... and a student's mail: sending the codes and changing an address, one function.
    assert {routes[route][0] for route in MAIL_ROUTES} == {"StudentMailFunction"}
    # ... and LTI's: the tool's routes one function (the platform's and the browser's), an
    # examiner's LMS connections another.
    assert {routes[route][0] for route in LTI_TOOL_ROUTES} == {"LtiToolFunction"}
    assert {routes[route][0] for route in LTI_EXAMINER_ROUTES} == {"LtiAdminFunction"}
    shared = {"MembersFunction", "StudentMailFunction", "LtiToolFunction", "LtiAdminFunction"}
    others = [function for function in contract_functions if function not in shared]
    assert len(others) == len(set(others)), "one function per route of the contract"
    assert all(routes[route][1] is False for route in PAGE_ROUTES)


MEMBER_ROUTES = {
    ("/exams/{exam_id}/members/invitations", "post"),
    ("/members/invitations/{invitation_code}", "post"),
    ("/exams/{exam_id}/members", "get"),
    ("/exams/{exam_id}/members/{member_id}", "patch"),
    ("/exams/{exam_id}/members/{member_id}", "delete"),
}


MAIL_ROUTES = {("/exams/{exam_id}/students/send-codes", "post"), ("/exams/{exam_id}/students/{nickname}/email", "put")}


def test_every_function_has_its_folder_and_runs_python313_on_arm64(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    for props in _functions(template).values():
        assert (ROOT / props["CodeUri"] / "app.py").is_file()
        assert "Runtime" not in props
        assert "Architectures" not in props


def test_the_bucket_is_private_encrypted_versioned_and_tls_only(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["SubmissionsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # A form posted again makes a new version; the recorded one stays.
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["POST"]
    assert "*" not in cors["AllowedOrigins"]
    statements = resources["SubmissionsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (tls,) = [statement for statement in statements if statement["Sid"] == "TlsOnly"]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_retention_has_one_source_that_the_functions_and_the_lifecycle_rules_read(
    template: dict[str, Any],
) -> None:
    retention, window = {"Ref": "RetentionDays"}, {"Ref": "MaxWindowDays"}
    assert template["Parameters"]["RetentionDays"]["Default"] == 3
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert (environment["RETENTION_DAYS"], environment["MAX_WINDOW_DAYS"]) == (retention, window)
    rules = {
        rule["Id"]: rule
        for rule in template["Resources"]["SubmissionsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    expire, markers, exports = (
        rules["expire-submissions"],
        rules["remove-expired-delete-markers"],
        rules["expire-exports"],
    )
    assert (exports["Prefix"], exports["ExpirationInDays"]) == ("exports/", 1)  # EXPORT_RETENTION_HOURS: 24
    backstop = {"Fn::FindInMap": ["BackstopDays", window, retention]}
    assert expire["ExpirationInDays"] == backstop
    assert expire["NoncurrentVersionExpiration"] == {"NoncurrentDays": backstop}
    assert expire["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert markers["ExpiredObjectDeleteMarker"] is True
    assert expire["Prefix"] == markers["Prefix"] == "submissions/"


def test_a_question_paper_is_kept_while_its_exam_is_and_never_expired_by_s3(template: dict[str, Any]) -> None:
    rules = [
        rule
        for rule in template["Resources"]["SubmissionsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        if rule["Prefix"] == "papers/"
    ]
    # Housekeeping only: no expiry of a current paper, and none of a noncurrent one, which a form
    # posted again on a recorded paper's key would make of the paper students download.
    assert rules == [
        {
            "Id": "papers-housekeeping",
            "Status": "Enabled",
            "Prefix": "papers/",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "ExpiredObjectDeleteMarker": True,
        }
    ]


def _every_retention_and_window(template: dict[str, Any]) -> list[tuple[int, int]]:
    retention = template["Parameters"]["RetentionDays"]
    windows = template["Parameters"]["MaxWindowDays"]["AllowedValues"]
    return [(r, w) for w in windows for r in range(retention["MinValue"], retention["MaxValue"] + 1)]


def test_s3_never_deletes_a_file_before_the_product_does_for_any_retention_and_window(
    template: dict[str, Any],
) -> None:
    """The lifecycle days, the parameters and the refusal of long windows, tied together: the
    longest window the product accepts keeps a file uploaded when the exam opens until its
    cut-off plus the retention; S3 deletes it no earlier than its upload plus the backstop
    days (rounded up to midnight), which must come after that and after the expiry job's next
    run (it deletes at its first run past the instant)."""
    rate = re.fullmatch(r"rate\((\d+) hours\)", _expire_schedule(template))
    assert rate is not None
    expiry_job_period = timedelta(hours=int(rate[1]))
    mapping = template["Mappings"]["BackstopDays"]
    assert len(_every_retention_and_window(template)) == sum(len(row) for row in mapping.values())
    opens = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    for retention_days, window_days in _every_retention_and_window(template):
        backstop_days = mapping[str(window_days)][str(retention_days)]
        longest = Window(opens, opens + timedelta(days=window_days), opens + timedelta(days=window_days))
        too_long = Window(opens, longest.due_at, longest.cutoff_at + timedelta(seconds=1))
        refusal = partial(window_refusal, now=opens, max_window_days=window_days, earliest_file=None)
        assert refusal(longest) is None
        assert refusal(too_long) is not None
        uploaded = opens  # no form is issued earlier
        kept_until = expiry_of(uploaded, longest.cutoff_at, retention_days)
        assert uploaded + timedelta(days=backstop_days) >= kept_until + expiry_job_period, (retention_days, window_days)


def _expire_schedule(template: dict[str, Any]) -> str:
    return str(template["Parameters"]["ExpireSchedule"]["Default"])


def test_a_deleted_exams_tombstone_is_kept_as_the_template_says_and_never_under_the_databases_floor(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["AuditRetentionDays"]
    assert parameter["Default"] == 365
    # The audit log's trigger keeps a tombstone 30 days whatever the application asks.
    assert min(parameter["AllowedValues"]) >= 30
    expiry = template["Resources"]["ExpireSubmissionsFunction"]["Properties"]["Environment"]["Variables"]
    assert expiry["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
    holders = [
        name
        for name, resource in template["Resources"].items()
        if "AUDIT_RETENTION_DAYS" in str(resource.get("Properties", {}).get("Environment", {}))
    ]
    assert holders == ["ExpireSubmissionsFunction"]  # the one job that purges


def test_the_settings_accept_every_window_the_template_allows(template: dict[str, Any]) -> None:
    bounds = RulesSettings.model_fields["max_window_days"].metadata
    allowed = template["Parameters"]["MaxWindowDays"]["AllowedValues"]
    low = next(bound.ge for bound in bounds if hasattr(bound, "ge"))
    high = next(bound.le for bound in bounds if hasattr(bound, "le"))
    assert all(low <= days <= high for days in allowed)


def test_notifications_reach_the_recorder_through_a_queue_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    notifications = resources["SubmissionsBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    # One for the students' answers, one for the examiners' question papers, each under the
    # prefix the functions write it to (the recorder tells them apart by the same prefixes).
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    prefixes = [
        rule["Value"] for n in notifications for rule in n["Filter"]["S3Key"]["Rules"] if rule["Name"] == "prefix"
    ]
    assert prefixes == [environment["SUBMISSIONS_PREFIX"], environment["PAPERS_PREFIX"]] == ["submissions/", "papers/"]
    assert prefixes == [StorageSettings.model_fields[name].default for name in ("prefix", "papers_prefix")]
    assert tuple(prefixes) == NOTIFIED_PREFIXES  # as the local stack configures MiniStack
    for notification in notifications:
        assert notification["Event"] == "s3:ObjectCreated:*"
        assert notification["Queue"] == {"Fn::GetAtt": ["SubmissionEventsQueue", "Arn"]}
    queue = resources["SubmissionEventsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SubmissionEventsDeadLetterQueue", "Arn"]}
    sqs = resources["RecordSubmissionsFunction"]["Properties"]["Events"]["Notifications"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "RecorderMaxConcurrency"}
    assert queue["VisibilityTimeout"] >= 6 * resources["RecordSubmissionsFunction"]["Properties"]["Timeout"]


def test_the_recorder_brings_its_failed_messages_back_well_before_the_queue_would(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    recorder = resources["RecordSubmissionsFunction"]["Properties"]
    # Its own queue's URL (!Ref of a queue), the one its event source polls
    assert recorder["Environment"]["Variables"]["SUBMISSION_QUEUE_URL"] == {"Ref": "SubmissionEventsQueue"}
    assert recorder["Events"]["Notifications"]["Properties"]["Queue"] == {
        "Fn::GetAtt": ["SubmissionEventsQueue", "Arn"]
    }
    # The longest delay it sets is well below the timeout it shortens (at most two thirds of it)
    visibility_timeout = resources["SubmissionEventsQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility_timeout * 2 / 3 >= LONGEST_RETRY_S


@pytest.fixture(scope="module")
def expanded(template: dict[str, Any]) -> dict[str, Any]:
    """The template as the SAM translator expands it for CloudFormation (roles, API, events), with
    the parameters' defaults: the stack creates its network and database."""
    return sam_template.expand(template, {})


def test_the_expanded_template_has_no_errors_or_circular_dependencies(expanded: dict[str, Any], tmp_path: Path) -> None:
    # cfn-lint on the SAM template cannot see a bucket/queue/policy cycle (E3004); on the
    # template SAM expands to, it can.
    path = tmp_path / "expanded.json"
    path.write_text(json.dumps(expanded))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    lint = subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, check=False)
    # Exit status bit 2 means errors; warnings here come from SAM's own expansion (parameters
    # it resolves at transform time, DependsOn it adds), not from this template.
    assert lint.returncode & 2 == 0, lint.stdout
    assert "ApiApiKey" in expanded["Resources"]
    assert "ApiUsagePlan" in expanded["Resources"]


AWS_MANAGED = "arn:aws:iam::aws:policy/"
# What every function role gets from SAM: logs, X-Ray traces, and network interfaces for the
# optional VPC (SAM adds the last one because VpcConfig is conditional).
BASE_MANAGED = {
    "service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "service-role/AWSLambdaVPCAccessExecutionRole",
}
# Only the database's own secret: the one RDS made for the created cluster, else the one given.
DATABASE = (
    "secretsmanager:GetSecretValue",
    "If(CreateDatabase, DatabaseCluster.MasterUserSecret.SecretArn, DatabaseSecretArn)",
)
LIST_VERSIONS = ("s3:ListBucketVersions", BUCKET)
GET_VERSION = ("s3:GetObjectVersion", SUBMISSIONS)
DELETE_VERSION = ("s3:DeleteObjectVersion", SUBMISSIONS)
EXPORTS = f"{BUCKET}/exports/*"
SIGNING_KEY = "ReceiptSigningKey.Arn"
SIGN = {("kms:Sign", SIGNING_KEY), ("kms:GetPublicKey", SIGNING_KEY)}
# docs/DESIGN.md: the database for the functions that need it; S3 only where the job touches files.
WAKES = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${WakeScheduleGroup}/exam-*"
DELETE_WAKES = ("scheduler:DeleteSchedule", WAKES)
PUT_WAKES = {
    ("scheduler:CreateSchedule", WAKES),
    ("scheduler:UpdateSchedule", WAKES),
    DELETE_WAKES,
    ("iam:PassRole", "WakeSchedulerRole.Arn"),
}
SES = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
QUEUE_MAIL = ("sqs:SendMessage", "MailQueue.Arn")
QUEUE_LTI = ("sqs:SendMessage", "LtiJobsQueue.Arn")
TOOL_KEY = (
    "If(HasLtiToolKey, arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${LtiToolKeyId}, LtiToolKey.Arn)"
)
SIGN_AS_TOOL = {("kms:Sign", TOOL_KEY), ("kms:GetPublicKey", TOOL_KEY)}
# A deployment that sends mail: its functions and grants are checked with it.
MAIL = {"SenderAddress": "exams@example.edu"}
ROLE_GRANTS: dict[str, set[tuple[str, str]]] = {
    "CreateExamFunction": {DATABASE, *PUT_WAKES},
    "ListExamsFunction": {DATABASE},
    "GetExamFunction": {DATABASE},
    "UpdateExamFunction": {DATABASE, *PUT_WAKES},
    # The closed exam's audit log gets a signed checkpoint.
    "CloseExamFunction": {DATABASE, DELETE_WAKES, *SIGN},
    "DeleteExamFunction": {
        DATABASE,
        LIST_VERSIONS,
        DELETE_VERSION,
        ("s3:DeleteObjectVersion", EXPORTS),
        ("s3:DeleteObjectVersion", PAPERS),
        DELETE_WAKES,
    },
    "CreateStudentFunction": {DATABASE},
    "ImportStudentsFunction": {DATABASE},
    "ListStudentsFunction": {DATABASE},
    "GetStudentFunction": {DATABASE},
    "DeleteStudentFunction": {DATABASE, LIST_VERSIONS, DELETE_VERSION},
    "RegenerateUploadCodeFunction": {DATABASE},
    "SetExtensionFunction": {DATABASE},
    "RemoveExtensionFunction": {DATABASE},
    "ImportExtensionsFunction": {DATABASE},
    "SetAccommodationFunction": {DATABASE},
    "ImportAccommodationsFunction": {DATABASE},
    # Presigns the examiner's form for the exam's question paper.
    "RequestPaperUploadFunction": {DATABASE, ("s3:PutObject", PAPERS)},
    "AdministerFunction": {DATABASE},
    "RequestUploadFunction": {DATABASE, ("s3:PutObject", SUBMISSIONS)},
    "GetUploadStatusFunction": {DATABASE},
    "StartAttemptFunction": {DATABASE},
    # A link to the recorded version of the paper, for a student whose clock runs.
    "GetPaperLinkFunction": {DATABASE, ("s3:GetObjectVersion", PAPERS)},
    "GetVerificationFunction": {DATABASE},
    "GetDownloadUrlFunction": {DATABASE, GET_VERSION},
    "RecordSubmissionsFunction": {
        DATABASE,
        GET_VERSION,
        DELETE_VERSION,
        # The question papers come through the same queue: read, and deleted when rejected or replaced.
        ("s3:GetObjectVersion", PAPERS),
        ("s3:DeleteObjectVersion", PAPERS),
        *SIGN,
        # Its failed messages' visibility (the batch call needs no action of its own)
        ("sqs:ChangeMessageVisibility", "SubmissionEventsQueue.Arn"),
        # Each receipt's email, handed to the sender after the commit.
        QUEUE_MAIL,
        # An LMS student's hand-in status, handed to the LTI worker after the commit.
        QUEUE_LTI,
    },
    "CreateExportFunction": {DATABASE, ("sqs:SendMessage", "ExportJobsQueue.Arn")},
    # Queues the invitations it records (the sender takes them from there).
    "StudentMailFunction": {DATABASE, QUEUE_MAIL},
    # SES's raw send, from the sender's address or its domain and only through the stack's
    # configuration set; the quota (no resource of its own); its queue for the sweep and retries.
    "SendMessagesFunction": {
        DATABASE,
        ("ses:SendRawEmail", f"{SES}:identity/Select(1, Split(@, SenderAddress))"),
        ("ses:SendRawEmail", f"{SES}:identity/${{SenderAddress}}"),
        ("ses:SendRawEmail", f"{SES}:configuration-set/${{MailConfigurationSet}}"),
        ("ses:GetSendQuota", "*"),
        QUEUE_MAIL,
        ("sqs:ChangeMessageVisibility", "MailQueue.Arn"),
    },
    # SES's events come in the events themselves: the database only.
    "RecordMailEventsFunction": {DATABASE},
    "GetExportFunction": {DATABASE, ("s3:GetObject", EXPORTS)},
    "MembersFunction": {DATABASE},
    "ListAuditFunction": {DATABASE},
    # The owner's release of a file that could not be scanned: the database only.
    "ReleaseSubmissionFunction": {DATABASE},
    # The scan results come in the events themselves (its queue's poller from SAM); a student's
    # earlier files kept until the current one is found clean are deleted then, never read.
    "RecordScanResultsFunction": {DATABASE, DELETE_VERSION},
    # Every ZIP holds the exam's audit log and its signed checkpoint. A version the bucket refuses
    # it is a threat or a fault by its scan tag.
    "BuildExportFunction": {
        DATABASE,
        GET_VERSION,
        ("s3:GetObjectVersionTagging", SUBMISSIONS),
        ("s3:PutObject", EXPORTS),
        ("s3:AbortMultipartUpload", EXPORTS),
        *SIGN,
    },
    "VerifyReceiptFunction": {DATABASE},
    "GetJwksFunction": {DATABASE},
    # An object whose notification was lost is recorded with a signed receipt, as the recorder does.
    "ReconcileStorageFunction": {
        DATABASE,
        LIST_VERSIONS,
        GET_VERSION,
        DELETE_VERSION,
        *SIGN,
        # An overdue scan's result, from the scanner's tag on the version.
        ("s3:GetObjectVersionTagging", SUBMISSIONS),
        # The receipt of a file it records, emailed as the recorder's are.
        QUEUE_MAIL,
        # ... and its hand-in status queued for the LMS, as the recorder's are.
        QUEUE_LTI,
    },
    # The authorizer reads the sessions' key and verifies sessions: no database.
    "LtiAuthorizerFunction": {
        (
            "secretsmanager:GetSecretValue",
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/lti-sessions-key-*",
        ),
        ("kms:GetPublicKey", "LtiSessionKey.Arn"),
    },
    # The tool publishes its keys (current and previous: public halves only) and mints sessions.
    "LtiToolFunction": {
        DATABASE,
        ("kms:GetPublicKey", "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
        ("kms:Sign", "LtiSessionKey.Arn"),
        ("kms:GetPublicKey", "LtiSessionKey.Arn"),
    },
    # Deep-linking responses and the class list's tokens are signed as the tool.
    "LtiAdminFunction": {DATABASE, *SIGN_AS_TOOL},
    # ... and the gradebook's; its tick enqueues the sweep's scores and the syncs due.
    "LtiWorkerFunction": {
        DATABASE,
        *SIGN_AS_TOOL,
        ("sqs:SendMessage", "LtiJobsQueue.Arn"),
        ("sqs:ChangeMessageVisibility", "LtiJobsQueue.Arn"),
    },
    # An exam past its last cut-off that was never closed gets its audit checkpoint from the job.
    "ExpireSubmissionsFunction": {DATABASE, DELETE_VERSION, *SIGN},
    # CloudFormation invokes it for DatabaseMigration with the deployer's rights, and it answers
    # through a presigned URL: its role gains nothing for that.
    "MigrateDatabaseFunction": {DATABASE},
    "WakeDatabaseFunction": {DATABASE},
    "ServePagesFunction": set(),
    "ServeDocsFunction": set(),
}


def _target(resource: Any) -> str:
    """A statement's resource as text: a GetAtt as `Name.Attribute`, a Ref as its name, a Sub's text
    with its own variables written in, an If as `If(condition, then, else)`."""
    if isinstance(resource, str):
        return resource
    ((function, argument),) = resource.items()
    if function == "Fn::GetAtt":
        return ".".join(argument)
    if function == "Ref":
        return str(argument)
    if function == "Fn::If":
        condition, when_true, when_false = argument
        return f"If({condition}, {_target(when_true)}, {_target(when_false)})"
    if function in ("Fn::Select", "Fn::Split"):
        return f"{function.removeprefix('Fn::')}({argument[0]}, {_target(argument[1])})"
    assert function == "Fn::Sub", resource
    text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
    return re.sub(r"\$\{([^}]+)\}", lambda name: _target(variables.get(name[1], f"${{{name[1]}}}")), text)


def _chosen(item: Any, deployment: sam_template.Deployment | None) -> Any:
    """A policy or statement as `deployment` has it: an Fn::If around it resolved (None: dropped)."""
    while isinstance(item, dict) and set(item) == {"Fn::If"}:
        assert deployment is not None, item
        name, when_true, when_false = item["Fn::If"]
        item = when_true if deployment.condition(name) else when_false
    return None if item == sam_template.NO_VALUE else item


def _grants(role: dict[str, Any], deployment: sam_template.Deployment | None = None) -> set[tuple[str, str]]:
    grants: set[tuple[str, str]] = set()
    for policy in filter(None, (_chosen(policy, deployment) for policy in role.get("Policies", []))):
        statements = (_chosen(statement, deployment) for statement in policy["PolicyDocument"]["Statement"])
        for statement in filter(None, statements):
            assert statement["Effect"] == "Allow"
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            grants.update((action, _target(resource)) for action in actions for resource in resources)
    return grants


@pytest.fixture(scope="module")
def with_mail(template: dict[str, Any]) -> sam_template.Deployment:
    """A deployment that sends mail, as SAM expands the template for it."""
    return sam_template.Deployment(sam_template.expand(template, MAIL), MAIL)


def test_each_function_role_grants_exactly_what_its_job_needs(with_mail: sam_template.Deployment) -> None:
    resources = with_mail.template["Resources"]
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert functions == set(ROLE_GRANTS)
    for function, grants in ROLE_GRANTS.items():
        role = resources[f"{function}Role"]["Properties"]
        assert _grants(role, with_mail) == grants, function
        managed = {arn.removeprefix(AWS_MANAGED) for arn in role["ManagedPolicyArns"]}
        sqs_triggered = (
            "RecordSubmissionsFunction",
            "BuildExportFunction",
            "RecordScanResultsFunction",
            "SendMessagesFunction",
            "RecordMailEventsFunction",
            "LtiWorkerFunction",
        )
        poller = {"service-role/AWSLambdaSQSQueueExecutionRole"} if function in sqs_triggered else set()
        assert managed == BASE_MANAGED | poller, function
    for function in ("ReconcileStorageFunction", "DeleteStudentFunction", "DeleteExamFunction"):
        statements = resources[f"{function}Role"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"]
        (listing,) = [statement for statement in statements if statement.get("Sid") == "ListSubmissionVersions"]
        # An exam's deletion lists its exports' and its papers' versions too (exports/<exam>/...).
        prefixes = ["submissions/*", "exports/*", "papers/*"] if function == "DeleteExamFunction" else "submissions/*"
        assert listing["Condition"] == {"StringLike": {"s3:prefix": prefixes}}, function


def test_only_the_tool_s_two_signers_sign_as_the_tool_and_only_the_launch_mints_sessions(
    with_mail: sam_template.Deployment,
) -> None:
    signers: dict[str, set[str]] = {}
    for function in ROLE_GRANTS:
        for action, target in _grants(with_mail.template["Resources"][f"{function}Role"]["Properties"], with_mail):
            if action == "kms:Sign":
                signers.setdefault(target, set()).add(function)
    assert signers[TOOL_KEY] == {"LtiAdminFunction", "LtiWorkerFunction"}
    assert signers["LtiSessionKey.Arn"] == {"LtiToolFunction"}


def test_without_a_sender_no_function_may_send_or_queue_mail(template: dict[str, Any]) -> None:
    deployment = sam_template.Deployment(sam_template.expand(template, {}), {})
    resources = deployment.created()
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert functions == set(ROLE_GRANTS) - {"SendMessagesFunction", "RecordMailEventsFunction"}
    for function in functions:
        grants = _grants(deployment.template["Resources"][f"{function}Role"]["Properties"], deployment)
        assert not {action for action, _ in grants if action.startswith("ses:")}, function
        assert not {target for _, target in grants if "Mail" in target}, function
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        # SenderAddress is empty here: MailSettings reads mail as off.
        assert variables.get("SENDER_ADDRESS", {"Ref": "SenderAddress"}) == {"Ref": "SenderAddress"}, function
        assert deployment.values["SenderAddress"] == ""
        assert variables.get("MAIL_QUEUE_URL", "") == "", function
    # The routes' function answers 409 mail-not-configured; nothing else of the mail is created.
    assert {name for name in resources if "Mail" in name and not name.startswith("StudentMailFunction")} == set()


@pytest.mark.parametrize(
    ("alarm", "namespace", "metric", "threshold", "dimension"),
    [
        (
            "DeadLetterQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            0,
            {"Fn::GetAtt": ["SubmissionEventsDeadLetterQueue", "QueueName"]},
        ),
        (
            "QueueAgeAlarm",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"Ref": "QueueAgeAlarmSeconds"},
            {"Fn::GetAtt": ["SubmissionEventsQueue", "QueueName"]},
        ),
        ("RecorderErrorsAlarm", "AWS/Lambda", "Errors", 0, {"Ref": "RecordSubmissionsFunction"}),
        ("ReconcileErrorsAlarm", "AWS/Lambda", "Errors", 0, {"Ref": "ReconcileStorageFunction"}),
        ("LostFilesAlarm", "ExamDepository", "LostFiles", 0, "exam-depository"),
        (
            "ScanResultsDeadLetterQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            0,
            {"Fn::GetAtt": ["ScanResultsDeadLetterQueue", "QueueName"]},
        ),
        ("ThreatFoundAlarm", "ExamDepository", "ScanResults", 0, "exam-depository"),
        ("ScanResultsUnmatchedAlarm", "ExamDepository", "ScanResultsUnmatched", 0, "exam-depository"),
        ("ScansOverdueAlarm", "ExamDepository", "ScansOverdue", 0, "exam-depository"),
        (
            "Api5xxAlarm",
            "AWS/ApiGateway",
            "5XXError",
            {"Ref": "Api5xxAlarmThreshold"},
            {"Fn::Sub": "${AWS::StackName}-api"},
        ),
        ("ApiThrottleAlarm", "AWS/ApiGateway", "4XXError", 100, {"Fn::Sub": "${AWS::StackName}-api"}),
    ],
)
def test_each_alarm_watches_its_metric_and_notifies_the_topic(
    template: dict[str, Any], alarm: str, namespace: str, metric: str, threshold: object, dimension: object
) -> None:
    props = template["Resources"][alarm]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Threshold"]) == (namespace, metric, threshold)
    assert props["Dimensions"][0]["Value"] == dimension
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert props["TreatMissingData"] == "notBreaching"


VISIBLE = "ApproximateNumberOfMessagesVisible"


@pytest.mark.parametrize(
    ("alarm", "namespace", "metric", "threshold", "dimension"),
    [
        ("MailDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", 0, "MailDeadLetterQueue"),
        (
            "MailEventsDeadLetterQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            0,
            "MailEventsDeadLetterQueue",
        ),
        ("MessagesUnsettledAlarm", "ExamDepository", "MessagesUnsettled", 1, "exam-depository"),
        ("MailHandOffAlarm", "ExamDepository", "MailHandOffFailed", 1, "exam-depository"),
        ("MailDailyQuotaAlarm", "ExamDepository", "MailDailyQuotaReached", 1, "exam-depository"),
        ("MailUnavailableAlarm", "ExamDepository", "MailUnavailable", 3, "exam-depository"),
        ("MailBounceRateAlarm", "AWS/SES", "Reputation.BounceRate", 0.05, "MailConfigurationSet"),
        ("MailComplaintRateAlarm", "AWS/SES", "Reputation.ComplaintRate", 0.001, "MailConfigurationSet"),
    ],
)
def test_each_mail_alarm_watches_its_metric_only_when_mail_is_sent(
    template: dict[str, Any], alarm: str, namespace: str, metric: str, threshold: float, dimension: str
) -> None:
    resource = template["Resources"][alarm]
    props = resource["Properties"]
    assert resource["Condition"] == "SendMail"
    assert (props["Namespace"], props["MetricName"], props["Threshold"]) == (namespace, metric, threshold)
    assert dimension in json.dumps(props["Dimensions"][0]["Value"])
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # The sender and the hand-offs (the routes', the recorder's) emit the product's metrics under these names.
    if namespace == "ExamDepository":
        emitters = ("functions/send_messages/app.py", "shared/exam_depository/usecases/mail.py")
        sources = "".join((ROOT / path).read_text() for path in emitters)
        assert f'"{metric}"' in sources


def test_the_api_name_the_alarms_watch_is_the_api_s_name(template: dict[str, Any]) -> None:
    assert template["Resources"]["Api"]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-api"}


def test_the_dashboard_shows_only_metrics_the_functions_emit(template: dict[str, Any]) -> None:
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown, namespace = set(), None
    for widget in widgets:
        for line in widget["properties"]["metrics"]:
            namespace = line[0] if line[0] != "." else namespace  # "." repeats the line above
            if namespace == "ExamDepository":
                shown.add(line[1])
    recorder = load_function("record_submissions", "template_test_recorder")
    presign = load_function("request_upload", "template_test_presign")
    builder = load_function("build_export", "template_test_builder")
    emitted = {
        *recorder.OUTCOME_METRICS.values(),
        recorder.DELETED_METRIC,
        recorder.RECEIPTS_METRIC,
        presign.ISSUED_METRIC,
        *builder.OUTCOME_METRICS.values(),
    }
    assert shown <= emitted
    assert {"SubmissionsRecorded", "UploadsRejected", "ObjectVersionsDeleted", "UploadsIssued"} <= shown


def _overrides(environment: str) -> dict[str, str]:
    import shlex
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_samconfig_overrides_only_parameters_the_template_has(template: dict[str, Any], environment: str) -> None:
    overrides = _overrides(environment)
    assert set(overrides) <= set(template["Parameters"])
    assert overrides["EnvironmentName"] == ("dev" if environment == "default" else environment)


def test_prod_throttles_and_alarms_more_strictly_than_the_defaults(template: dict[str, Any]) -> None:
    prod = _overrides("prod")
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    for stricter in (
        "ThrottleRateLimit",
        "ThrottleBurstLimit",
        "QuotaLimit",
        "QueueAgeAlarmSeconds",
        "Api5xxAlarmThreshold",
    ):
        assert int(prod[stricter]) < int(defaults[stricter]), stricter


# The checks .checkov.yaml skips for every resource, each wrong for every resource it applies to
# (its comment says why). A check that some resource should pass is skipped in that resource's
# Metadata instead: adding one here is a decision, made in this test too.
CHECKOV_SKIPPED_EVERYWHERE = {
    "CKV_AWS_173",  # the functions' environment encrypted with a KMS key: it holds no secret
    "CKV_AWS_116",  # a dead-letter queue on every function: none is invoked asynchronously unchecked
    "CKV_AWS_158",  # the log groups encrypted with a KMS key: CloudWatch's own encryption
}


def _checkov_config_skips() -> dict[str, str]:
    """.checkov.yaml's skip-check, as checkov reads it, with the comment above each entry."""
    path = ROOT / ".checkov.yaml"
    skipped = yaml_parse(path.read_text())["skip-check"]
    reasons: dict[str, str] = {}
    comment: list[str] = []
    for line in path.read_text().splitlines():
        entry = re.fullmatch(r"\s*- (CKV_AWS_\d+)\s*", line)
        if line.strip().startswith("#"):
            comment.append(line.strip().lstrip("#").strip())
        elif entry:
            reasons[entry[1]] = " ".join(comment)
            comment = []
        else:
            comment = []
    assert list(reasons) == skipped, "one check id per line of skip-check"
    return reasons


def test_every_checkov_skip_names_its_check_and_gives_a_reason(template: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "make validate runs checkov; a skip for one resource lives in that resource's Metadata"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert len(skip.get("comment", "")) >= 30, f"{name} skips {skip['id']} without a reason"
        assert skip["id"] not in CHECKOV_SKIPPED_EVERYWHERE, f"{name} skips {skip['id']}, which .checkov.yaml skips"
    everywhere = _checkov_config_skips()
    assert set(everywhere) == CHECKOV_SKIPPED_EVERYWHERE
    for check, reason in everywhere.items():
        assert len(reason) >= 30, f".checkov.yaml skips {check} without a reason"
    assert "--config-file .checkov.yaml" in (ROOT / "Makefile").read_text()


def test_the_only_log_groups_are_the_functions_each_kept_for_the_log_retention(template: dict[str, Any]) -> None:
    # .checkov.yaml's skip of CKV_AWS_158 holds because every log group is a function's.
    log_groups = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    assert set(log_groups) == {f"{function}LogGroup" for function in _functions(template)}
    for name, props in log_groups.items():
        function = name.removesuffix("LogGroup")
        assert props == {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function}}}"},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        }, name


# PostgreSQL keeps 3 connections for superusers (superuser_reserved_connections); the rest of the
# margin is for operators (psql, a migration run by hand). docs/RELIABILITY.md gives the arithmetic.
OPERATOR_MARGIN = 10
# Lambda keeps 100 of an account's concurrency unreserved; a new account has 1,000.
ACCOUNT_CONCURRENCY, UNRESERVED = 1000, 100


def _uses_database(props: dict[str, Any]) -> bool:
    return any("AWSSecretsManagerGetSecretValuePolicy" in policy for policy in props.get("Policies", []))


def test_every_database_function_has_a_share_and_all_fit_in_max_connections_for_every_allowed_value(
    template: dict[str, Any],
) -> None:
    database_functions = {Path(p["CodeUri"]).name for p in _functions(template).values() if _uses_database(p)}
    assert {
        "request_upload",
        "get_upload_status",
        "record_submissions",
        "build_export",
        "record_scan_results",
        "send_messages",
        "record_mail_events",
    } <= database_functions
    for max_connections, recorders in _deployable_budgets(template):
        limits = concurrency_limits(
            template, {"DatabaseMaxConnections": str(max_connections), "RecorderMaxConcurrency": str(recorders)}
        )
        shares = {function: limits[function] for function in database_functions}
        assert all(share is not None and share >= 1 for share in shares.values()), (max_connections, shares)
        assert limits["record_submissions"] == int(recorders)
        # The LTI worker's tick runs beside its queue's 2 (ConnectionBudget counts it).
        used = sum(share or 0 for share in shares.values()) + LTI_TICKS
        assert used + OPERATOR_MARGIN <= int(max_connections), (max_connections, recorders, used)
        # The two student-path functions get all that is left, but for an odd one.
        assert int(max_connections) - (used + OPERATOR_MARGIN) < 2, (max_connections, recorders, used)


LTI_TICKS = 1


def _deployable_budgets(template: dict[str, Any]) -> list[tuple[int, int]]:
    """Every (DatabaseMaxConnections, RecorderMaxConcurrency) the template's rules let deploy."""
    parameters = template["Parameters"]
    return [
        (int(max_connections), int(recorders))
        for max_connections in parameters["DatabaseMaxConnections"]["AllowedValues"]
        for recorders in parameters["RecorderMaxConcurrency"]["AllowedValues"]
        if not sam_template.Deployment(
            template, {"DatabaseMaxConnections": str(max_connections), "RecorderMaxConcurrency": str(recorders)}
        ).failed_rules()
    ]


# docs/RELIABILITY.md's table: each student-path function's share, by DatabaseMaxConnections and
# RecorderMaxConcurrency, with 25 examiner functions (the members' five routes in one, the two mail
# routes in one, the six LTI admin routes in one), 7 reviewer-share functions (the LTI tool's
# among them), the scan results', the sender's and the mail events' functions at their queues' 2,
# the LTI worker at its queue's 2 and its tick.
# None: the template refuses the pair (no connection would be left for the student path).
STUDENT_SHARES: dict[int, dict[int, int | None]] = {
    100: {2: 4, 5: 2, 10: None, 20: 7, 50: None},
    189: {2: 15, 5: 13, 10: 11, 20: 9, 50: 10},
    823: {2: 265, 5: 263, 10: 261, 20: 256, 50: 241},
    1669: {2: 688, 5: 686, 10: 684, 20: 679, 50: 664},
    2000: {2: 853, 5: 852, 10: 849, 20: 844, 50: 829},
}


@pytest.mark.parametrize("recorders", ["10", "50"])
def test_ten_or_fifty_recorders_with_a_hundred_connections_are_refused_before_the_deployment_starts(
    template: dict[str, Any], recorders: str
) -> None:
    refused = sam_template.Deployment(template, {"DatabaseMaxConnections": "100", "RecorderMaxConcurrency": recorders})
    assert refused.failed_rules() == [
        "RecorderMaxConcurrency 10 or 50 needs DatabaseMaxConnections 189 or more (docs/RELIABILITY.md)."
    ]
    assert recorders not in template["Mappings"]["ConnectionBudget"]["100"]
    deployable = set(_deployable_budgets(template))
    assert {(m, r) for m, row in STUDENT_SHARES.items() for r, share in row.items() if share is not None} == deployable


def test_the_student_path_shares_are_those_the_reliability_page_states(template: dict[str, Any]) -> None:
    for max_connections, recorders in _deployable_budgets(template):
        limits = concurrency_limits(
            template, {"DatabaseMaxConnections": str(max_connections), "RecorderMaxConcurrency": str(recorders)}
        )
        shares = (limits["request_upload"], limits["get_upload_status"])
        assert shares == (STUDENT_SHARES[max_connections][recorders],) * 2, (max_connections, recorders)


def _share(index: int) -> dict[str, Any]:
    """A ConnectionBudget share as the template selects it: 0 student path, 1 reviewer, 2 examiner."""
    budget = {
        "Fn::FindInMap": ["ConnectionBudget", {"Ref": "DatabaseMaxConnections"}, {"Ref": "RecorderMaxConcurrency"}]
    }
    return {"Fn::Select": [index, budget]}


def test_each_api_function_takes_the_share_of_its_kind_of_traffic(template: dict[str, Any]) -> None:
    functions = _functions(template)
    reservation = {name: props.get("ReservedConcurrentExecutions") for name, props in functions.items()}
    # What a deadline scales out: the form and the status, which get what the others leave
    assert {name for name, value in reservation.items() if value == _share(0)} == {
        "RequestUploadFunction",
        "GetUploadStatusFunction",
    }
    # Once or a few times per student, spread over a window: the reviewer's, and a timed exam's start and paper
    assert {name for name, value in reservation.items() if value == _share(1)} == {
        "GetVerificationFunction",
        "GetDownloadUrlFunction",
        "VerifyReceiptFunction",
        "GetJwksFunction",
        "StartAttemptFunction",
        "GetPaperLinkFunction",
        # A class launching the tool from its course at 9:00
        "LtiToolFunction",
    }
    # The examiner's routes take the Globals' share: one function per route of the contract that
    # needs the key, the members' five routes one function, the LTI admin's six one
    assert template["Globals"]["Function"]["ReservedConcurrentExecutions"] == _share(2)
    examiner = {name for name, value in reservation.items() if value is None}
    assert {_api_routes(template)[route][0] for route in EXAMINER_ROUTES} == examiner
    assert len(examiner) == 25  # docs/RELIABILITY.md's formula counts them


def test_the_default_budget_leaves_a_new_account_its_unreserved_concurrency(template: dict[str, Any]) -> None:
    limits = concurrency_limits(template)
    reserved = sum(
        limits[Path(props["CodeUri"]).name] or 0
        for props in _functions(template).values()
        if props.get("ReservedConcurrentExecutions", template["Globals"]["Function"]["ReservedConcurrentExecutions"])
        != {"Ref": "AWS::NoValue"}
    )
    # docs/RELIABILITY.md states this figure: the account concurrency the default needs.
    assert reserved + UNRESERVED == 173
    assert reserved + UNRESERVED <= ACCOUNT_CONCURRENCY


def test_a_function_without_a_reservation_says_why_and_uses_no_connection_or_a_queue_caps_it(
    template: dict[str, Any],
) -> None:
    # checkov's CKV_AWS_115 passes a function whose reservation is !Ref AWS::NoValue: the reason
    # for opting out must be its skip of that check, which this test asks for.
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        skips = {skip["id"] for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        if props.get("ReservedConcurrentExecutions") == {"Ref": "AWS::NoValue"}:
            assert "CKV_AWS_115" in skips, f"{name} takes no reservation without saying why"
            queues = [e for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
            assert not _uses_database(props) or all(
                "MaximumConcurrency" in e["Properties"]["ScalingConfig"] for e in queues
            )
            assert not _uses_database(props) or queues, f"{name} uses the database without a cap"
        else:
            assert "CKV_AWS_115" not in skips, f"{name} has the reservation and skips its check"


def _connect_wait_s(template: dict[str, Any], function: str) -> float:
    """How long `_connect` keeps trying in `function`: its DB_CONNECT_WAIT_S as the template sets
    it (or the settings' default), validated as DatabaseSettings does."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"] | template["Resources"][function][
        "Properties"
    ].get("Environment", {}).get("Variables", {})
    given = {name: str(value) for name, value in variables.items() if name.startswith("DB_CONNECT_")}
    return DatabaseSettings.model_validate(given | {"DATABASE_URL": "postgresql://template"}).connect_wait_s


def _longest_connect_s(template: dict[str, Any], function: str) -> float:
    """`_connect` starts no attempt after its wait, but one started just before may end up to 2 s
    after it (libpq's shortest connect timeout)."""
    return _connect_wait_s(template, function) + 2


def _timeout_s(template: dict[str, Any], function: str) -> int:
    props = template["Resources"][function]["Properties"]
    return int(props.get("Timeout", template["Globals"]["Function"]["Timeout"]))


def test_every_connect_ends_before_its_function_times_out_and_api_gateway_gives_up(template: dict[str, Any]) -> None:
    for name, props in _functions(template).items():
        if not _uses_database(props):
            continue
        # The request's work needs the rest of the function's Timeout.
        assert _longest_connect_s(template, name) < _timeout_s(template, name), name
        if any(event["Type"] == "Api" for event in props.get("Events", {}).values()):
            assert _timeout_s(template, name) < API_GATEWAY_TIMEOUT_S, name


API_GATEWAY_TIMEOUT_S = 29
# The exam functions that keep an exam's wake schedules after its change committed.
WAKE_KEEPERS = ("CreateExamFunction", "UpdateExamFunction", "CloseExamFunction", "DeleteExamFunction")


def _longest_scheduler_call_s() -> float:
    """The longest one call of the Scheduler adapter's client takes: each try's connect and read
    timeouts, and between tries standard mode's backoff at its longest (1 s doubling, at most 20 s,
    plus up to 5 s more where Scheduler asks for it with x-amz-retry-after)."""
    config = scheduler_adapter.CLIENT_CONFIG
    tries = config["retries"]["total_max_attempts"]
    backoff_s = sum(min(2**retry, 20) + 5 for retry in range(tries - 1))
    return float(tries * (config["connect_timeout"] + config["read_timeout"]) + backoff_s)


def test_an_exam_change_is_answered_before_its_timeout_whatever_scheduler_does(template: dict[str, Any]) -> None:
    # The change commits after the connect; its wakes are kept after that, each moment's in at
    # most the adapter's calls for one wake. A function timing out then would tell the examiner
    # that a saved change failed.
    keeping_wakes_s = len(MOMENTS) * scheduler_adapter.MAX_CALLS_PER_WAKE * _longest_scheduler_call_s()
    for function in WAKE_KEEPERS:
        longest_s = _longest_connect_s(template, function) + keeping_wakes_s
        assert longest_s < _timeout_s(template, function) < API_GATEWAY_TIMEOUT_S, (function, longest_s)


def test_a_throttled_function_and_a_throttled_stage_answer_with_retry_after(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    answers = gateway_responses(template)
    for kind, status in (("INTEGRATION_FAILURE", 503), ("THROTTLED", 429)):
        got_status, headers, body = answers[kind]
        problem = json.loads(body)
        assert got_status == status == problem["status"]
        assert int(headers["Retry-After"]) >= 1
        assert problem["type"] == "urn:exam-depository:problem:service-busy"
    # SAM writes them into the API's OpenAPI body, which API Gateway imports.
    (api,) = [r for r in expanded["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    deployed = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert deployed["INTEGRATION_FAILURE"]["statusCode"] == "503"
    assert deployed["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_a_key_over_its_quota_is_told_so_with_no_retry_after(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    # API Gateway's default is an untyped {"message": "Limit Exceeded"}, which a page could take
    # for a busy service; the quota renews only with the usage plan's next period.
    status, headers, body = gateway_responses(template)["QUOTA_EXCEEDED"]
    problem = json.loads(body)
    assert status == problem["status"] == 429
    assert problem["type"] == "urn:exam-depository:problem:quota-exceeded"
    assert "quota for the period" in problem["detail"]
    assert "Retry-After" not in headers
    (api,) = [r for r in expanded["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    deployed = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]["QUOTA_EXCEEDED"]
    assert deployed["statusCode"] == "429"
    assert "gatewayresponse.header.Retry-After" not in deployed.get("responseParameters", {})


def test_only_an_answer_meaning_nothing_was_done_carries_retry_after(template: dict[str, Any]) -> None:
    # A client that reads no body (local_stack/client.py) sends a change again only after Retry-After.
    for kind, (_, headers, body) in gateway_responses(template).items():
        problem_kind = json.loads(body)["type"].rsplit(":", 1)[-1]
        assert ("Retry-After" in headers) == (problem_kind in {"service-busy", "service-starting"}), kind


def test_the_export_builder_knows_its_last_try_as_the_queue_counts_them(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    tries = resources["BuildExportFunction"]["Properties"]["Environment"]["Variables"]["EXPORT_MAX_TRIES"]
    assert int(tries) == resources["ExportJobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    timeout = resources["BuildExportFunction"]["Properties"]["Timeout"]
    assert resources["ExportJobsQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_the_wakes_reach_only_the_wake_function_and_only_from_the_stacks_schedules(expanded: dict[str, Any]) -> None:
    resources = expanded["Resources"]
    role = resources["WakeSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    # The confused deputy: Scheduler acting for another account, or for another group's schedules.
    assert set(trust["Condition"]["StringEquals"]) == {"aws:SourceAccount", "aws:SourceArn"}
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":schedule-group/${WakeScheduleGroup}"
    )
    assert _grants(role) == {("lambda:InvokeFunction", "WakeDatabaseFunction.Arn")}
    for function in ("CreateExamFunction", "UpdateExamFunction"):
        statements = resources[f"{function}Role"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"]
        (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
        assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}, function


def test_the_exam_functions_wake_settings_are_the_stacks(template: dict[str, Any]) -> None:
    # What WakeSettings reads: the functions that put wakes get all of it, those that only delete
    # them the group (a lead of 0 there: the plan is then "none pending").
    resources = template["Resources"]
    full = {
        "WAKE_SCHEDULE_GROUP": {"Ref": "WakeScheduleGroup"},
        "WAKE_LEAD_MINUTES": {"Ref": "WakeLeadMinutes"},
        "WAKE_FUNCTION_ARN": {"Fn::GetAtt": ["WakeDatabaseFunction", "Arn"]},
        "WAKE_ROLE_ARN": {"Fn::GetAtt": ["WakeSchedulerRole", "Arn"]},
    }
    for function in ("CreateExamFunction", "UpdateExamFunction"):
        assert resources[function]["Properties"]["Environment"]["Variables"] == full, function
    for function in ("CloseExamFunction", "DeleteExamFunction"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        wakes = {name: value for name, value in variables.items() if name.startswith("WAKE_")}
        assert wakes == {"WAKE_SCHEDULE_GROUP": {"Ref": "WakeScheduleGroup"}}, function


def test_the_default_lead_wakes_the_database_in_time_and_it_is_still_awake_at_the_moment(
    template: dict[str, Any],
) -> None:
    # Scheduler fires up to 60 s after the time asked and Aurora takes up to 30 s to resume: the
    # lead must cover both. Aurora pauses SecondsUntilAutoPause after the wake's connection
    # closed (the created database's, at least Aurora's 300 s): the moment must come before that.
    lead_s = 60 * int(template["Parameters"]["WakeLeadMinutes"]["Default"])
    pause = template["Parameters"]["DatabaseSecondsUntilAutoPause"]
    assert 60 + 30 <= lead_s <= int(pause["Default"])
    assert int(pause["MinValue"]) == 300
    assert template["Resources"]["DatabaseCluster"]["Properties"]["ServerlessV2ScalingConfiguration"][
        "SecondsUntilAutoPause"
    ] == {"Ref": "DatabaseSecondsUntilAutoPause"}
    assert template["Parameters"]["WakeLeadMinutes"]["MinValue"] == 0  # 0 = off
    # What the wake's connect actually waits covers a resume of up to 30 s, and ends before its
    # Timeout.
    assert _connect_wait_s(template, "WakeDatabaseFunction") > 30
    assert _longest_connect_s(template, "WakeDatabaseFunction") < _timeout_s(template, "WakeDatabaseFunction")


def test_every_environment_value_is_a_string_as_cloudformation_takes_it(template: dict[str, Any]) -> None:
    # AWS turns a number into text; MiniStack passes it on as a number, and the function's
    # environment then fails to start ("expected str, bytes or os.PathLike object, not int").
    resources = {"Globals": {"Properties": template["Globals"]["Function"]}, **template["Resources"]}
    found = {
        (name, variable): value
        for name, resource in resources.items()
        for variable, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items()
        if not isinstance(value, str | dict)
    }
    assert found == {}


# --- Where the database is: the four ways to deploy, and two ways to scan ------------------------

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:exam-depository/prod/database-AbCdEf"
GIVEN_SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
GIVEN_VPC = "vpc-0123456789abcdef0"
NETWORK = {
    "Vpc",
    "PrivateSubnetA",
    "PrivateSubnetB",
    "PrivateRouteTable",
    "PrivateSubnetARouteTable",
    "PrivateSubnetBRouteTable",
    "S3GatewayEndpoint",
    "EndpointSecurityGroup",
    "SecretsManagerEndpoint",
    "KmsEndpoint",
    "SqsEndpoint",
    "SchedulerEndpoint",
}
# LmsEgress=NatGateway in a created network: the LTI functions' way to the LMSs.
LMS_EGRESS = {
    "PublicSubnetA",
    "InternetGateway",
    "InternetGatewayAttachment",
    "PublicRouteTable",
    "PublicDefaultRoute",
    "PublicSubnetARouteTable",
    "NatEip",
    "NatGateway",
    "PrivateDefaultRoute",
}
DATABASE_RESOURCES = {
    "FunctionSecurityGroup",
    "DatabaseSecurityGroup",
    "DatabaseSubnetGroup",
    "DatabaseCluster",
    "DatabaseInstance",
}
# The malware scan: GuardDuty's plan by default; the results' path whenever anyone scans.
GUARDDUTY = {"MalwareProtectionRole", "MalwareProtectionPlan"}
SCAN_RESULTS = {
    "ScanResultsRule",
    "ScanResultsQueue",
    "ScanResultsDeadLetterQueue",
    "ScanResultsQueuePolicy",
    "RecordScanResultsFunction",
    "RecordScanResultsFunctionRole",
    "RecordScanResultsFunctionResults",
    "RecordScanResultsFunctionLogGroup",
    "ScanResultsDeadLetterQueueAlarm",
    "ThreatFoundAlarm",
    "ScanResultsUnmatchedAlarm",
    "ScansOverdueAlarm",
}
# Email: all of it only with a SenderAddress; SES's endpoint only in a network the stack creates.
MAIL_RESOURCES = {
    "MailConfigurationSet",
    "MailEventDestination",
    "MailQueue",
    "MailDeadLetterQueue",
    "MailEventsRule",
    "MailEventsQueue",
    "MailEventsDeadLetterQueue",
    "MailEventsQueuePolicy",
    "SendMessagesFunction",
    "SendMessagesFunctionRole",
    "SendMessagesFunctionMessages",
    "SendMessagesFunctionSweep",
    "SendMessagesFunctionSweepPermission",
    "SendMessagesFunctionLogGroup",
    "RecordMailEventsFunction",
    "RecordMailEventsFunctionRole",
    "RecordMailEventsFunctionEvents",
    "RecordMailEventsFunctionLogGroup",
    "MailDeadLetterQueueAlarm",
    "MailEventsDeadLetterQueueAlarm",
    "MessagesUnsettledAlarm",
    "MailHandOffAlarm",
    "MailDailyQuotaAlarm",
    "MailUnavailableAlarm",
    "MailBounceRateAlarm",
    "MailComplaintRateAlarm",
}
MAIL_ENDPOINT = {"SesEndpoint"}
FUNCTION_GROUP = {"Fn::GetAtt": ["FunctionSecurityGroup", "GroupId"]}
CREATED_SECRET = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
# (parameters, the conditional resources created, the functions' VpcConfig, their DB_* variables)
WAYS_TO_DEPLOY: dict[str, tuple[dict[str, str], set[str], dict[str, Any] | None, dict[str, Any]]] = {
    "everything created": (
        {},
        NETWORK | DATABASE_RESOURCES | GUARDDUTY | SCAN_RESULTS,
        {"SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}], "SecurityGroupIds": [FUNCTION_GROUP]},
        {
            "DB_SECRET_ARN": CREATED_SECRET,
            "DB_HOST": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]},
            "DB_PORT": {"Fn::Sub": "${DatabaseCluster.Endpoint.Port}"},
            "DB_NAME": "exam_depository",
        },
    ),
    "database created in given subnets": (
        {"SubnetIds": GIVEN_SUBNETS, "VpcId": GIVEN_VPC},
        DATABASE_RESOURCES | GUARDDUTY | SCAN_RESULTS,
        {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": [FUNCTION_GROUP]},
        {
            "DB_SECRET_ARN": CREATED_SECRET,
            "DB_HOST": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]},
            "DB_PORT": {"Fn::Sub": "${DatabaseCluster.Endpoint.Port}"},
            "DB_NAME": "exam_depository",
        },
    ),
    "database given": (
        {"DatabaseSecretArn": SECRET},
        GUARDDUTY | SCAN_RESULTS,
        None,
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
    "database given in a VPC": (
        {"DatabaseSecretArn": SECRET, "SubnetIds": GIVEN_SUBNETS, "SecurityGroupIds": "sg-0123456789abcdef0"},
        GUARDDUTY | SCAN_RESULTS,
        {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
    # make deploy-local: MiniStack has no GuardDuty; the local scanner speaks its protocol.
    "database given, scanned outside the stack": (
        {"DatabaseSecretArn": SECRET, "MalwareScanning": "External"},
        SCAN_RESULTS,
        None,
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
    "everything created, with mail": (
        MAIL,
        NETWORK | DATABASE_RESOURCES | GUARDDUTY | SCAN_RESULTS | MAIL_RESOURCES | MAIL_ENDPOINT,
        {"SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}], "SecurityGroupIds": [FUNCTION_GROUP]},
        {
            "DB_SECRET_ARN": CREATED_SECRET,
            "DB_HOST": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]},
            "DB_PORT": {"Fn::Sub": "${DatabaseCluster.Endpoint.Port}"},
            "DB_NAME": "exam_depository",
        },
    ),
    "everything created, with a way to the LMSs": (
        {"LmsEgress": "NatGateway"},
        NETWORK | LMS_EGRESS | DATABASE_RESOURCES | GUARDDUTY | SCAN_RESULTS,
        {"SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}], "SecurityGroupIds": [FUNCTION_GROUP]},
        {
            "DB_SECRET_ARN": CREATED_SECRET,
            "DB_HOST": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]},
            "DB_PORT": {"Fn::Sub": "${DatabaseCluster.Endpoint.Port}"},
            "DB_NAME": "exam_depository",
        },
    ),
    # A NAT gateway only where the stack makes the network: given subnets bring their own way out.
    "database given in a VPC, LmsEgress ignored": (
        {
            "DatabaseSecretArn": SECRET,
            "SubnetIds": GIVEN_SUBNETS,
            "SecurityGroupIds": "sg-0123456789abcdef0",
            "LmsEgress": "NatGateway",
        },
        GUARDDUTY | SCAN_RESULTS,
        {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
    # make deploy-local's: a given VPC needs SES's endpoint or a NAT of its own (OPERATIONS.md).
    "database given, scanned outside the stack, with mail": (
        {"DatabaseSecretArn": SECRET, "MalwareScanning": "External", **MAIL},
        SCAN_RESULTS | MAIL_RESOURCES,
        None,
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
    "database given, not scanned": (
        {"DatabaseSecretArn": SECRET, "MalwareScanning": "Off"},
        set(),
        None,
        {
            "DB_SECRET_ARN": {"Ref": "DatabaseSecretArn"},
            "DB_HOST": {"Ref": "DatabaseHost"},
            "DB_PORT": {"Ref": "DatabasePort"},
            "DB_NAME": {"Ref": "DatabaseName"},
        },
    ),
}
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackName", "AWS::URLSuffix"}


@pytest.fixture(scope="module", params=list(WAYS_TO_DEPLOY))
def way_to_deploy(request: pytest.FixtureRequest, template: dict[str, Any]) -> tuple[str, sam_template.Deployment]:
    """One of the ways, as SAM expands the template for it and CloudFormation evaluates it."""
    parameters = WAYS_TO_DEPLOY[request.param][0]
    return request.param, sam_template.Deployment(sam_template.expand(template, parameters), parameters)


def test_each_way_to_deploy_passes_the_rules_and_creates_its_own_network_and_database(
    way_to_deploy: tuple[str, sam_template.Deployment],
) -> None:
    way, deployment = way_to_deploy
    # CloudFormation checks the rules before it starts; SAM's expansion keeps them.
    assert set(deployment.template["Rules"]) == {
        "GivenSubnetsNeedTheirVpc",
        "CreatedDatabaseMakesTheFunctionsGroup",
        "GivenSubnetsNeedSecurityGroups",
        "RecordersFitTheDatabase",
        "LoopbackNeverInProd",
    }
    assert deployment.failed_rules() == []
    conditional = {name for name, resource in deployment.template["Resources"].items() if "Condition" in resource}
    assert conditional & set(deployment.created()) == WAYS_TO_DEPLOY[way][1]
    assert conditional == (
        NETWORK | LMS_EGRESS | DATABASE_RESOURCES | GUARDDUTY | SCAN_RESULTS | MAIL_RESOURCES | MAIL_ENDPOINT
    )


def test_each_way_to_deploy_refers_only_to_what_it_creates_and_selects_within_its_lists(
    way_to_deploy: tuple[str, sam_template.Deployment],
) -> None:
    # A Ref or GetAtt to a resource that deployment does not create fails it, and so does an
    # Fn::Select past the end of a list (the versions' description once took the 7th part of
    # DatabaseSecretArn, which an empty one does not have).
    _, deployment = way_to_deploy
    created = deployment.created()
    known = set(created) | set(deployment.values) | PSEUDO_PARAMETERS
    dangling = {
        name: sam_template.references(node) - known
        for name, node in [*created.items(), *deployment.outputs().items()]
        if sam_template.references(node) - known
    }
    assert dangling == {}
    assert sam_template.out_of_range_selects(created, deployment) == []
    assert sam_template.out_of_range_selects(deployment.outputs(), deployment) == []


def test_each_way_to_deploy_puts_every_function_where_it_reaches_the_database_and_its_secret_only(
    way_to_deploy: tuple[str, sam_template.Deployment],
) -> None:
    way, deployment = way_to_deploy
    _, _, vpc, database = WAYS_TO_DEPLOY[way]
    created = deployment.created()
    functions = {name: r["Properties"] for name, r in created.items() if r["Type"] == "AWS::Lambda::Function"}
    # Every function, but the scan results' when nobody scans and the mail's without a sender.
    optional = {"RecordScanResultsFunction", "SendMessagesFunction", "RecordMailEventsFunction"}
    assert set(functions) == set(ROLE_GRANTS) - (optional - set(created))
    for name, props in functions.items():
        assert props.get("VpcConfig") == vpc, name
        variables = props["Environment"]["Variables"]
        assert {variable: variables[variable] for variable in database} == database, name
        # The role may read exactly the secret the function is told to read.
        for policy in created[f"{name}Role"]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Action"] == ["secretsmanager:GetSecretValue"]:
                    secret = {"Fn::Sub": ["${secretArn}", {"secretArn": database["DB_SECRET_ARN"]}]}
                    assert statement["Resource"] == secret, name
    outputs = deployment.outputs()
    assert outputs["DatabaseSecretArn"]["Value"] == database["DB_SECRET_ARN"]
    assert ("VpcId" in outputs) == way.startswith("everything created")
    assert ("DatabaseEndpoint" in outputs) == ("DatabaseCluster" in created)


def test_a_database_created_in_given_subnets_needs_their_vpc_and_no_given_security_groups(
    template: dict[str, Any],
) -> None:
    without_vpc = sam_template.Deployment(template, {"SubnetIds": GIVEN_SUBNETS})
    assert without_vpc.failed_rules() == [
        "VpcId must name the VPC of SubnetIds when the stack creates the database in them."
    ]
    with_groups = sam_template.Deployment(template, {"SecurityGroupIds": "sg-0123456789abcdef0"})
    assert with_groups.failed_rules() == [
        "SecurityGroupIds is for a given database; leave it empty when the stack creates the database."
    ]
    # A given database needs no VpcId, but in given subnets the functions need their groups.
    given = sam_template.Deployment(template, {"DatabaseSecretArn": SECRET, "SubnetIds": GIVEN_SUBNETS})
    assert given.failed_rules() == [
        "SecurityGroupIds must name the functions' security groups when SubnetIds is given with a database of yours."
    ]
    given_with_groups = sam_template.Deployment(
        template, {"DatabaseSecretArn": SECRET, "SubnetIds": GIVEN_SUBNETS, "SecurityGroupIds": "sg-0123456789abcdef0"}
    )
    assert given_with_groups.failed_rules() == []
    assert sam_template.Deployment(template, {"DatabaseSecretArn": SECRET}).failed_rules() == []


# --- The database the stack creates ----------------------------------------------------------

# Aurora Serverless v2's max_connections at the smallest maximum capacity the template allows
# (1 ACU); it grows with the maximum (4 ACU 823).
MAX_CONNECTIONS_AT_1_ACU = 189


def test_the_created_database_pauses_when_idle_is_encrypted_backed_up_protected_and_keeps_its_own_password(
    template: dict[str, Any],
) -> None:
    cluster = template["Resources"]["DatabaseCluster"]
    props = cluster["Properties"]
    assert (props["Engine"], props["DatabaseName"]) == ("aurora-postgresql", "exam_depository")
    assert props["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": 0,
        "MaxCapacity": {"Ref": "DatabaseMaxCapacity"},
        "SecondsUntilAutoPause": {"Ref": "DatabaseSecondsUntilAutoPause"},
    }
    assert props["StorageEncrypted"] is True
    # Deleting the stack or replacing the cluster leaves a snapshot; a delete is refused until an
    # operator lifts the protection.
    assert props["DeletionProtection"] is True
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    backups = template["Parameters"]["DatabaseBackupRetentionDays"]
    assert props["BackupRetentionPeriod"] == {"Ref": "DatabaseBackupRetentionDays"}
    assert int(backups["Default"]) >= 7
    assert int(backups["MinValue"]) >= 1
    # RDS keeps the password in a secret of its own and rotates it; none is in the template.
    assert props["ManageMasterUserPassword"] is True
    assert not {"MasterUserPassword", "MasterUserSecret"} & set(props)
    assert props["DBSubnetGroupName"] == {"Ref": "DatabaseSubnetGroup"}
    assert props["VpcSecurityGroupIds"] == [{"Fn::GetAtt": ["DatabaseSecurityGroup", "GroupId"]}]
    (instance,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert instance["Properties"]["DBClusterIdentifier"] == {"Ref": "DatabaseCluster"}
    assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
    assert instance["Properties"]["PubliclyAccessible"] is False
    # The default connection budget fits the smallest database the stack may create.
    assert min(template["Parameters"]["DatabaseMaxCapacity"]["AllowedValues"]) == 1
    assert int(template["Parameters"]["DatabaseMaxConnections"]["Default"]) <= MAX_CONNECTIONS_AT_1_ACU


def _rules(group: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return list(group["Properties"].get(direction, []))


def test_only_the_functions_reach_the_database_and_the_endpoints_and_nothing_reaches_the_functions(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    groups = {name: r for name, r in resources.items() if r["Type"] == "AWS::EC2::SecurityGroup"}
    assert set(groups) == {"FunctionSecurityGroup", "DatabaseSecurityGroup", "EndpointSecurityGroup"}
    nothing_out = [{"Description": "Nothing out", "IpProtocol": "-1", "CidrIp": "127.0.0.1/32"}]
    for group, port in (("DatabaseSecurityGroup", 5432), ("EndpointSecurityGroup", 443)):
        (rule,) = _rules(groups[group], "SecurityGroupIngress")
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", port, port), group
        assert rule["SourceSecurityGroupId"] == FUNCTION_GROUP, group
        assert not {"CidrIp", "CidrIpv6"} & set(rule), group
        # Answers need no rule: this replaces the default egress to anywhere.
        assert _rules(groups[group], "SecurityGroupEgress") == nothing_out, group
    functions = groups["FunctionSecurityGroup"]
    assert _rules(functions, "SecurityGroupIngress") == []
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in _rules(functions, "SecurityGroupEgress")} == {
        ("tcp", 5432, 5432),
        ("tcp", 443, 443),
    }
    for name, group in groups.items():
        for rule in _rules(group, "SecurityGroupIngress") + _rules(group, "SecurityGroupEgress"):
            assert rule.get("Description"), name  # checkov CKV_AWS_23
        in_the_vpc = {"Fn::If": ["CreateNetwork", {"Ref": "Vpc"}, {"Ref": "VpcId"}]}
        assert group["Properties"]["VpcId"] == ({"Ref": "Vpc"} if name == "EndpointSecurityGroup" else in_the_vpc)


def test_the_created_network_has_private_subnets_in_two_zones_and_no_way_out_but_its_endpoints(
    template: dict[str, Any],
) -> None:
    # LmsEgress=None, the default: the NAT gateway's resources are not created.
    resources = {name: r for name, r in template["Resources"].items() if name not in LMS_EGRESS}
    assert {name for name, r in template["Resources"].items() if r.get("Condition") == "LmsEgressViaNat"} == LMS_EGRESS
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::Route",
        "AWS::EC2::VPCPeeringConnection",
        "AWS::EC2::TransitGatewayAttachment",
    }
    vpc = resources["Vpc"]["Properties"]
    # Both, or the interface endpoints' private DNS names do not resolve.
    assert vpc["EnableDnsSupport"] is True
    assert vpc["EnableDnsHostnames"] is True
    network = ipaddress.IPv4Network(vpc["CidrBlock"])
    subnets = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::EC2::Subnet"}
    assert set(subnets) == {"PrivateSubnetA", "PrivateSubnetB"}
    ranges = [ipaddress.IPv4Network(props["CidrBlock"]) for props in subnets.values()]
    assert all(r.subnet_of(network) for r in ranges)
    assert not ranges[0].overlaps(ranges[1])
    assert sorted(props["AvailabilityZone"]["Fn::Select"][0] for props in subnets.values()) == [0, 1]
    assert all(props["AvailabilityZone"]["Fn::Select"][1] == {"Fn::GetAZs": ""} for props in subnets.values())
    assert all(props["MapPublicIpOnLaunch"] is False and props["VpcId"] == {"Ref": "Vpc"} for props in subnets.values())
    associations = {
        r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
    }
    assert associations == {subnet: {"Ref": "PrivateRouteTable"} for subnet in subnets}
    # The only route the table gets is the S3 gateway endpoint's.
    gateway = resources["S3GatewayEndpoint"]["Properties"]
    assert gateway["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    # Its default policy: CloudFormation's response bucket must be reachable (the migration's answer).
    assert "PolicyDocument" not in gateway


def test_lms_egress_routes_the_private_subnets_through_a_nat_gateway_in_a_public_subnet_of_its_own(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["LmsEgressViaNat"] == {
        "Fn::And": [{"Condition": "CreateNetwork"}, {"Fn::Equals": [{"Ref": "LmsEgress"}, "NatGateway"]}]
    }
    resources = template["Resources"]
    private = [
        ipaddress.IPv4Network(resources[name]["Properties"]["CidrBlock"])
        for name in ("PrivateSubnetA", "PrivateSubnetB")
    ]
    public = ipaddress.IPv4Network(resources["PublicSubnetA"]["Properties"]["CidrBlock"])
    assert public.subnet_of(ipaddress.IPv4Network(resources["Vpc"]["Properties"]["CidrBlock"]))
    assert not any(public.overlaps(subnet) for subnet in private)
    assert resources["PublicSubnetA"]["Properties"]["MapPublicIpOnLaunch"] is False
    assert resources["NatGateway"]["Properties"]["SubnetId"] == {"Ref": "PublicSubnetA"}
    assert resources["PublicDefaultRoute"]["Properties"] == {
        "RouteTableId": {"Ref": "PublicRouteTable"},
        "DestinationCidrBlock": "0.0.0.0/0",
        "GatewayId": {"Ref": "InternetGateway"},
    }
    assert resources["PrivateDefaultRoute"]["Properties"] == {
        "RouteTableId": {"Ref": "PrivateRouteTable"},
        "DestinationCidrBlock": "0.0.0.0/0",
        "NatGatewayId": {"Ref": "NatGateway"},
    }


# --- Migrations during the deployment --------------------------------------------------------


def test_every_deployment_migrates_the_database_and_hears_the_answer_before_its_service_timeout(
    template: dict[str, Any],
) -> None:
    migration = template["Resources"]["DatabaseMigration"]
    assert migration["Type"] == "Custom::DatabaseMigration"
    assert "Condition" not in migration
    props = migration["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["MigrateDatabaseFunction", "Arn"]}
    assert props["SharedLayer"] == {"Ref": "SharedLayer"}
    # CloudFormation waits for the function's answer up to ServiceTimeout (1 to 3600 s): the
    # function times out first, after a connect that waited through a resume of Aurora.
    assert _timeout_s(template, "MigrateDatabaseFunction") < props["ServiceTimeout"] <= 3600
    assert _connect_wait_s(template, "MigrateDatabaseFunction") > 30
    assert _longest_connect_s(template, "MigrateDatabaseFunction") < _timeout_s(template, "MigrateDatabaseFunction")
    # It waits for the database's instance (a cluster alone takes no connection) and, in the
    # created VPC, for the secret's endpoint and for the route to S3 its answer travels.
    # and, for a given database, changes with anything that names another one: its secret, or
    # the host, port and name that win over the secret's.
    condition, created, given = props["Database"]["Fn::If"]
    assert (condition, created) == ("CreateDatabase", {"Ref": "DatabaseInstance"})
    assert sam_template.references(given) == {"DatabaseSecretArn", "DatabaseHost", "DatabasePort", "DatabaseName"}
    # Its log group is made first: invoked before it, Lambda makes the group itself, and the
    # stack's own group then fails to create ("already exists").
    assert migration["DependsOn"] == "MigrateDatabaseFunctionLogGroup"
    assert template["Resources"]["MigrateDatabaseFunctionLogGroup"]["Type"] == "AWS::Logs::LogGroup"
    condition, network, none = props["Network"]["Fn::If"]
    assert (condition, none) == ("CreateNetwork", [])
    assert sam_template.references(network) == {
        "SecretsManagerEndpoint",
        "S3GatewayEndpoint",
        "PrivateSubnetARouteTable",
        "PrivateSubnetBRouteTable",
    }


def test_a_new_shared_layer_changes_the_migration_s_properties_so_cloudformation_runs_it_again(
    template: dict[str, Any],
) -> None:
    # SAM names a layer version by its content: new migrations (in shared/) are a new version,
    # hence a new SharedLayer, hence an Update of the custom resource.
    before = sam_template.expand(template, {})["Resources"]
    after = sam_template.expand(template, {}, layer_key="new-layer.zip")["Resources"]
    old, new = (r["DatabaseMigration"]["Properties"]["SharedLayer"]["Ref"] for r in (before, after))
    assert old != new
    assert before[old]["Type"] == after[new]["Type"] == "AWS::Lambda::LayerVersion"
    assert before[old]["Properties"]["Description"].startswith("The exam_depository package")


def _recipe(target: str) -> list[str]:
    """The Makefile's commands for `target` (its recipe lines, tab-indented after the rule)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_deploy_leaves_the_migration_to_the_deployment_and_migrate_remote_stays_for_restores() -> None:
    deploy = _recipe("deploy")
    assert any(line.startswith("$(SAM) deploy ") for line in deploy)
    assert not any("migrate" in line for line in deploy)
    assert _recipe("migrate-remote") == [
        "$(SAM) remote invoke MigrateDatabaseFunction --stack-name $(STACK) --region $(REGION)"
    ]


def test_make_migrate_imports_what_the_package_has() -> None:
    # It once imported a module that no longer existed, and nothing ran it.
    (command,) = [line for line in _recipe("migrate") if "python -c" in line]
    code = re.search(r'-c "(.+)"$', command)
    assert code is not None
    imported = [node for node in ast.walk(ast.parse(code[1])) if isinstance(node, ast.ImportFrom)]
    assert imported
    for node in imported:
        module = importlib.import_module(str(node.module))
        assert all(hasattr(module, alias.name) for alias in node.names), node.module


@pytest.mark.parametrize(
    ("port", "accepted"),
    [
        ("", True),
        ("1", True),
        ("5432", True),
        ("6432", True),
        ("65535", True),
        ("0", False),
        ("65536", False),
        ("99999", False),
        ("05432", False),
        ("54 32", False),
    ],
)
def test_a_given_database_s_port_is_one_the_functions_accept(
    template: dict[str, Any], port: str, accepted: bool
) -> None:
    # The functions' settings refuse a port outside 1..65535: a deployment must refuse it first.
    pattern = template["Parameters"]["DatabasePort"]["AllowedPattern"]
    assert (re.fullmatch(pattern, port) is not None) == accepted


# --- The malware scan ----------------------------------------------------------------------------

SCAN_TAG = "GuardDutyMalwareScanStatus"
GUARDDUTY_RULES = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/" + (
    "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
)


def test_guardduty_scans_only_the_submissions_and_tags_them_unless_the_stack_is_told_otherwise(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["MalwareScanning"]
    assert parameter["Default"] == "GuardDuty"
    assert parameter["AllowedValues"] == ["GuardDuty", "External", "Off"]
    conditions = template["Conditions"]
    assert conditions["ScanWithGuardDuty"] == {"Fn::Equals": [{"Ref": "MalwareScanning"}, "GuardDuty"]}
    assert conditions["ScanUploads"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "MalwareScanning"}, "Off"]}]}
    resources = template["Resources"]
    plan = resources["MalwareProtectionPlan"]
    assert plan["Type"] == "AWS::GuardDuty::MalwareProtectionPlan"
    assert plan["Condition"] == "ScanWithGuardDuty"
    assert plan["Properties"]["ProtectedResource"]["S3Bucket"] == {
        "BucketName": {"Ref": "SubmissionsBucket"},
        "ObjectPrefixes": [StorageSettings.model_fields["prefix"].default],
    }
    assert plan["Properties"]["Actions"] == {"Tagging": {"Status": "ENABLED"}}
    assert plan["Properties"]["Role"] == {"Fn::GetAtt": ["MalwareProtectionRole", "Arn"]}
    # The bucket policy must exist before the plan validates the bucket (the role comes first by the GetAtt).
    assert plan["DependsOn"] == "SubmissionsBucketPolicy"
    # GuardDuty turns the bucket's EventBridge notifications on; an update must not turn them off.
    bucket = resources["SubmissionsBucket"]["Properties"]["NotificationConfiguration"]
    assert bucket["EventBridgeConfiguration"] == {
        "Fn::If": ["ScanWithGuardDuty", {"EventBridgeEnabled": True}, {"Ref": "AWS::NoValue"}]
    }
    # Everything that records results exists whoever scans, and only if someone does.
    for name in ("ScanResultsRule", "ScanResultsQueue", "ScanResultsDeadLetterQueue", "ScanResultsQueuePolicy"):
        assert resources[name]["Condition"] == "ScanUploads", name
    assert resources["RecordScanResultsFunction"]["Condition"] == "ScanUploads"
    recorder = resources["RecordSubmissionsFunction"]["Properties"]["Environment"]["Variables"]
    assert recorder["MALWARE_SCANNING"] == {"Fn::If": ["ScanUploads", "on", "off"]}


def _statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (policy,) = role["Properties"]["Policies"]
    return {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}


def test_the_plan_s_role_is_guardduty_s_own_in_this_account_and_reaches_only_what_a_scan_needs(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["MalwareProtectionRole"]
    assert role["Condition"] == "ScanWithGuardDuty"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = _statements(role)
    grants = {
        (action, _target(statement["Resource"]))
        for statement in statements.values()
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert all(statement["Effect"] == "Allow" for statement in statements.values())
    assert grants == {
        *((action, GUARDDUTY_RULES) for action in ("events:PutRule", "events:DeleteRule", "events:PutTargets")),
        ("events:RemoveTargets", GUARDDUTY_RULES),
        ("events:DescribeRule", GUARDDUTY_RULES),
        ("events:ListTargetsByRule", GUARDDUTY_RULES),
        ("s3:PutBucketNotification", BUCKET),
        ("s3:GetBucketNotification", BUCKET),
        ("s3:ListBucket", BUCKET),
        ("s3:PutObject", f"{BUCKET}/malware-protection-resource-validation-object"),
        *(
            (action, SUBMISSIONS)
            for action in (
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging",
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
            )
        ),
    }
    # It may change only the rules GuardDuty manages itself.
    assert statements["ManagedRule"]["Condition"] == {
        "StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}
    }


# The roles that read a file's bytes only to record it, and hand them to no one.
READ_THREATS_TO_RECORD_THEM = ("RecordSubmissionsFunction", "ReconcileStorageFunction")


def test_the_bucket_refuses_a_threat_tagged_version_to_everyone_but_the_roles_that_record_it(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"]["SubmissionsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement["Sid"] == "DenyThreatDownloads"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert set(deny["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert deny["Resource"] == {"Fn::Sub": "${SubmissionsBucket.Arn}/*"}
    # aws:PrincipalArn of a role's session is the role's ARN (IAM's global condition keys).
    assert deny["Condition"] == {
        "StringEquals": {f"s3:ExistingObjectTag/{SCAN_TAG}": "THREATS_FOUND"},
        "ArnNotEquals": {
            "aws:PrincipalArn": [{"Fn::GetAtt": [f"{function}Role", "Arn"]} for function in READ_THREATS_TO_RECORD_THEM]
        },
    }
    # Always there: an external scanner's tags are honoured as GuardDuty's.
    assert "Condition" not in template["Resources"]["SubmissionsBucketPolicy"]


def test_no_function_that_hands_a_file_to_a_person_is_exempt_from_the_threat_deny(expanded: dict[str, Any]) -> None:
    # Given every function whose role may read a submission's bytes
    resources = expanded["Resources"]
    readers = {
        function
        for function, grants in ROLE_GRANTS.items()
        if {grant for grant in grants if grant[1] == SUBMISSIONS} & {GET_VERSION, ("s3:GetObject", SUBMISSIONS)}
    }
    statements = resources["SubmissionsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement["Sid"] == "DenyThreatDownloads"]
    exempt = {
        arn["Fn::GetAtt"][0].removesuffix("Role") for arn in deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    }

    # Then the exempt are exactly the recorder and the reconcile job; the presigners of links (the
    # reviewer's and the console's download; a presigned URL acts as its signer's role) and the
    # export builder, which put bytes in a person's hands, are refused a threat
    assert exempt == set(READ_THREATS_TO_RECORD_THEM)
    assert readers - exempt == {"GetDownloadUrlFunction", "BuildExportFunction"}
    for function in exempt:
        assert resources[function]["Properties"]["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}


def test_scan_results_reach_their_function_through_a_queue_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    rule = resources["ScanResultsRule"]["Properties"]
    assert rule["EventBusName"] == "default"
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Malware Protection Object Scan Result"],
        "detail": {
            "s3ObjectDetails": {
                "bucketName": [{"Fn::Sub": "exam-depository-${EnvironmentName}-${AWS::AccountId}-${AWS::Region}"}]
            }
        },
    }
    dead_letter = {"Fn::GetAtt": ["ScanResultsDeadLetterQueue", "Arn"]}
    assert rule["Targets"] == [
        {
            "Id": "scan-results-queue",
            "Arn": {"Fn::GetAtt": ["ScanResultsQueue", "Arn"]},
            "DeadLetterConfig": {"Arn": dead_letter},
        }
    ]
    policy = resources["ScanResultsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "ScanResultsQueue"}, {"Ref": "ScanResultsDeadLetterQueue"}]
    (allow,) = policy["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == [{"Fn::GetAtt": ["ScanResultsQueue", "Arn"]}, dead_letter]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ScanResultsRule", "Arn"]}}}
    queue = resources["ScanResultsQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ScanResultsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["SqsManagedSseEnabled"] is True
    function = resources["RecordScanResultsFunction"]["Properties"]
    sqs = function["Events"]["Results"]["Properties"]
    assert sqs["Queue"] == {"Fn::GetAtt": ["ScanResultsQueue", "Arn"]}
    assert (sqs["BatchSize"], sqs["MaximumBatchingWindowInSeconds"]) == (10, 1)
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # docs/RELIABILITY.md's budget counts its 2 connections.
    assert sqs["ScalingConfig"]["MaximumConcurrency"] == 2
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


# A database that may pause (Aurora Serverless at 0 ACU) pauses after this long without a
# connection; a schedule that fires more often keeps it awake for good.
AUTO_PAUSE_S = 300
# The jobs' schedules (expire, reconcile) each wake it every 6 hours: docs/COST.md's idle month.
JOBS_PERIOD_S = 6 * 3600
# What the sender's own schedule may be at most: the backstop for a hand-off SQS refused whole.
SWEEP_BACKSTOP_S = 24 * 3600


def _schedule_periods_s(deployment: sam_template.Deployment) -> dict[str, float]:
    """Every EventBridge schedule the deployment creates (SAM's Schedule events among them), by
    resource: its period in seconds, its expression's parameter at the deployment's value."""
    periods = {}
    for name, resource in deployment.template["Resources"].items():
        condition = resource.get("Condition")
        if resource["Type"] != "AWS::Events::Rule" or (condition is not None and not deployment.condition(condition)):
            continue
        expression = resource["Properties"].get("ScheduleExpression")
        if expression is not None:
            periods[name] = _period_s(str(deployment.value(expression)))
    return periods


def _period_s(expression: str) -> float:
    matched = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    assert matched is not None, f"not a rate() expression: {expression}"
    return int(matched[1]) * {"minute": 60, "hour": 3600, "day": 86400}[matched[2]]


def test_with_mail_on_no_schedule_keeps_a_pausing_database_awake_and_the_sweep_is_the_daily_backstop(
    with_mail: sam_template.Deployment,
) -> None:
    periods = _schedule_periods_s(with_mail)
    # The sender's is the daily backstop: the sweeps mail needs are asked for through its queue.
    assert periods.pop("SendMessagesFunctionSweep") == SWEEP_BACKSTOP_S
    # The others are the jobs', at their defaults: none wakes the database more often than they
    # do, and none more often than the backstop but those two.
    # The LTI worker's tick (the scores' sweep, the class lists due) runs as often as the jobs.
    assert set(periods) == {
        "ExpireSubmissionsFunctionScheduled",
        "ReconcileStorageFunctionScheduled",
        "LtiWorkerFunctionTick",
    }
    assert all(JOBS_PERIOD_S <= period <= SWEEP_BACKSTOP_S for period in periods.values()), periods
    assert min(periods.values()) > AUTO_PAUSE_S


def test_a_requested_sweep_comes_within_sqs_s_longest_delay_and_its_alarm_reads_one_report(
    template: dict[str, Any],
) -> None:
    # SQS delays a message by at most 900 s; a sweep a grace after the hand-off finds its claims
    # stale, and the one after it anything claimed since.
    assert queues.SWEEP_DELAY_S <= 900
    assert timedelta(seconds=queues.SWEEP_DELAY_S) >= SENDING_GRACE
    # Sweeps report MessagesUnsettled every 15 minutes or more, daily when idle: one report must
    # raise the alarm, and a period without one must not clear it.
    alarm = template["Resources"]["MessagesUnsettledAlarm"]["Properties"]
    assert alarm["Period"] >= queues.SWEEP_DELAY_S
    assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (1, "ignore")


def test_every_key_route_and_no_other_runs_the_authorizer_whose_key_api_gateway_checks(
    template: dict[str, Any],
) -> None:
    api = template["Resources"]["Api"]["Properties"]
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    assert "DefaultAuthorizer" not in api["Auth"]  # an open route stays open; a forgotten one fails closed
    assert api["Auth"]["Authorizers"] == {
        "ExaminerAuthorizer": {
            "FunctionArn": {"Fn::GetAtt": ["LtiAuthorizerFunction", "Arn"]},
            "FunctionPayloadType": "REQUEST",
            # Uncached: a caller sends x-api-key or Authorization, and a cached one needs both.
            "Identity": {"ReauthorizeEvery": 0},
        }
    }
    for name, props in _functions(template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "Api":
                auth = event["Properties"]["Auth"]
                assert (auth.get("Authorizer") == "ExaminerAuthorizer") is auth["ApiKeyRequired"], (name, auth)
    responses = api["GatewayResponses"]
    # A missing or wrong key stays API Gateway's own 403 {"message":"Forbidden"}
    assert "INVALID_API_KEY" not in responses
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    unauthorized = json.loads(responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"])
    assert unauthorized["type"] == "urn:exam-depository:problem:session-not-valid"
    for failure in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):
        assert responses[failure]["StatusCode"] == "503"
        assert responses[failure]["ResponseParameters"]["Headers"]["Retry-After"] == "'2'"


def test_the_sessions_are_metered_together_in_a_plan_of_their_own_with_no_quota(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    plan = resources["LtiSessionsUsagePlan"]["Properties"]
    assert plan["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    assert "Quota" not in plan
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "Api.Stage"}}]
    assert resources["LtiSessionsUsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "LtiSessionsApiKey"}
    key = resources["LtiSessionsApiKey"]["Properties"]
    assert key["Value"] == {"Fn::Sub": "{{resolve:secretsmanager:${LtiSessionsKeySecret}:SecretString}}"}
    authorizer = resources["LtiAuthorizerFunction"]["Properties"]
    assert authorizer["Environment"]["Variables"]["LTI_SESSIONS_KEY_SECRET_ARN"] == {"Ref": "LtiSessionsKeySecret"}
    assert not _uses_database(authorizer)
