"""The LMS's administration routes against PostgreSQL and moto's KMS: registering a platform (by hand,
with a key only), the one-time dynamic-registration URL, a teacher's deep-linking answer (with a
session only) signed by the tool's key in KMS as `GET /lti/jwks.json` publishes it, and an exam's
LMS state."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import boto3
import jwt
import psycopg
import pytest
from exam_depository import config
from exam_depository.adapters import lti_keys
from psycopg.rows import dict_row

from local_stack.functions import LambdaContext, api_event
from tests.integration.conftest import EXAM, EXAMINER, OTHER_EXAMINER, REGION, Api, ApiResponse, _response
from tests.lti_platform.server import Platform, running_platform

DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"


@pytest.fixture
def tool_key(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tool's RS256 key in (moto's) KMS, and loopback platforms allowed (the test platform)."""
    key = boto3.client("kms", region_name=REGION).create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    monkeypatch.setenv("LTI_TOOL_KEY_ID", key["KeyMetadata"]["KeyId"])
    monkeypatch.setenv("LTI_ALLOW_LOOPBACK", "true")
    config.reset()
    lti_keys.reset()
    yield
    lti_keys.reset()


@pytest.fixture
def platform() -> Iterator[Platform]:
    with running_platform() as started:
        yield started


def registration_body(
    platform: Platform, client_id: str = "tool-1", deployments: list[str] | None = None
) -> dict[str, Any]:
    return {
        "issuer": platform.issuer,
        "client_id": client_id,
        "deployment_ids": deployments or ["deployment-1"],
        "auth_login_url": platform.auth_url,
        "auth_token_url": platform.token_url,
        "key_set_url": platform.jwks_url,
    }


def as_session(handler: Callable[[str], ModuleType], case: str, caller_key: str, **changes: Any) -> ApiResponse:
    """An lti_admin route called by a teacher signed in from the LMS (the authorizer's context)."""
    event = api_event("lti_admin", case, **changes)
    event["requestContext"] = copy.deepcopy(event["requestContext"])
    event["requestContext"].setdefault("authorizer", {})
    event["requestContext"]["authorizer"] = {
        "principalId": caller_key,
        "kind": "session",
        "caller_key": caller_key,
        "session": str(uuid4()),
        "platform": "http://localhost",
        "lti_user": "teacher-1",
        "exam": "",
    }
    return _response(handler("lti_admin").lambda_handler(event, LambdaContext()))


def test_a_platform_registered_by_hand_answers_the_tool_urls_and_a_second_deployment_joins_it(
    api: Api, tool_key: None, platform: Platform
) -> None:
    # When an examiner registers the platform with their key
    made = api.call("lti_admin", "register", body=registration_body(platform))
    # Then it is made, with what the LMS needs of the tool
    assert made.status == 201, made.body
    assert made.body["how"] == "manual"
    assert made.body["deployment_ids"] == ["deployment-1"]
    tool = made.body["tool"]
    assert tool["login_url"].endswith("/lti/login")
    assert tool["jwks_url"].endswith("/lti/jwks.json")
    assert tool["redirect_uris"] == [tool["launch_url"]]
    assert tool["domain"] == urlsplit(tool["launch_url"]).netloc
    # And the same platform with the same URLs again adds a deployment (200, the union)
    again = api.call("lti_admin", "register", body=registration_body(platform, deployments=["deployment-2"]))
    assert again.status == 200, again.body
    assert again.body["registration_id"] == made.body["registration_id"]
    assert again.body["deployment_ids"] == ["deployment-1", "deployment-2"]
    # And the list is the caller's
    assert [r["registration_id"] for r in api.call("lti_admin", "list").body["items"]] == [made.body["registration_id"]]
    assert api.as_key(OTHER_EXAMINER).call("lti_admin", "list").body["items"] == []


def test_another_owner_or_other_urls_for_a_registered_platform_are_refused(
    api: Api, tool_key: None, platform: Platform
) -> None:
    assert api.call("lti_admin", "register", body=registration_body(platform)).status == 201
    # Another examiner: 409
    taken = api.as_key(OTHER_EXAMINER).call("lti_admin", "register", body=registration_body(platform))
    assert taken.status == 409, taken.body
    assert taken.body["type"] == "urn:exam-depository:problem:registration-exists"
    # The owner with another token URL: 409 too (a registration's URLs change by hand in no route)
    moved = registration_body(platform) | {"auth_token_url": platform.url("/other-token")}
    assert api.call("lti_admin", "register", body=moved).status == 409


