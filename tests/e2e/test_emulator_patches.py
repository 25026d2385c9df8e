"""The deployed stack's MiniStack (scripts/deploy_local.py) runs with its IAM defects patched: the
patches themselves, in MiniStack's own environment, on the requests the product sends."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.conftest import ROOT

MINISTACK_PYTHON = ROOT / ".tools/ministack/bin/python"


def _in_ministack(script: str, *arguments: str) -> Any:
    """What `script` prints as JSON, run by MiniStack's own Python (its environment, its pins)."""
    answer = subprocess.run(
        [MINISTACK_PYTHON, "-c", script, *arguments],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    return json.loads(answer.stdout)


ACTION_OF_A_BATCH = """
import importlib, json, sys
from scripts import deploy_local
iam_actions = importlib.import_module("ministack.core.iam_actions")
def action(operation):
    headers = {"x-amz-target": "AmazonSQS." + operation, "content-type": "application/x-amz-json-1.0"}
    return iam_actions.extract_iam_action("sqs", "POST", "/", headers, b"{}", {})
operations = sys.argv[1:]
before = [action(operation) for operation in operations]
deploy_local._authorize_sqs_batches_by_their_action(iam_actions)
print(json.dumps([before, [action(operation) for operation in operations]]))
"""


def test_an_sqs_batch_is_authorized_as_its_single_action_as_on_aws() -> None:
    # Given the batch operations the product and Lambda's poller send
    operations = ["ChangeMessageVisibilityBatch", "DeleteMessageBatch", "SendMessageBatch", "ReceiveMessage"]

    # When MiniStack names the IAM action of each, before and after the patch
    before, after = _in_ministack(ACTION_OF_A_BATCH, *operations)

    # Then it asked for actions no IAM policy can grant, and now asks for the ones IAM has
    assert before == [f"sqs:{operation}" for operation in operations]
    assert after == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:ReceiveMessage"]


CONDITIONS_WITH_A_JOIN = """
import importlib, json, sys
from scripts import deploy_local
package = "ministack.services.cloudformation"
modules = [importlib.import_module(f"{package}.{name}") for name in deploy_local.CONDITION_MODULES]
subnets_joined = {"Fn::Join": ["", {"Ref": "SubnetIds"}]}
template = {"Conditions": {"SubnetsGiven": {"Fn::Not": [{"Fn::Equals": [subnets_joined, ""]}]}}}
def given(subnets):
    return modules[0]._evaluate_conditions(template, {"SubnetIds": {"Value": subnets}})["SubnetsGiven"]
cases = sys.argv[1:]
before = [given(subnets) for subnets in cases]
deploy_local._evaluate_joins_in_conditions(*modules)
print(json.dumps([before, [given(subnets) for subnets in cases]]))
"""


def test_a_condition_joins_a_list_parameter_before_comparing_it_as_cloudformation_does() -> None:
    # Given the template's test for "no subnets given", and no subnets, then two
    cases = ["", "subnet-a,subnet-b"]

    # When MiniStack evaluates it, before and after the patch
    before, after = _in_ministack(CONDITIONS_WITH_A_JOIN, *cases)

    # Then it took "no subnets" for subnets given, and now tells them apart
    assert before == [True, True]
    assert after == [False, True]


PRINCIPAL_ARN_OF_A_SESSION = """
import importlib, json, sys
from scripts import deploy_local
evaluator = importlib.import_module("ministack.core.iam_evaluator")
iam = importlib.import_module("ministack.services.iam")
account, role_arn = "000000000000", sys.argv[1]
name = role_arn.rsplit("/", 1)[-1]
iam._roles.set_scoped(account, None, name, {"RoleName": name, "Arn": role_arn})
session = evaluator.EvalContext(
    principal_arn=f"arn:aws:sts::{account}:assumed-role/{name}/exam-depository-local-RecordSubmissions",
    principal_type="AssumedRole", principal_account=account, action="s3:GetObjectVersion",
    resource_arn="arn:aws:s3:::bucket/submissions/k", region="eu-west-1")
exempting = {"ArnNotEquals": {"aws:PrincipalArn": [role_arn]}}
def seen():
    arn = evaluator._resolve_condition_key("aws:PrincipalArn", session)
    return [arn, evaluator._conditions_met(exempting, session)]
before = seen()
deploy_local._principal_arn_of_a_role_session_is_its_role(evaluator, iam)
print(json.dumps([before, seen()]))
"""


def test_aws_principal_arn_of_a_role_session_is_the_role_s_arn_as_on_aws() -> None:
    # Given a function's role and the bucket policy's condition that exempts it from a deny
    role = "arn:aws:iam::000000000000:role/exam-depository-local-RecordSubmissionsFunctionRole-ABC123"

    # When MiniStack resolves aws:PrincipalArn for the role's session, before and after the patch
    before, after = _in_ministack(PRINCIPAL_ARN_OF_A_SESSION, role)

    # Then it gave the session's ARN, so that the deny still applied to the exempt role; now the role's
    assert before == [
        "arn:aws:sts::000000000000:assumed-role/exam-depository-local-RecordSubmissionsFunctionRole-ABC123/"
        "exam-depository-local-RecordSubmissions",
        True,
    ]
    assert after == [role, False]


RESOURCE_OF_A_RAW_SEND = """
import importlib, json, sys
from scripts import deploy_local
iam_actions = importlib.import_module("ministack.core.iam_actions")
def resource(action, source):
    query = {"Action": [action], "Source": [source], "Destinations.member.1": ["ana@example.edu"]}
    return iam_actions.extract_resource_arn("ses", "POST", "/", {}, b"", query, "eu-west-1", "000000000000")
cases = [("SendRawEmail", sys.argv[1]), ("SendEmail", sys.argv[1]), ("GetSendQuota", "")]
before = [resource(*case) for case in cases]
deploy_local._authorize_raw_sends_on_their_identity(iam_actions)
print(json.dumps([before, [resource(*case) for case in cases]]))
"""


def test_a_raw_send_is_authorized_on_its_sender_s_identity_as_on_aws() -> None:
    # Given the sender's call as the product makes it (Source with its display name)
    source = '"Exam Depository" <exams@exam-depository.test>'

    # When MiniStack names the resource each SES call is authorized on, before and after the patch
    before, after = _in_ministack(RESOURCE_OF_A_RAW_SEND, source)

    # Then a send was authorized on "*", which the sender's role (its own identities only) is
    # refused; now on the identity it sends from, and a call without an identity stays on "*"
    assert before == ["*", "*", "*"]
    identity = "arn:aws:ses:eu-west-1:000000000000:identity/exam-depository.test"
    assert after == [identity, identity, "*"]


KEY_FROM_THE_AUTHORIZER = """
import asyncio, importlib, json, sys
from scripts import deploy_local
apigateway_v1 = importlib.import_module("ministack.services.apigateway_v1")
apigateway_v1._rest_apis["abc12345"] = {"id": "abc12345", "apiKeySource": "AUTHORIZER"}
for name in ("examiner", "sessions"):
    apigateway_v1._api_keys[f"id-{name}"] = {"id": f"id-{name}", "value": f"{name}-key", "enabled": True}
stages = [{"apiId": "abc12345", "stage": "v1"}]
apigateway_v1._usage_plans["plan"] = {"id": "plan", "apiStages": stages, "quota": {"limit": 1, "period": "DAY"}}
apigateway_v1._usage_plan_keys["plan"] = {"id-examiner": {}, "id-sessions": {}}
answers = iter(json.loads(sys.argv[1]))
async def authorizer(*args, **kwargs):
    return {"body": {"principalId": "someone", "usageIdentifierKey": next(answers)}}
apigateway_v1._invoke_authorizer_lambda = authorizer
def checked(headers):
    error, key = apigateway_v1._check_api_key({"apiKeyRequired": True}, "abc12345", "v1", headers)
    return None if error else key["id"]
async def request(headers):
    await apigateway_v1._invoke_authorizer_lambda()
    return checked(headers)
headers = json.loads(sys.argv[2])
before = [checked(sent) for sent in headers]
deploy_local._take_the_key_from_the_authorizer(apigateway_v1)
async def each_in_its_task():
    return [await asyncio.create_task(request(sent)) for sent in headers]
after = asyncio.run(each_in_its_task())
sessions = apigateway_v1._api_keys["id-sessions"]
quota = [apigateway_v1._check_quota(sessions, "abc12345", "v1") is None for _ in range(2)]
print(json.dumps([before, after, quota]))
"""


def test_with_the_key_source_authorizer_the_key_checked_is_the_one_the_authorizer_answered() -> None:
    # Given an API whose apiKeySource is AUTHORIZER, a usage plan with two keys, and three requests
    # whose authorizer answers another key than their header: the examiner's for a wrong header,
    # none for the examiner's header, the sessions' key for no header
    answered = ["examiner-key", None, "sessions-key"]
    headers = [{"x-api-key": "wrong"}, {"x-api-key": "examiner-key"}, {}]

    # When MiniStack checks each request's key, before and after the patch
    before, after, quota = _in_ministack(KEY_FROM_THE_AUTHORIZER, json.dumps(answered), json.dumps(headers))

    # Then it read the header, and now takes the key from the authorizer (none: refused), and the
    # plan's quota counts the key the authorizer named
    assert before == [None, "id-examiner", None]
    assert after == ["id-examiner", None, "id-sessions"]
    assert quota == [True, False]
