"""The created VPC's way out, tied to what the code calls. Its subnets have no route to the
internet: a function reaches an AWS service only through an endpoint, so every call to a service
without one fails after its connect timeouts (KMS, left out of the first list, would have stopped
every receipt). Three lists must agree: the services the code calls (read from its source), the
services the functions' roles grant, and the template's endpoints; the docs name the same."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests import sam_template
from tests.conftest import ROOT

PACKAGE = ROOT / "shared" / "exam_depository"
# The one client factory: it makes the client its adapters name, so its own argument is a variable.
FACTORY = PACKAGE / "adapters" / "aws.py"
# Powertools' parameters utility reads with boto3 clients of its own: each of its calls counts as
# the service it reads.
POWERTOOLS_PARAMETERS = {
    "get_secret": "secretsmanager",
    "get_secrets_by_name": "secretsmanager",
    "set_secret": "secretsmanager",
    "SecretsProvider": "secretsmanager",
    "get_parameter": "ssm",
    "get_parameters": "ssm",
    "get_parameters_by_name": "ssm",
    "set_parameter": "ssm",
    "SSMProvider": "ssm",
    "get_app_config": "appconfig",
    "AppConfigProvider": "appconfig",
    "DynamoDBProvider": "dynamodb",
    "clear_caches": None,  # no call to AWS
}
# Called by Lambda for the function, outside its VPC: the SQS event source's polling, the logs,
# the X-Ray segments, the network interfaces. Their grants come from AWS managed policies.
CALLED_BY_LAMBDA = {"logs", "xray", "ec2"}
# iam:PassRole only authorizes a call to another service (Scheduler's); it is no call of its own.
AUTHORIZATION_ONLY = {"iam"}
# A service whose endpoint has another name than its client and actions: SES's API is
# email.<region> (v1 and v2 alike), and its endpoint com.amazonaws.<region>.email.
ENDPOINT_NAMES = {"ses": "email"}
# Endpoints only some deployments need: SES's only when the stack sends mail.
ENDPOINT_CONDITIONS = {"email": "CreateMailEndpoint"}


def endpoints_for(services: set[str]) -> set[str]:
    return {ENDPOINT_NAMES.get(service, service) for service in services}


def _sources() -> list[Path]:
    return [*sorted(PACKAGE.rglob("*.py")), *sorted((ROOT / "functions").glob("*/app.py"))]


def _called_name(call: ast.Call) -> str:
    """`a.b.c` for a call of a.b.c(...); the names after a call or a subscript for anything else
    (`client` for boto3.Session().client(...))."""
    parts: list[str] = []
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.insert(0, node.id)
    return ".".join(parts)


def _powertools_names(tree: ast.Module) -> dict[str, str]:
    """The names a module gives Powertools' parameters utility or its functions: name -> what."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "aws_lambda_powertools.utilities":
            names |= {alias.asname or alias.name: "module" for alias in node.names if alias.name == "parameters"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "aws_lambda_powertools.utilities.parameters"
        ):
            names |= {alias.asname or alias.name: alias.name for alias in node.names}
    return names


def services_called(path: Path) -> set[str]:
    """The AWS services `path` calls: the first argument of every `<x>.client(...)` or
    `<x>.resource(...)` (`aws.client`, `boto3.client`, a session's), and Powertools' parameters
    functions. A client named by anything but a literal fails: the list could not be checked."""
    tree = ast.parse(path.read_text(), str(path))
    powertools = _powertools_names(tree)
    found: set[str] = set()
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        name = _called_name(call)
        head, _, last = name.rpartition(".")
        # A method `client` or `resource` of anything (boto3, a session, the factory module): not
        # the adapters' own `client()` functions, which call the factory.
        if last in {"client", "resource"} and isinstance(call.func, ast.Attribute):
            named = [keyword.value for keyword in call.keywords if keyword.arg == "service_name"]
            service = call.args[0] if call.args else next(iter(named), None)
            if isinstance(service, ast.Constant) and isinstance(service.value, str):
                found.add(service.value)
            else:
                assert path == FACTORY, f"{path}:{call.lineno} names the service of its client by a variable"
        elif powertools.get(head) == "module" or (not head and last in powertools):
            function = last if head else powertools[last]
            assert function in POWERTOOLS_PARAMETERS, f"{path}:{call.lineno}: Powertools' {function} is not known here"
            reads = POWERTOOLS_PARAMETERS[function]
            found |= {reads} if reads else set()
    return found