@pytest.mark.parametrize(
    "change",
    [
        {"deployment_ids": []},
        {"issuer": "ftp://lms.example.edu"},
        {"key_set_url": "not a url"},
        {"client_id": ""},
    ],
)
def test_a_registration_that_is_not_valid_is_422(
    api: Api, tool_key: None, platform: Platform, change: dict[str, Any]
) -> None:
    answer = api.call("lti_admin", "register", body=registration_body(platform) | change)
    assert answer.status == 422, answer.body


@pytest.mark.parametrize("field", ["issuer", "client_id", "deployment_ids", "auth_login_url", "auth_audience"])
def test_a_nul_in_a_registration_is_422_not_a_500(api: Api, tool_key: None, platform: Platform, field: str) -> None:
    body = registration_body(platform)
    if field == "deployment_ids":
        body[field] = ["d\x00"]
    elif field == "auth_audience":
        body[field] = "aud\x00"
    else:
        body[field] = str(body[field]) + "\x00"
    answer = api.call("lti_admin", "register", body=body)
    assert answer.status == 422, (answer.status, answer.body)
    assert field in str(answer.body), answer.body


def test_registering_needs_a_key_and_a_session_from_the_lms_is_refused(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    teacher = _teacher(clean_database, api, platform)
    refused = as_session(handler, "register", teacher.caller_key, body=registration_body(platform, "tool-2"))
    assert refused.status == 403
    assert refused.body["type"] == "urn:exam-depository:problem:key-required"
    offered = as_session(handler, "offer", teacher.caller_key)
    assert offered.status == 403
    assert offered.body["type"] == "urn:exam-depository:problem:key-required"


def test_the_dynamic_registration_url_is_shown_once_and_kept_only_as_its_hash(
    api: Api, tool_key: None, clean_database: str
) -> None:
    offered = api.call("lti_admin", "offer")
    assert offered.status == 201, offered.body
    url = offered.body["registration_url"]
    assert "/lti/register/" in url
    token = url.rsplit("/", 1)[1]
    expires = datetime.fromisoformat(offered.body["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    with psycopg.connect(clean_database, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT token_sha256, used_at FROM lti_offer").fetchall()
    assert rows == [{"token_sha256": hashlib.sha256(token.encode()).hexdigest(), "used_at": None}]
    # A second offer is another URL
    assert api.call("lti_admin", "offer").body["registration_url"] != url


def test_a_deep_link_answered_places_the_exam_signed_by_the_tools_published_key(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    # Given a registration, the sample exam, and a teacher of the course who is its co-examiner
    teacher = _teacher(clean_database, api, platform, exam=EXAM)
    request_id = _deep_link_request(clean_database, teacher)

    # When the teacher chooses the exam with their session
    answer = as_session(handler, "deep_link", teacher.caller_key, body={"request_id": str(request_id), "exam_id": EXAM})

    # Then the answer is a JWT for the platform's return URL, signed by a key of GET /lti/jwks.json
    assert answer.status == 200, answer.body
    assert answer.body["return_url"] == platform.url("/deep-link-return")
    jwks = lti_keys.tool_jwks()
    kid = jwt.get_unverified_header(answer.body["jwt"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(answer.body["jwt"], key, algorithms=["RS256"], audience=platform.issuer)
    assert claims["iss"] == "tool-1"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "deployment-1"
    assert claims[DL_CLAIM + "data"] == "opaque-platform-data"
    [item] = claims[DL_CLAIM + "content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["custom"]["exam_id"] == EXAM
    link_id = UUID(item["custom"]["link"])
    assert item["lineItem"]["label"].endswith(": hand-in")
    assert item["lineItem"]["resourceId"] == str(link_id)
    # And the link is kept; the registration's owner owns the exam; the exam's log says so
    with psycopg.connect(clean_database, row_factory=dict_row) as conn:
        link = conn.execute("SELECT context_id, context_title FROM lti_link WHERE id = %s", (link_id,)).fetchone()
        events = conn.execute("SELECT action FROM audit_event ORDER BY seq").fetchall()
    assert link == {"context_id": "course-1", "context_title": "Physics 101"}
    assert "lti.linked" in [e["action"] for e in events]
    # And the exam's LMS state shows the course
    state = api.call("lti_admin", "exam", path_params={"exam_id": EXAM})
    assert state.status == 200, state.body
    [course] = state.body["links"]
    assert (course["link_id"], course["course"], course["platform"]) == (str(link_id), "Physics 101", platform.issuer)
    assert course["roster_service"] is False
    assert course["last_sync"] is None
    assert state.body["scores"] == {"queued": 0, "sending": 0, "sent": 0, "superseded": 0, "failed": 0}

    # And the same request answered again is 410
    again = as_session(handler, "deep_link", teacher.caller_key, body={"request_id": str(request_id), "exam_id": EXAM})
    assert again.status == 410
    assert again.body["type"] == "urn:exam-depository:problem:lti-deep-link-used"


def test_a_deep_link_to_another_examiners_exam_is_404_and_a_key_is_refused(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    api.as_key(OTHER_EXAMINER).create_exam("chemistry-2026-12")
    teacher = _teacher(clean_database, api, platform)
    request_id = _deep_link_request(clean_database, teacher)
    body = {"request_id": str(request_id), "exam_id": "chemistry-2026-12"}
    assert as_session(handler, "deep_link", teacher.caller_key, body=body).status == 404
    event = api_event("lti_admin", "deep_link", body=body)
    del event["requestContext"]["authorizer"]  # an API key's caller: no session
    with_key = _response(handler("lti_admin").lambda_handler(event, LambdaContext()))
    assert with_key.status == 403
    assert with_key.body["type"] == "urn:exam-depository:problem:session-required"


def test_a_plain_http_registration_is_422_where_loopback_is_not_allowed(
    api: Api, tool_key: None, platform: Platform, monkeypatch: pytest.MonkeyPatch, clean_database: str
) -> None:
    # The test platform's addresses are http on 127.0.0.1; a deployment allows no such platform
    monkeypatch.setenv("LTI_ALLOW_LOOPBACK", "false")
    config.reset()
    refused = api.call("lti_admin", "register", body=registration_body(platform))
    assert refused.status == 422, refused.body
    assert refused.body["type"] == "urn:exam-depository:problem:invalid-input"
    assert "https" in refused.body["detail"]
    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT count(*) FROM lti_registration").fetchone() == (0,)


def test_a_co_examiner_placing_an_exam_does_not_make_the_registrations_owner_a_member(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    """Eve (OTHER_EXAMINER) registers a platform of her own (any key may), launches from it as a
    teacher, redeems a co-examiner invitation to the sample exam in that session and places the exam
    in a course of hers: the exam is placed, her key gains no role in it (only an owner adds members)."""
    eve = api.as_key(OTHER_EXAMINER)
    assert eve.call("lti_admin", "register", body=registration_body(platform)).status == 201
    teacher = _teacher(clean_database, api.as_key(OTHER_EXAMINER), platform)
    code = api.invite("co_examiner")["invitation_code"]
    assert api.as_key(teacher.caller_key).redeem(code).status == 200
    request_id = _deep_link_request(clean_database, teacher)

    answer = as_session(handler, "deep_link", teacher.caller_key, body={"request_id": str(request_id), "exam_id": EXAM})

    assert answer.status == 200, answer.body
    assert _role_of(clean_database, OTHER_EXAMINER, EXAM) is None
    assert _linked(clean_database)["registration_owner"] == "not-added:placed-by-a-co-examiner"


def test_an_owner_placing_an_exam_makes_the_registrations_owner_an_owner(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    # The sample key registers; a teacher of the course creates an exam from the picker (its owner)
    teacher = _teacher(clean_database, api, platform)
    api.create_exam("chemistry-2026-12", api_key_id=teacher.caller_key)
    request_id = _deep_link_request(clean_database, teacher)
    body = {"request_id": str(request_id), "exam_id": "chemistry-2026-12"}

    assert as_session(handler, "deep_link", teacher.caller_key, body=body).status == 200

    assert _role_of(clean_database, EXAMINER, "chemistry-2026-12") == "owner"
    assert _linked(clean_database)["registration_owner"] == "added"


def test_placing_an_exam_whose_id_the_registrations_owner_holds_places_it_without_them(
    api: Api, handler: Callable[[str], ModuleType], tool_key: None, platform: Platform, clean_database: str
) -> None:
    # The registration's owner (the sample key) owns EXAM; a teacher creates their own EXAM from the picker
    teacher = _teacher(clean_database, api, platform)
    api.create_exam(EXAM, api_key_id=teacher.caller_key)
    request_id = _deep_link_request(clean_database, teacher)

    answer = as_session(handler, "deep_link", teacher.caller_key, body={"request_id": str(request_id), "exam_id": EXAM})

    # The teacher's exam is placed; the owner keeps their own EXAM and is no member of the teacher's
    assert answer.status == 200, answer.body
    with psycopg.connect(clean_database) as conn:
        members = conn.execute(
            """SELECT count(*) FROM exam_member m JOIN lti_link l ON l.exam_pk = m.exam_id""",
        ).fetchone()
    assert members == (1,)
    assert _linked(clean_database)["registration_owner"] == "not-added:exam-id-held"


def _role_of(database_url: str, api_key_id: str, exam_id: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """SELECT m.role FROM exam_member m JOIN examiner_key k ON k.examiner_id = m.examiner_id
               JOIN exam e ON e.id = m.exam_id WHERE k.api_key_id = %s AND e.slug = %s
                 AND e.id IN (SELECT exam_pk FROM lti_link)""",
            (api_key_id, exam_id),
        ).fetchone()
    return None if row is None else str(row[0])


def _linked(database_url: str) -> dict[str, Any]:
    """The `after` of the one `lti.linked` event."""
    with psycopg.connect(database_url) as conn:
        [(after,)] = conn.execute("SELECT after FROM audit_event WHERE action = 'lti.linked'").fetchall()
    return dict(after)


# --- rows a launch would have made (the launch is tests/integration/test_lti_launch.py's)


class Teacher:
    def __init__(self, caller_key: str, lti_user_id: int, registration_pk: int) -> None:
        self.caller_key = caller_key
        self.lti_user_id = lti_user_id
        self.registration_pk = registration_pk


def _teacher(database_url: str, api: Api, platform: Platform, *, exam: str | None = None) -> Teacher:
    """A registration (the sample key's), and a teacher's identity from it, co-examiner of `exam`."""
    registered = api.call("lti_admin", "register", body=registration_body(platform))
    assert registered.status in (200, 201), registered.body
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        registration = conn.execute("SELECT id FROM lti_registration WHERE client_id = 'tool-1'").fetchone()
        assert registration is not None
        examiner = conn.execute("INSERT INTO examiner DEFAULT VALUES RETURNING id").fetchone()
        assert examiner is not None
        user = conn.execute(
            """INSERT INTO lti_user (registration_id, sub, examiner_id, name)
               VALUES (%s, 'teacher-1', %s, 'Tom Teacher') RETURNING id, public_id""",
            (registration["id"], examiner["id"]),
        ).fetchone()
        assert user is not None
        caller_key = f"lti:{user['public_id']}"
        conn.execute("INSERT INTO examiner_key (api_key_id, examiner_id) VALUES (%s, %s)", (caller_key, examiner["id"]))
        if exam is not None:
            conn.execute(
                """INSERT INTO exam_member (exam_id, slug, examiner_id, role, label)
                   SELECT e.id, e.slug, %s, 'co_examiner', 'Tom Teacher' FROM exam e WHERE e.slug = %s""",
                (examiner["id"], exam),
            )
    return Teacher(caller_key, int(user["id"]), int(registration["id"]))


def _deep_link_request(database_url: str, teacher: Teacher) -> UUID:
    request_id = uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO lti_deep_link (id, registration_id, deployment_id, lti_user_id, context_id, context_title,
                   return_url, data, expires_at)
               VALUES (%s, %s, 'deployment-1', %s, 'course-1', 'Physics 101', %s, 'opaque-platform-data',
                   now() + interval '1 hour')""",
            (request_id, teacher.registration_pk, teacher.lti_user_id, f"{_issuer(database_url)}/deep-link-return"),
        )
    return request_id


def _issuer(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT issuer FROM lti_registration WHERE client_id = 'tool-1'").fetchone()
    assert row is not None
    return str(row[0])
