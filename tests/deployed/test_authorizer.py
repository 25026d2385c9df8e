"""The deployed API's authorizer (template.yaml's ExaminerAuthorizer, with apiKeySource
AUTHORIZER) in MiniStack: key callers answered exactly as before (the usage plan's key check,
quota and throttle still API Gateway's), a session from the LMS accepted and metered under the
sessions' key, and what is not a session refused.

MiniStack needs scripts/deploy_local's patch to take the key from the authorizer at all: these
tests prove the template and our reading of API Gateway through it, not AWS itself. MiniStack 1.5.33
does not apply the template's GatewayResponses (SAM writes them into the OpenAPI body, which it
ignores): its answers keep their statuses with its own bodies, so the problem types of the 401,
429 and 503 are held by tests/unit/test_gateway.py and test_template.py, not here."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.deployed.conftest import Deployed
from tests.e2e.conftest import EXAM

SESSION_TYP = "lti-session+jwt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(der: bytes) -> str:
    """RFC 7638's thumbprint of the P-256 public key (DER SubjectPublicKeyInfo): the session's kid."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    numbers = key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    digest = hashes.Hash(hashes.SHA256())
    digest.update(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode())
    return _b64(digest.finalize())


def _session(deployed: Deployed, caller_key: str, *, exam: str | None, expires_in: timedelta) -> str:
    """A session token as the LTI tool mints one: ES256 by the stack's session key in MiniStack's
    KMS (the test holds the operator's rights, as only the tool's role does in production)."""
    kms = deployed.client("kms")
    key_arn = deployed.info["outputs"]["LtiSessionKeyArn"]
    now = datetime.now(UTC)
    header = {"alg": "ES256", "kid": _thumbprint(kms.get_public_key(KeyId=key_arn)["PublicKey"]), "typ": SESSION_TYP}
    claims = {
        "iss": f"{deployed.info['stack']}/lti",
        "aud": f"{deployed.info['stack']}/api",
        "sub": caller_key,
        "exam": exam,
        "dl": None,
        "platform": "http://localhost:1",
        "lti_user": "teacher-1",
        "name": "Tess Teacher",
        "course": "Physics",
        "jti": uuid.uuid4().hex,
        "iat": int((now + min(expires_in, timedelta(0)) - timedelta(hours=1)).timestamp()),
        "exp": int((now + expires_in).timestamp()),
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    der = kms.sign(KeyId=key_arn, Message=signing_input.encode(), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class Teacher:
    caller_key: str


@pytest.fixture(scope="module")
def teacher(deployed: Deployed) -> Teacher:
    """A teacher's examiner identity (`lti:<uuid>`) and a co-examiner's membership of EXAM, as a
    teacher's launch makes them (tests/deployed/test_lti.py launches for real)."""
    caller_key = f"lti:{uuid.uuid4()}"
    with deployed.database().admin("exam_depository") as conn:
        row = conn.execute("INSERT INTO examiner DEFAULT VALUES RETURNING id").fetchone()
        assert row is not None
        examiner_id = row[0]
        conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (caller_key, examiner_id))
        conn.execute(
            "INSERT INTO exam_member (exam_id, slug, examiner_id, role, label)"
            " SELECT id, slug, %s, 'co_examiner', 'Tess Teacher (LMS)' FROM exam WHERE slug = %s",
            (examiner_id, EXAM),
        )
    return Teacher(caller_key)


def _get(deployed: Deployed, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(deployed.url(path), headers=headers, timeout=30)


def test_a_key_is_served_and_no_key_or_a_wrong_one_is_api_gateway_s_own_403(deployed: Deployed) -> None:
    assert _get(deployed, "/exams", {"x-api-key": deployed.key}).status_code == 200
    for headers in ({}, {"x-api-key": "not-a-key-of-this-stack"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        answer = _get(deployed, "/exams", headers)
        assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"}), headers


@pytest.fixture
def plan_key(deployed: Deployed) -> Iterator[tuple[str, str, Any]]:
    """A key of the examiners' usage plan, made for one test and deleted after it, and the plan's
    settings restored: (key value, plan id, API Gateway's client)."""
    apigateway = deployed.client("apigateway")
    plan_id = deployed.info["outputs"]["UsagePlanId"]
    before = apigateway.get_usage_plan(usagePlanId=plan_id)
    value = secrets.token_hex(20)
    key_id = apigateway.create_api_key(name=f"authorizer-test-{value[:6]}", value=value, enabled=True)["id"]
    apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
    try:
        yield value, plan_id, apigateway
    finally:
        apigateway.update_usage_plan(
            usagePlanId=plan_id,
            patchOperations=[
                {"op": "replace", "path": "/quota/limit", "value": str(before["quota"]["limit"])},
                {"op": "replace", "path": "/throttle/rateLimit", "value": str(before["throttle"]["rateLimit"])},
                {"op": "replace", "path": "/throttle/burstLimit", "value": str(before["throttle"]["burstLimit"])},
            ],
        )
        apigateway.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)
        apigateway.delete_api_key(apiKey=key_id)


def test_the_examiners_plan_still_enforces_its_quota_on_a_key_the_authorizer_passes(
    deployed: Deployed, plan_key: tuple[str, str, Any]
) -> None:
    value, plan_id, apigateway = plan_key
    apigateway.update_usage_plan(
        usagePlanId=plan_id, patchOperations=[{"op": "replace", "path": "/quota/limit", "value": "2"}]
    )
    answers = [_get(deployed, "/exams", {"x-api-key": value}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]


def test_the_examiners_plan_still_throttles_a_key_the_authorizer_passes(
    deployed: Deployed, plan_key: tuple[str, str, Any]
) -> None:
    value, plan_id, apigateway = plan_key
    # A bucket of one request, refilled once in 1,000 seconds: the second call finds it empty.
    apigateway.update_usage_plan(
        usagePlanId=plan_id,
        patchOperations=[
            {"op": "replace", "path": "/throttle/rateLimit", "value": "0.001"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "1"},
        ],
    )
    first, second = (_get(deployed, "/exams", {"x-api-key": value}) for _ in range(2))
    assert (first.status_code, second.status_code) == (200, 429)


def test_a_session_is_served_as_its_teacher_on_its_exam_and_nowhere_else(deployed: Deployed, teacher: Teacher) -> None:
    bearer = {
        "Authorization": f"Bearer {_session(deployed, teacher.caller_key, exam=EXAM, expires_in=timedelta(hours=4))}"
    }
    own = _get(deployed, f"/exams/{EXAM}", bearer)
    assert own.status_code == 200, own.text
    assert own.json()["exam_id"] == EXAM
    # An exam the teacher is no member of: as for any examiner, it does not exist for them
    other = deployed.create_exam(f"authorizer-{secrets.token_hex(3)}", due_in_s=3600, title="Not the teacher's")
    assert _get(deployed, f"/exams/{other['exam_id']}", bearer).status_code == 404
    # Registering a platform needs a key
    platform = "https://lms.example.edu"
    body = {
        "issuer": platform,
        "client_id": "tool-1",
        "deployment_ids": ["deployment-1"],
        "auth_login_url": f"{platform}/auth",
        "auth_token_url": f"{platform}/token",
        "key_set_url": f"{platform}/jwks",
    }
    registering = requests.post(deployed.url("/lti/registrations"), headers=bearer, json=body, timeout=30)
    assert registering.status_code == 403
    assert registering.json()["type"] == "urn:exam-depository:problem:key-required"


def test_an_expired_a_junk_session_and_the_sessions_key_as_x_api_key_are_401(
    deployed: Deployed, teacher: Teacher
) -> None:
    expired = _session(deployed, teacher.caller_key, exam=EXAM, expires_in=-timedelta(minutes=5))
    sessions_key = deployed.client("secretsmanager").get_secret_value(
        SecretId=deployed.info["outputs"]["LtiSessionsKeySecretArn"]
    )["SecretString"]
    for headers in (
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": "Bearer junk.junk.junk"},
        {"x-api-key": sessions_key},
    ):
        answer = _get(deployed, "/exams", headers)
        assert answer.status_code == 401, (headers.keys(), answer.text)