def services_the_code_calls() -> set[str]:
    return set().union(*(services_called(path) for path in _sources()))


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])


def services_the_roles_grant(expanded: dict[str, Any]) -> set[str]:
    """The services of every action the functions' roles grant in their own policies (the AWS
    managed ones are Lambda's: logs, traces, network interfaces, the SQS poller)."""
    resources = expanded["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
    return {
        action.split(":")[0]
        for function in functions
        for statement in _statements(resources[f"{function}Role"])
        for action in _actions(statement)
    } - AUTHORIZATION_ONLY


def endpoints_in_the_template(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each VPC endpoint's service (the last part of its ServiceName) -> its properties."""
    endpoints: dict[str, dict[str, Any]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::EC2::VPCEndpoint":
            service_name = resource["Properties"]["ServiceName"]["Fn::Sub"]
            assert service_name.startswith("com.amazonaws.${AWS::Region}."), service_name
            endpoints[service_name.rsplit(".", 1)[1]] = resource
    return endpoints


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_template.load()


@pytest.fixture(scope="module")
def expanded(template: dict[str, Any]) -> dict[str, Any]:
    # A deployment that sends mail (the sender's grants are SES's), as CloudFormation creates it.
    mail = {"SenderAddress": "exams@example.edu"}
    return {"Resources": sam_template.Deployment(sam_template.expand(template, mail), mail).created()}


def test_the_code_the_roles_and_the_endpoints_name_the_same_services(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    called = services_the_code_calls()
    # What this reading finds today (a change here is a change of the network and of its price).
    assert called == {"s3", "secretsmanager", "kms", "sqs", "scheduler", "ses"}
    assert services_the_roles_grant(expanded) == called
    assert set(endpoints_in_the_template(template)) == endpoints_for(called)
    assert not called & CALLED_BY_LAMBDA


def test_s3_has_a_gateway_and_every_other_service_an_interface_with_private_dns_in_both_subnets(
    template: dict[str, Any],
) -> None:
    for service, endpoint in endpoints_in_the_template(template).items():
        props = endpoint["Properties"]
        assert endpoint["Condition"] == ENDPOINT_CONDITIONS.get(service, "CreateNetwork"), service
        assert props["VpcId"] == {"Ref": "Vpc"}, service
        if service == "s3":
            # Free, and a route in the subnets' table.
            assert props["VpcEndpointType"] == "Gateway"
            assert props["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
        else:
            # The SDK's usual host resolves to the endpoint: no code or configuration changes.
            assert props["VpcEndpointType"] == "Interface", service
            assert props["PrivateDnsEnabled"] is True, service
            assert props["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}], service
            assert props["SecurityGroupIds"] == [{"Fn::GetAtt": ["EndpointSecurityGroup", "GroupId"]}], service


def test_the_scan_fails_on_a_client_it_cannot_read(tmp_path: Path) -> None:
    source = tmp_path / "adapter.py"
    source.write_text('import boto3\nSERVICE = "kms"\nclient = boto3.client(SERVICE)\n')
    with pytest.raises(AssertionError, match="by a variable"):
        services_called(source)
    source.write_text('import boto3\nclient = boto3.Session().client("sts")\n')
    assert services_called(source) == {"sts"}
    source.write_text(
        "from aws_lambda_powertools.utilities import parameters\n"
        'parameters.get_parameter("/x")\nparameters.clear_caches()\n'
    )
    assert services_called(source) == {"ssm"}


# --- Each function: the signing key ----------------------------------------------------------


def _module_file(module: str) -> Path | None:
    path = ROOT / "shared" / Path(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The imports under `if TYPE_CHECKING:`: names for the type checker, never run."""
    return {
        child
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for statement in node.body
        for child in ast.walk(statement)
    }


def _imports(path: Path) -> set[str]:
    """The exam_depository modules `path` imports, anywhere in it (a function's own imports too),
    but for the type checker's."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in set(ast.walk(tree)) - _type_checking_only(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("exam_depository")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("exam_depository"):
            assert node.level == 0, path  # the package imports itself by absolute names
            module = str(node.module)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names if _module_file(f"{module}.{alias.name}")}
    return found


def modules_reached(app: Path) -> set[str]:
    """Every exam_depository module a function's app.py imports, directly or through others."""
    reached: set[str] = set()
    waiting = list(_imports(app))
    while waiting:
        module = waiting.pop()
        if module not in reached:
            reached.add(module)
            path = _module_file(module)
            waiting += list(_imports(path)) if path else []
    return reached


SIGNING = "exam_depository.adapters.signing"


def test_every_function_whose_code_can_sign_a_receipt_has_the_key_and_may_use_it(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    """Imports over-approximate what a function calls (most reach the storage adapter for its
    presigning, some the queues or Scheduler for a use case they never run), so only the signing
    adapter, which five functions reach and which needs a key of its own, is held to its grant this
    way. The reconcile job records an object whose notification was lost as the recorder does, and
    once lacked both: that recording then failed on the missing RECEIPT_KEY_ID."""
    resources = expanded["Resources"]
    signers = set()
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        reaches_signing = SIGNING in modules_reached(ROOT / resource["Properties"]["CodeUri"] / "app.py")
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        granted = {
            action
            for statement in _statements(resources[f"{name}Role"])
            if statement["Resource"] == {"Fn::GetAtt": ["ReceiptSigningKey", "Arn"]}
            for action in _actions(statement)
        }
        if reaches_signing:
            signers.add(name)
            assert variables.get("RECEIPT_KEY_ID") == {"Fn::GetAtt": ["ReceiptSigningKey", "Arn"]}, name
            assert granted == {"kms:Sign", "kms:GetPublicKey"}, name
        else:
            assert "RECEIPT_KEY_ID" not in variables, name
            assert granted == set(), name
    assert signers == {
        "RecordSubmissionsFunction",
        "ReconcileStorageFunction",
        # An exam's audit checkpoints: when it closes, in every export, and by the job when it was never closed.
        "CloseExamFunction",
        "BuildExportFunction",
        "ExpireSubmissionsFunction",
    }


RECORDER = "exam_depository.usecases.recorder"


def test_every_function_whose_code_can_record_a_submission_knows_whether_files_are_scanned(
    template: dict[str, Any],
) -> None:
    """A function that records a file without MALWARE_SCANNING reads scanning as off and writes the
    file's scan as null, which is served as an unscanned file from before the gate: the reconcile
    job, which records an object whose notification was lost as the recorder does, once lacked it."""
    recorders = set()
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if RECORDER in modules_reached(ROOT / resource["Properties"]["CodeUri"] / "app.py"):
            recorders.add(name)
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert variables.get("MALWARE_SCANNING") == {"Fn::If": ["ScanUploads", "on", "off"]}, name
    assert recorders == {"RecordSubmissionsFunction", "ReconcileStorageFunction"}


# --- The docs ---------------------------------------------------------------------------------

ENDPOINT_NAME = re.compile(r"com\.amazonaws\.<region>\.([a-z0-9-]+)")


@pytest.mark.parametrize("doc", ["docs/OPERATIONS.md", "docs/COST.md"])
def test_the_runbook_and_the_bill_name_exactly_the_endpoints_the_code_needs(doc: str) -> None:
    named = set(ENDPOINT_NAME.findall((ROOT / doc).read_text()))
    assert named == endpoints_for(services_the_code_calls()), doc


# --- Each function: the mail ----------------------------------------------------------------------

# The use cases that decide whether to mail (MailSettings.enabled) and where a message waits.
MAILING = {"exam_depository.usecases.mail", "exam_depository.usecases.sending", RECORDER}


def test_every_function_whose_code_can_queue_mail_knows_the_sender_and_the_mail_queue(
    template: dict[str, Any], expanded: dict[str, Any]
) -> None:
    """A function that queues a message without SENDER_ADDRESS reads mail as off and queues
    nothing, silently: each of them is told the sender and the queue, and may send to it."""
    mailers = set()
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if MAILING & modules_reached(ROOT / resource["Properties"]["CodeUri"] / "app.py"):
            mailers.add(name)
            variables = resource["Properties"]["Environment"]["Variables"]
            assert variables["SENDER_ADDRESS"] == {"Ref": "SenderAddress"}, name
            assert variables["MAIL_QUEUE_URL"] in (
                {"Ref": "MailQueue"},
                {"Fn::If": ["SendMail", {"Ref": "MailQueue"}, ""]},
            ), name
            granted = {
                action
                for statement in _statements(expanded["Resources"][f"{name}Role"])
                if statement["Resource"] == {"Fn::GetAtt": ["MailQueue", "Arn"]}
                for action in _actions(statement)
            }
            assert "sqs:SendMessage" in granted, name
    assert mailers == {
        "StudentMailFunction",
        "SendMessagesFunction",
        "RecordSubmissionsFunction",
        "ReconcileStorageFunction",
    }
