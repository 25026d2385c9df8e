"""Sessions from the LMS: minted through KMS (moto in-process), verified with the key's public half;
and the API's authorizer, which lets an examiner's key through to API Gateway's own judgement,
meters a session under the sessions' key and refuses anything else that claims to be one."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from exam_depository.adapters import aws, sessions
from exam_depository.domain import jws
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.sessions import SESSION_TYP, Session, claims_of, session_of
from moto import mock_aws

from local_stack.functions import ROOT, load_function

REGION = "eu-west-1"
SESSIONS_KEY = "sessions-key-value-of-forty-characters00"
NOW = datetime.now(UTC).replace(microsecond=0)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:000000000000:abc123/v1/GET/exams"


def _session(**changes: Any) -> Session:
    return replace(
        Session(
            caller_key=f"lti:{uuid.uuid4()}",
            exam_id="physics",
            deep_link=None,
            platform="https://lms.example.edu",
            lti_user="user-7",
            name="Ada Lovelace",
            course="Physics 101",
            jti=uuid.uuid4().hex,
            expires_at=NOW + timedelta(hours=4),
        ),
        **changes,
    )


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("DEPLOYMENT_NAME", "exam-depository-test")
    monkeypatch.setenv("LTI_SESSIONS_KEY", SESSIONS_KEY)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "LTI_SESSIONS_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("kms", region_name=REGION)
        key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("LTI_SESSION_KEY_ID", key)
        aws.reset()
        sessions.reset()
        yield client
        aws.reset()
        sessions.reset()


def _signed_by_us(claims: dict[str, object], *, typ: str = SESSION_TYP) -> str:
    """A token over any claims, signed with the session key as `mint` signs (a past `exp`, another
    audience): what only someone holding the key could make."""
    return jws.sign(sessions.session_key(), claims, sessions._sign, typ=typ)


def test_a_minted_session_verifies_to_itself(kms: Any) -> None:
    session = _session(deep_link=uuid.uuid4(), exam_id=None)
    token = sessions.mint(session, now=NOW)
    assert sessions.verify(token, NOW + timedelta(minutes=1)) == session
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": sessions.session_key().kid, "typ": SESSION_TYP}


def test_an_expired_session_is_none_past_the_leeway(kms: Any) -> None:
    token = sessions.mint(_session(), now=NOW)
    assert sessions.verify(token, NOW + timedelta(hours=4, seconds=29)) is not None
    assert sessions.verify(token, NOW + timedelta(hours=4, seconds=31)) is None


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", "exam-depository-test/other"),
        ("iss", "someone-else/lti"),
        ("sub", "a1b2c3d4e5"),  # an examiner's key id, not an LTI identity
        ("iat", int((NOW + timedelta(hours=1)).timestamp())),  # issued in the future
        ("iat", int((NOW - timedelta(hours=13)).timestamp())),  # living longer than a session may
        ("exp", "tomorrow"),
        ("platform", None),
        ("dl", "not-a-uuid"),
    ],
)
def test_a_session_for_another_audience_or_with_a_bad_claim_is_none(kms: Any, claim: str, value: object) -> None:
    claims = claims_of(_session(), deployment="exam-depository-test", now=NOW) | {claim: value}
    assert sessions.verify(_signed_by_us(claims), NOW) is None


def test_another_typ_a_tampered_token_and_another_key_are_none(kms: Any) -> None:
    claims = claims_of(_session(), deployment="exam-depository-test", now=NOW)
    assert sessions.verify(_signed_by_us(claims), NOW) is not None
    # A receipt or an audit checkpoint signed the same way is not a session.
    assert sessions.verify(_signed_by_us(claims, typ="JWT"), NOW) is None
    header, payload, signature = _signed_by_us(claims).split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "==")) | {"exam": "chemistry"}
    forged = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    assert sessions.verify(f"{header}.{forged}.{signature}", NOW) is None
    assert sessions.verify("not.a.token", NOW) is None
    assert sessions.verify("x" * 5000, NOW) is None
    # The same claims under another KMS key (another deployment's, say).
    token = _signed_by_us(claims)
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    sessions.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LTI_SESSION_KEY_ID", other)
        assert sessions.verify(token, NOW) is None


def test_session_of_reads_only_what_claims_of_wrote() -> None:
    session = _session()
    claims = claims_of(session, deployment="d", now=NOW)
    assert session_of(claims, deployment="d", now=NOW) == session
    assert session_of(claims, deployment="e", now=NOW) is None
    assert session_of(claims | {"exp": True}, deployment="d", now=NOW) is None


@pytest.fixture
def authorizer(kms: Any) -> ModuleType:
    return load_function("lti_authorizer", "function_lti_authorizer_unit")


def _event(headers: dict[str, str]) -> dict[str, Any]:
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "queryStringParameters": None}


ALLOW = {
    "Version": "2012-10-17",
    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}],
}


def test_a_key_caller_s_key_goes_to_api_gateway_as_it_came_whatever_else_is_sent(authorizer: ModuleType) -> None:
    answer = authorizer.lambda_handler(_event({"X-Api-Key": "examiner-key", "Authorization": "Bearer junk"}), None)
    assert answer == {
        "principalId": "key",
        "policyDocument": ALLOW,
        "usageIdentifierKey": "examiner-key",
        "context": {"kind": "key"},
    }


def test_a_session_is_metered_under_the_sessions_key_and_named_in_the_context(authorizer: ModuleType) -> None:
    session = _session()
    answer = authorizer.lambda_handler(_event({"authorization": f"Bearer {sessions.mint(session)}"}), None)
    assert answer == {
        "principalId": session.caller_key,
        "policyDocument": ALLOW,
        "usageIdentifierKey": SESSIONS_KEY,
        "context": {
            "kind": "session",
            "caller_key": session.caller_key,
            "session": session.jti,
            "platform": session.platform,
            "lti_user": session.lti_user,
            "exam": "physics",
        },
    }


def test_neither_is_allowed_with_no_key_so_api_gateway_answers_its_own_403(authorizer: ModuleType) -> None:
    answer = authorizer.lambda_handler(_event({"Accept": "application/json"}), None)
    assert answer == {"principalId": "none", "policyDocument": ALLOW, "context": {"kind": "none"}}
    assert "usageIdentifierKey" not in answer


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": SESSIONS_KEY},  # the sessions' key is nobody's to send
        {"Authorization": "Bearer junk.junk.junk"},
        {"Authorization": "Bearer "},
    ],
)
def test_the_sessions_key_as_a_header_and_a_junk_session_are_unauthorized(
    authorizer: ModuleType, headers: dict[str, str]
) -> None:
    if headers.get("Authorization") == "Bearer ":
        # An empty bearer is no session at all: API Gateway answers its 403 for the missing key.
        assert authorizer.lambda_handler(_event(headers), None)["context"] == {"kind": "none"}
        return
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(_event(headers), None)


def test_a_key_caller_is_answered_when_secrets_manager_cannot_give_the_sessions_key(
    authorizer: ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A secret that cannot be read (here: none by that name) costs the key path only its refusal
    of the sessions' key as a header: API Gateway still checks the key. A session still needs it."""
    monkeypatch.delenv("LTI_SESSIONS_KEY")
    monkeypatch.setenv("LTI_SESSIONS_KEY_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:gone")
    sessions.reset()
    for _ in range(2):
        answer = authorizer.lambda_handler(_event({"x-api-key": "examiner-key"}), None)
        assert (answer["usageIdentifierKey"], answer["context"]) == ("examiner-key", {"kind": "key"})
    assert sum("could not be read" in record.getMessage() for record in caplog.records) == 1
    with pytest.raises(ServiceUnavailable):
        authorizer.lambda_handler(_event({"authorization": f"Bearer {sessions.mint(_session())}"}), None)


def test_the_authorizer_imports_neither_pydantic_nor_the_lti_library() -> None:
    probe = (
        "import sys, importlib.util;"
        f"sys.path[:0] = [{str(ROOT / 'shared')!r}];"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/lti_authorizer/app.py')!r});"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec));"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in"
        " ('pydantic', 'pylti1p3', 'jwt', 'requests', 'jwcrypto', 'aws_lambda_powertools', 'joserfc')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
