"""The LTI tool's login, launch and landings against the platform on loopback (tests/lti_platform,
around lti1p3platform): the tool's function answers HTTP on 127.0.0.1 as API Gateway would hand it
the request (a small bridge below), the platform signs launches with its own key and serves its key
set, the database is PostgreSQL and KMS is moto's. A browser is a `requests.Session` (its cookie jar).

Each refusal the tool must make is made here over HTTP with its status and problem type: a forged or
expired id token, a reused nonce, a wrong audience, an unknown deployment, a launch for an exam of
another examiner, a state from another browser."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import psycopg
import pytest
import requests
from exam_depository.adapters import lti_keys, sessions

from local_stack.functions import LambdaContext
from tests.integration.conftest import EXAM, EXAMINER, OTHER_EXAMINER, Api
from tests.lti_platform import keys
from tests.lti_platform.platform import INSTRUCTOR, LEARNER, TEACHING_ASSISTANT, ResourceLink, Tool
from tests.lti_platform.registration import TOOL_CONFIGURATION, RegisteringPlatform
from tests.lti_platform.server import Platform, login_auth_url, running_platform

COURSE = "physics-101"


class _Bridge(BaseHTTPRequestHandler):
    """HTTP on loopback → the tool function's API Gateway proxy event → HTTP."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        resource = "/lti/register/{offer}" if split.path.startswith("/lti/register/") else split.path
        query = {name: values[0] for name, values in parse_qs(split.query).items()} or None
        event = {
            "resource": resource,
            "path": split.path,
            "httpMethod": self.command,
            "headers": dict(self.headers.items()),
            "multiValueHeaders": {name: [value] for name, value in self.headers.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": {"offer": split.path.rsplit("/", 1)[1]} if resource != split.path else None,
            "requestContext": {"path": split.path, "requestId": str(uuid.uuid4()), "stage": "test"},
            "body": body,
            "isBase64Encoded": False,
        }
        result = type(self).handler(event, LambdaContext())
        self.send_response(result["statusCode"])
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                self.send_header(name, value)
        for name, value in headers.items():
            self.send_header(name, value)
        payload = (result.get("body") or "").encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve


@dataclass
class Stage:
    """The tool served on loopback, the platform, our registration of it, a course with a link."""

    base: str
    platform: Platform
    tool: Tool
    registration_id: int
    link_id: uuid.UUID
    link: ResourceLink
    database_url: str


@pytest.fixture
def stage(lti_keys: None, api: Api, handler: Callable[[str], ModuleType], clean_database: str) -> Iterator[Stage]:
    _Bridge.handler = handler("lti_tool").lambda_handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bridge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with running_platform() as platform:
            tool = platform.register_tool(base)
            platform.add_course(COURSE, "Physics 101")
            registration_id = _register(clean_database, platform, tool, owner_key=EXAMINER)
            link_id = _link(clean_database, EXAM, registration_id, tool.deployment_id, COURSE, owner_key=EXAMINER)
            link = platform.add_link(
                COURSE, tool, "Physics", {"exam_id": EXAM, "link": str(link_id)}, line_item_label="Physics: hand-in"
            )
            yield Stage(base, platform, tool, registration_id, link_id, link, clean_database)
    finally:
        server.shutdown()
        server.server_close()


def _examiner_id(conn: psycopg.Connection[Any], key: str) -> int:
    row = conn.execute("SELECT examiner_id FROM examiner_key WHERE api_key_id = %s", (key,)).fetchone()
    assert row is not None
    return int(row[0])


def _register(database_url: str, platform: Platform, tool: Tool, *, owner_key: str) -> int:
    """The platform registered by hand, as `POST /lti/registrations` stores it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            """INSERT INTO lti_registration (owner_id, issuer, client_id, auth_login_url, auth_token_url,
                                            key_set_url, how)
               VALUES (%s, %s, %s, %s, %s, %s, 'manual') RETURNING id""",
            (
                _examiner_id(conn, owner_key),
                platform.issuer,
                tool.client_id,
                platform.auth_url,
                platform.token_url,
                platform.jwks_url,
            ),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO lti_deployment (registration_id, deployment_id) VALUES (%s, %s)", (row[0], tool.deployment_id)
        )
        return int(row[0])


def _link(
    database_url: str, exam: str, registration_id: int, deployment_id: str, context: str, *, owner_key: str
) -> uuid.UUID:
    """The exam placed in the course, as a deep-linking choice stores it."""
    link_id = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO lti_link (id, exam_pk, registration_id, deployment_id, context_id, context_title)
               SELECT %s, e.id, %s, %s, %s, 'Physics 101' FROM exam e
                 JOIN exam_member m ON m.exam_id = e.id AND m.role = 'owner'
                WHERE e.slug = %s AND m.examiner_id = %s""",
            (link_id, registration_id, deployment_id, context, exam, _examiner_id(conn, owner_key)),
        )
    return link_id


class _Browser(requests.Session):
    """A browser's view of http://127.0.0.1: a trustworthy origin, where `Secure` cookies are sent
    (Chromium does; Python's cookie jar sends them over https only)."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        for cookie in self.cookies:
            if cookie.domain in {"127.0.0.1", "localhost"}:
                cookie.secure = False
        return super().prepare_request(request)


def browser() -> requests.Session:
    return _Browser()


def _refusal(answer: requests.Response) -> str:
    found = re.search(r'id="refusal" data-type="([^"]+)"', answer.text)
    assert found is not None, f"{answer.status_code}: {answer.text[:300]}"
    return found.group(1)


def _fragment(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 303, f"{answer.status_code}: {answer.text[:500]}"
    location = answer.headers["Location"]
    return {name: values[0] for name, values in parse_qs(urlsplit(location).fragment).items()}


# --- the landings -------------------------------------------------------------------------------------


def test_a_learner_lands_on_their_upload_page_with_a_ticket_used_once(stage: Stage) -> None:
    stage.platform.add_user("ann", "Ann", "Lee", "ann.lee@example.edu")
    stage.platform.add_member(COURSE, "ann", [LEARNER])
    launch = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser())
    login = launch.login
    assert login.status_code == 200
    cookie = login.headers["Set-Cookie"]
    assert cookie.startswith("lti-state-")
    assert "SameSite=None" in cookie
    assert "Partitioned" in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "script-src 'sha256-" in login.headers["Content-Security-Policy"]
    assert "lti-probe-" in cookie  # the page's way to see the cookies arrived (not HttpOnly)

    landed = launch.post()
    location = landed.headers["Location"]
    assert location.startswith(f"{stage.base}/?lti=1#ticket=")
    ticket = _fragment(landed)["ticket"]
    with psycopg.connect(stage.database_url) as conn:
        student = conn.execute(
            """SELECT s.first_name, s.last_name, s.email, s.upload_code
                 FROM student s JOIN lti_learner l ON l.student_id = s.id"""
        ).fetchone()
        learnt = conn.execute(
            "SELECT lineitem_url, resource_link_id FROM lti_link WHERE id = %s", (stage.link_id,)
        ).fetchone()
    assert student is not None
    assert student[:3] == ("Ann", "Lee", "ann.lee@example.edu")
    assert student[3] not in location  # the code never travels in a URL
    assert learnt is not None
    assert learnt[0] is not None
    assert learnt[1] == stage.link.id

    redeemed = requests.post(f"{stage.base}/lti/tickets", json={"ticket": ticket}, timeout=30)
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"upload_code": student[3]}
    again = requests.post(f"{stage.base}/lti/tickets", json={"ticket": ticket}, timeout=30)
    assert (again.status_code, again.json()["type"]) == (410, "urn:exam-depository:problem:lti-ticket-used")

    # A second launch finds the same roster entry.
    _fragment(stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser()).post())
    with psycopg.connect(stage.database_url) as conn:
        count = conn.execute("SELECT count(*) FROM lti_learner").fetchone()
    assert count == (1,)


@pytest.mark.parametrize(("roles", "role"), [([INSTRUCTOR], "co_examiner"), ([TEACHING_ASSISTANT], "grader")])
def test_a_teacher_lands_in_the_console_signed_in_with_their_role(stage: Stage, roles: list[str], role: str) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher", "tom@example.edu")
    stage.platform.add_member(COURSE, "tom", roles)
    fragment = _fragment(stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post())
    assert fragment["exam"] == EXAM
    from datetime import UTC, datetime

    session = sessions.verify(fragment["session"], datetime.now(UTC))
    assert session is not None
    assert (session.exam_id, session.platform, session.lti_user) == (EXAM, stage.platform.issuer, "tom")
    with psycopg.connect(stage.database_url) as conn:
        member = conn.execute(
            """SELECT m.role, m.label FROM exam_member m JOIN examiner_key k ON k.examiner_id = m.examiner_id
                WHERE k.api_key_id = %s""",
            (session.caller_key,),
        ).fetchone()
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_event ORDER BY seq").fetchall()]
    assert member == (role, "Tom Teacher")
    assert actions[-2:] == ["member.joined", "lti.teacher_launched"]


def test_a_launch_never_lowers_a_role(stage: Stage) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    _fragment(stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post())
    stage.platform.add_member(COURSE, "tom", [TEACHING_ASSISTANT])
    _fragment(stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post())
    with psycopg.connect(stage.database_url) as conn:
        roles = conn.execute("SELECT role FROM exam_member WHERE role <> 'owner'").fetchall()
    assert roles == [("co_examiner",)]


def test_a_deep_linking_request_lands_on_the_picker(stage: Stage) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    fragment = _fragment(
        stage.platform.forge_launch(stage.tool, "tom", deep_link_context=COURSE, browser=browser()).post()
    )
    with psycopg.connect(stage.database_url) as conn:
        request = conn.execute("SELECT id, context_id, return_url FROM lti_deep_link").fetchone()
    assert request is not None
    assert fragment["pick"] == str(request[0])
    assert request[1] == COURSE
    assert request[2].startswith(stage.platform.issuer)


def test_the_tools_key_set_is_kms_key_and_signs_what_the_platform_verifies(stage: Stage) -> None:
    answer = requests.get(f"{stage.base}/lti/jwks.json", timeout=30)
    assert answer.status_code == 200
    assert "max-age=3600" in answer.headers["Cache-Control"]
    (jwk,) = answer.json()["keys"]
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
    token = lti_keys.sign_rs256({"iss": "tool"}, kid=lti_keys.current_kid())
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"iss": "tool"}


# --- the refusals, over HTTP ----------------------------------------------------------------------------


def _learner(stage: Stage) -> None:
    stage.platform.add_user("ann", "Ann", "Lee")
    stage.platform.add_member(COURSE, "ann", [LEARNER])


REFUSED = "urn:exam-depository:problem:lti-"


def test_a_forged_id_token_is_refused(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    _learner(stage)
    forged = stage.platform.forge_launch(
        stage.tool, "ann", stage.link, browser=browser(), key=keys.stranger(), kid=keys.platform().kid
    )
    answer = forged.post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "signature")
    assert '"LtiLaunchRefused"' in capsys.readouterr().out  # the metric its alarm counts


def test_an_expired_id_token_is_refused(stage: Stage) -> None:
    _learner(stage)
    answer = stage.platform.forge_launch(
        stage.tool, "ann", stage.link, browser=browser(), exp_in=-300, iat_shift=-60
    ).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "expired")


def test_a_reused_nonce_is_refused(stage: Stage) -> None:
    _learner(stage)
    launch = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser())
    _fragment(launch.post())
    replay = launch.post()
    assert (replay.status_code, _refusal(replay)) == (400, REFUSED + "state-unknown")
    # The same id_token with a fresh login of the same browser: its nonce is not the new login's.
    fresh = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=launch.browser)
    answer = launch.browser.post(
        fresh.launch_url, data={"id_token": launch.id_token, "state": fresh.state}, allow_redirects=False, timeout=30
    )
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "nonce-reused")


def test_a_wrong_audience_is_refused(stage: Stage) -> None:
    _learner(stage)
    answer = stage.platform.forge_launch(
        stage.tool, "ann", stage.link, browser=browser(), claims={"aud": "another-tool", "azp": None}
    ).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "wrong-audience")


def test_an_unknown_deployment_is_refused(stage: Stage) -> None:
    _learner(stage)
    claims = {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "deployment-unknown"}
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "deployment-unknown")


def test_a_launch_for_an_exam_of_another_examiner_is_refused(stage: Stage, api: Api) -> None:
    """Another examiner's exam, placed through their own registration of another platform: a link of
    ours naming it in its custom parameters opens nothing."""
    _learner(stage)
    api.as_key(OTHER_EXAMINER).create_exam("chemistry")
    with running_platform() as other_platform:
        other_tool = other_platform.register_tool(stage.base)
        other = _register(stage.database_url, other_platform, other_tool, owner_key=OTHER_EXAMINER)
        foreign_link = _link(
            stage.database_url, "chemistry", other, other_tool.deployment_id, COURSE, owner_key=OTHER_EXAMINER
        )
    custom = {"exam_id": "chemistry", "link": str(foreign_link)}
    claims = {"https://purl.imsglobal.org/spec/lti/claim/custom": custom}
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "exam-not-linked")
    # Our own link naming another exam's id: refused the same.
    custom = {"exam_id": "chemistry", "link": str(stage.link_id)}
    claims = {"https://purl.imsglobal.org/spec/lti/claim/custom": custom}
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "exam-not-linked")


def test_a_state_from_another_browser_is_refused(stage: Stage) -> None:
    _learner(stage)
    launch = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser())
    answer = launch.post(browser=browser())
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "state-other-browser")
    _fragment(launch.post())  # nothing was used: the browser that started it still lands


def test_a_role_without_access_is_refused(stage: Stage) -> None:
    stage.platform.add_user("adm", "Ada", "Admin")
    stage.platform.add_member(COURSE, "adm", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"])
    answer = stage.platform.forge_launch(stage.tool, "adm", stage.link, browser=browser()).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "role-has-no-access")


def test_a_platform_that_rotates_its_keys_is_followed(stage: Stage) -> None:
    _learner(stage)
    _fragment(stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser()).post())
    rotated = keys.new_key()
    stage.platform.rotate_key(rotated)
    _fragment(stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), key=rotated).post())


def test_a_login_from_an_unknown_platform_is_refused(stage: Stage) -> None:
    form = {"iss": "http://localhost:1", "login_hint": "ann", "target_link_uri": f"{stage.base}/lti/launch"}
    answer = requests.post(f"{stage.base}/lti/login", data=form, timeout=30)
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "platform-unknown")
    form = {"iss": stage.platform.issuer, "login_hint": "ann", "target_link_uri": "https://elsewhere.example/launch"}
    answer = requests.post(f"{stage.base}/lti/login", data=form, timeout=30)
    assert (answer.status_code, _refusal(answer)) == (400, REFUSED + "wrong-target")


# --- dynamic registration -------------------------------------------------------------------------------


@pytest.fixture
def registering(stage: Stage) -> Iterator[RegisteringPlatform]:
    platform = RegisteringPlatform().start()
    try:
        yield platform
    finally:
        platform.stop()


def _offer(database_url: str, *, owner_key: str = EXAMINER) -> str:
    """A one-time registration URL's token, as `POST /lti/registrations/dynamic` makes it."""
    token = secrets.token_urlsafe(32)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO lti_offer (token_sha256, owner_id, expires_at) VALUES (%s, %s, now() + interval '1 day')",
            (hashlib.sha256(token.encode()).hexdigest(), _examiner_id(conn, owner_key)),
        )
    return token


def _registered(answer: requests.Response) -> tuple[str, str]:
    found = re.search(r'data-registered="(\w+)">\s*<h1>[^<]*</h1>\s*<p id="outcome">([^<]*)</p>', answer.text)
    assert found is not None, answer.text[:500]
    return found.group(1), found.group(2)


def test_dynamic_registration_registers_the_platform_and_its_launches_work(
    stage: Stage, registering: RegisteringPlatform
) -> None:
    offer = _offer(stage.database_url)
    answer = requests.get(registering.registration_link(f"{stage.base}/lti/register/{offer}"), timeout=30)
    assert answer.status_code == 200, answer.text
    assert _registered(answer) == ("yes", "Exam Depository is registered with harness 1.0.")
    assert "org.imsglobal.lti.close" in answer.text
    (sent,) = registering.registrations.received
    assert sent["initiate_login_uri"] == f"{stage.base}/lti/login"
    assert sent["redirect_uris"] == [f"{stage.base}/lti/launch"]
    assert sent["jwks_uri"] == f"{stage.base}/lti/jwks.json"
    assert sent[TOOL_CONFIGURATION]["domain"] == urlsplit(stage.base).netloc
    with psycopg.connect(stage.database_url) as conn:
        row = conn.execute(
            """SELECT r.id, r.how, r.client_id, r.platform_name, r.scopes,
                      (SELECT array_agg(deployment_id) FROM lti_deployment d WHERE d.registration_id = r.id)
                 FROM lti_registration r WHERE r.issuer = %s""",
            (registering.issuer,),
        ).fetchone()
        used = conn.execute("SELECT used_at IS NOT NULL, registration_id FROM lti_offer").fetchone()
    assert row is not None
    registration_id, how, client_id, name, scopes, deployments = row
    assert (how, name, len(scopes)) == ("dynamic", "harness 1.0", 4)
    tool = registering.tool_of(client_id)
    assert deployments == [tool.deployment_id]
    assert used == (True, registration_id)

    # A launch through it: the exam placed in a course of the registered platform.
    registering.add_course(COURSE, "Physics 101")
    registering.add_user("ann", "Ann", "Lee")
    registering.add_member(COURSE, "ann", [LEARNER])
    link_id = _link(stage.database_url, EXAM, registration_id, tool.deployment_id, COURSE, owner_key=EXAMINER)
    link = registering.add_link(COURSE, tool, "Physics", {"exam_id": EXAM, "link": str(link_id)})
    assert "ticket" in _fragment(registering.forge_launch(tool, "ann", link, browser=browser()).post())

    # The registration URL is used: again, nothing is registered.
    again = requests.get(registering.registration_link(f"{stage.base}/lti/register/{offer}"), timeout=30)
    assert again.status_code == 400
    assert _registered(again)[0] == "no"
    assert "used already" in _registered(again)[1]


def test_a_configuration_naming_another_issuer_is_refused(stage: Stage, registering: RegisteringPlatform) -> None:
    registering.registrations.claimed_issuer = stage.platform.issuer  # not where it came from
    offer = _offer(stage.database_url)
    answer = requests.get(registering.registration_link(f"{stage.base}/lti/register/{offer}"), timeout=30)
    assert answer.status_code == 400
    state, reason = _registered(answer)
    assert state == "no"
    assert "does not come from the platform it names" in reason
    assert "org.imsglobal.lti.close" not in answer.text.split("<script>")[0]
    assert registering.registrations.received == []
    # The offer is still unused: the right platform may use it.
    registering.registrations.claimed_issuer = None
    answer = requests.get(registering.registration_link(f"{stage.base}/lti/register/{offer}"), timeout=30)
    assert _registered(answer)[0] == "yes"


def test_a_platform_registration_token_used_twice_is_refused(stage: Stage, registering: RegisteringPlatform) -> None:
    token = registering.registration_token()
    first = requests.get(
        registering.registration_link(f"{stage.base}/lti/register/{_offer(stage.database_url)}", token), timeout=30
    )
    assert _registered(first)[0] == "yes"
    second = requests.get(
        registering.registration_link(f"{stage.base}/lti/register/{_offer(stage.database_url)}", token), timeout=30
    )
    assert second.status_code == 400
    assert _registered(second)[0] == "no"
    with psycopg.connect(stage.database_url) as conn:
        count = conn.execute("SELECT count(*) FROM lti_registration WHERE how = 'dynamic'").fetchone()
    assert count == (1,)


def test_a_registration_without_a_deployment_refuses_launches_until_one_is_added(
    stage: Stage, registering: RegisteringPlatform
) -> None:
    registering.registrations.with_deployment = False
    offer = _offer(stage.database_url)
    answer = requests.get(registering.registration_link(f"{stage.base}/lti/register/{offer}"), timeout=30)
    assert _registered(answer)[0] == "yes"
    with psycopg.connect(stage.database_url) as conn:
        deployments = conn.execute(
            """SELECT count(*) FROM lti_deployment d JOIN lti_registration r ON r.id = d.registration_id
                WHERE r.issuer = %s""",
            (registering.issuer,),
        ).fetchone()
    assert deployments == (0,)


def test_the_tools_pages_may_be_framed_by_a_course_page_on_another_host_than_the_platforms(stage: Stage) -> None:
    """The page holding a course is often not on the issuer's or the login URL's host (Canvas: the
    issuer https://canvas.instructure.com, the login https://sso.canvaslms.com, a course at
    https://school.instructure.com; Blackboard likewise): the login page and a refusal are framed by
    any https page, or the launch inside the course never shows."""
    stage.platform.add_user("ann", "Ann", "Lee")
    stage.platform.add_member(COURSE, "ann", [LEARNER])
    login = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser()).login
    form = {"iss": stage.platform.issuer, "login_hint": "ann", "target_link_uri": f"{stage.base}/elsewhere"}
    refused = requests.post(f"{stage.base}/lti/login", data=form, timeout=30)
    assert refused.status_code >= 400
    for page in (login, refused):
        framers = page.headers["Content-Security-Policy"].split("frame-ancestors ")[1].split(";")[0].split()
        assert "https:" in framers, framers


def test_a_login_without_client_id_or_by_get_finds_the_platforms_only_registration(stage: Stage) -> None:
    """A platform may omit `client_id` (one registration per issuer) and may initiate by GET."""
    form = {"iss": stage.platform.issuer, "login_hint": "ann", "target_link_uri": f"{stage.base}/lti/launch"}
    for answer in (
        requests.post(f"{stage.base}/lti/login", data=form, timeout=30),
        requests.get(f"{stage.base}/lti/login", params=form, timeout=30),
    ):
        assert answer.status_code == 200, answer.text[:300]
        auth = parse_qs(urlsplit(login_auth_url(answer)).query)
        assert auth["client_id"] == [stage.tool.client_id]
        assert auth["redirect_uri"] == [f"{stage.base}/lti/launch"]


def test_a_launch_in_platform_storage_mode_is_bound_to_the_browser(stage: Stage) -> None:
    """Login CSRF: Eve starts a login herself asking for platform storage (lti_storage_target is hers
    to send), lets her platform answer it, then has Ann's browser (no cookie of the tool, no platform
    storage holding the state) post her id_token, her state and `platform_state` = that state."""
    from tests.lti_platform.platform import AuthRequest

    stage.platform.add_user("eve", "Eve", "Attacker")
    stage.platform.add_member(COURSE, "eve", [LEARNER])
    form = {
        "iss": stage.platform.issuer,
        "login_hint": "eve",
        "target_link_uri": stage.tool.launch_url,
        "lti_message_hint": f"link:{stage.link.id}",
        "client_id": stage.tool.client_id,
        "lti_deployment_id": stage.tool.deployment_id,
        "lti_storage_target": "_parent",
    }
    login = browser().post(stage.tool.login_url, data=form, allow_redirects=False, timeout=30)
    assert login.status_code == 200, login.text[:300]
    query = {k: v[0] for k, v in parse_qs(urlsplit(login_auth_url(login)).query).items()}
    fields = stage.platform.launch_fields(AuthRequest.of(query))
    # Ann's browser: a cross-site auto-submitting form of Eve's making.
    posted = {"id_token": fields["id_token"], "state": fields["state"], "platform_state": fields["state"]}
    answer = browser().post(fields["launch_url"], data=posted, allow_redirects=False, timeout=30)
    assert answer.status_code == 200, f"Ann's browser landed as Eve: {answer.headers.get('Location')}"
    assert 'id="confirm"' in answer.text  # the page that reads Ann's platform storage, where the state is not
    # A script of another site sending the confirm page's header is refused the same.
    headers = {"X-LTI-Confirm": "platform-state", "Sec-Fetch-Site": "cross-site"}
    answer = browser().post(fields["launch_url"], data=posted, headers=headers, allow_redirects=False, timeout=30)
    assert answer.status_code == 200
    assert 'id="confirm"' in answer.text
    # The confirm page's own request (same site, its header) lands, with where to go.
    headers = {"X-LTI-Confirm": "platform-state", "Sec-Fetch-Site": "same-origin"}
    answer = browser().post(fields["launch_url"], data=posted, headers=headers, allow_redirects=False, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert "#ticket=" in answer.json()["location"]


def test_a_teacher_in_two_courses_whose_exams_share_an_id_is_refused_with_what_to_do(stage: Stage, api: Api) -> None:
    # Another examiner's exam with the same exam id, placed through the same registration in a second course.
    api.as_key(OTHER_EXAMINER).create_exam(EXAM)
    stage.platform.add_course("physics-102", "Physics 102")
    other_link = _link(
        stage.database_url, EXAM, stage.registration_id, stage.tool.deployment_id, "physics-102",
        owner_key=OTHER_EXAMINER,
    )  # fmt: skip
    link2 = stage.platform.add_link("physics-102", stage.tool, "Physics", {"exam_id": EXAM, "link": str(other_link)})
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    stage.platform.add_member("physics-102", "tom", [INSTRUCTOR])
    _fragment(stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post())
    # Tom teaches the second course too: the exam there has the id of the one he is a member of.
    answer = stage.platform.forge_launch(stage.tool, "tom", link2, browser=browser()).post()
    assert (answer.status_code, _refusal(answer)) == (409, REFUSED + "exam-id-taken")
    assert "exam id" in answer.text


def test_a_long_course_title_is_kept_cut_to_its_column(stage: Stage) -> None:
    _learner(stage)
    claims = {"https://purl.imsglobal.org/spec/lti/claim/context": {"id": COURSE, "title": "Physics " * 50}}
    _fragment(stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post())
    with psycopg.connect(stage.database_url) as conn:
        title = conn.execute("SELECT context_title FROM lti_link WHERE id = %s", (stage.link_id,)).fetchone()
    assert title is not None
    assert title[0] == ("Physics " * 50)[:300].strip()


def _deep_link_settings(stage: Stage, **changes: object) -> dict[str, object]:
    launch = stage.platform.forge_launch(stage.tool, "tom", deep_link_context=COURSE, browser=browser())
    body = jwt.decode(launch.id_token, options={"verify_signature": False})
    settings = dict(body["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"])
    settings.update(changes)
    return {key: value for key, value in settings.items() if value is not None}


def test_long_deep_linking_data_is_kept_and_too_long_is_refused(stage: Stage) -> None:
    """The deep-linking `data` is the platform's opaque value, echoed as is (Canvas sends a JWT)."""
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    claim = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
    settings = _deep_link_settings(stage, data="e" * 2500)
    launch = stage.platform.forge_launch(
        stage.tool, "tom", deep_link_context=COURSE, browser=browser(), claims={claim: settings}
    )
    pick = _fragment(launch.post())["pick"]
    with psycopg.connect(stage.database_url) as conn:
        data = conn.execute("SELECT data FROM lti_deep_link WHERE id = %s", (pick,)).fetchone()
    assert data == ("e" * 2500,)
    settings = _deep_link_settings(stage, data="e" * 16385)
    launch = stage.platform.forge_launch(
        stage.tool, "tom", deep_link_context=COURSE, browser=browser(), claims={claim: settings}
    )
    answer = launch.post()
    assert (answer.status_code, _refusal(answer)) == (400, REFUSED + "message-invalid")


def test_a_deep_linking_request_without_return_url_is_refused(stage: Stage) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    claim = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
    settings = _deep_link_settings(stage)
    settings.pop("deep_link_return_url")
    launch = stage.platform.forge_launch(
        stage.tool, "tom", deep_link_context=COURSE, browser=browser(), claims={claim: settings}
    )
    answer = launch.post()
    assert (answer.status_code, _refusal(answer)) == (400, REFUSED + "message-invalid")


def _member_of(stage: Stage, caller_key: str) -> tuple[str, str] | None:
    with psycopg.connect(stage.database_url) as conn:
        found = conn.execute(
            """SELECT x.public_id::text, m.role FROM examiner x JOIN examiner_key k ON k.examiner_id = x.id
                 LEFT JOIN exam_member m ON m.examiner_id = x.id WHERE k.api_key_id = %s""",
            (caller_key,),
        ).fetchone()
    assert found is not None
    return None if found[1] is None else (found[0], found[1])


def _teacher_launches(stage: Stage) -> str:
    """Tom's launch from the course: his session's key."""
    fragment = _fragment(stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post())
    session = sessions.verify(fragment["session"], datetime.now(UTC))
    assert session is not None
    return session.caller_key


def test_an_owner_who_removes_a_teacher_is_not_overruled_by_their_next_launch(stage: Stage, api: Api) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [TEACHING_ASSISTANT])
    key = _teacher_launches(stage)
    member = _member_of(stage, key)
    assert member is not None
    removed = api.call("members", "leave", path_params={"exam_id": EXAM, "member_id": member[0]})
    assert removed.status == 204, removed.body
    # Tom opens the tool from the course again the next day: the owner's removal stands.
    answer = stage.platform.forge_launch(stage.tool, "tom", stage.link, browser=browser()).post()
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "member-removed")
    assert _member_of(stage, key) is None
    # The LMS makes him an instructor (a real change there): his next launch adds him as that.
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    assert _teacher_launches(stage) == key
    assert _member_of(stage, key) == (member[0], "co_examiner")


def test_an_owner_who_lowers_a_teacher_is_not_overruled_by_their_next_launch(stage: Stage, api: Api) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    key = _teacher_launches(stage)
    member = _member_of(stage, key)
    assert member is not None
    assert member[1] == "co_examiner"
    body = {"role": "grader"}
    lowered = api.call("members", "change", path_params={"exam_id": EXAM, "member_id": member[0]}, body=body)
    assert lowered.status == 200, lowered.body
    _teacher_launches(stage)
    assert _member_of(stage, key) == (member[0], "grader")


def test_a_removed_teacher_is_not_readded_by_alternating_two_courses_of_the_exam(stage: Stage, api: Api) -> None:
    """The owner placed the exam in two courses; Tom is an instructor in one and a TA in the other.
    A launch from the TA course records no lower LMS role: the instructor course's next launch is no
    rise, and the owner's removal stands."""
    stage.platform.add_course("physics-102", "Physics 102")
    link2_id = _link(
        stage.database_url, EXAM, stage.registration_id, stage.tool.deployment_id, "physics-102", owner_key=EXAMINER
    )
    link2 = stage.platform.add_link("physics-102", stage.tool, "Physics", {"exam_id": EXAM, "link": str(link2_id)})
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    stage.platform.add_member("physics-102", "tom", [TEACHING_ASSISTANT])
    key = _teacher_launches(stage)
    member = _member_of(stage, key)
    assert member is not None
    removed = api.call("members", "leave", path_params={"exam_id": EXAM, "member_id": member[0]})
    assert removed.status == 204, removed.body
    for link in (link2, stage.link, link2, stage.link):  # nothing changed in the LMS
        answer = stage.platform.forge_launch(stage.tool, "tom", link, browser=browser()).post()
        assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "member-removed")
    assert _member_of(stage, key) is None


# --- what no column can hold: a refusal or a dropped value, never a 500 ------------------------------


@pytest.mark.parametrize(
    "params",
    [{"iss": "http://x\x00y"}, {"client_id": "c\x00"}, {"lti_deployment_id": "d\x00"}, {"lti_storage_target": "\x00"}],
    ids=["issuer", "client_id", "deployment_hint", "storage_target"],
)
def test_a_nul_in_a_login_parameter_is_the_unknown_platform_refusal(stage: Stage, params: dict[str, str]) -> None:
    form = {
        "iss": stage.platform.issuer,
        "client_id": stage.tool.client_id,
        "login_hint": "ann",
        "target_link_uri": f"{stage.base}/lti/launch",
        **params,
    }
    answer = requests.post(f"{stage.base}/lti/login", data=form, timeout=30)
    assert (answer.status_code, _refusal(answer)) == (403, REFUSED + "platform-unknown")


def test_a_launch_whose_name_holds_a_nul_lands_without_that_name(stage: Stage) -> None:
    stage.platform.add_user("ann", "Ann\x00", "Lee", "ann.lee@example.edu")
    stage.platform.add_member(COURSE, "ann", [LEARNER])
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser()).post()
    assert "ticket" in _fragment(answer)
    with psycopg.connect(stage.database_url) as conn:
        student = conn.execute("SELECT last_name, email FROM student").fetchone()
    assert student == ("Lee", "ann.lee@example.edu")


@pytest.mark.parametrize(
    "claims",
    [
        {"https://purl.imsglobal.org/spec/lti/claim/context": {"id": "c" * 256, "title": "Physics"}},
        {"sub": "u" * 256},
    ],
    ids=["course-id", "sub"],
)
def test_a_deep_linking_launch_with_an_identifier_over_its_column_is_message_invalid(
    stage: Stage, claims: dict[str, object]
) -> None:
    stage.platform.add_user("tom", "Tom", "Teacher")
    stage.platform.add_member(COURSE, "tom", [INSTRUCTOR])
    launch = stage.platform.forge_launch(stage.tool, "tom", deep_link_context=COURSE, browser=browser(), claims=claims)
    answer = launch.post()
    assert (answer.status_code, _refusal(answer)) == (400, REFUSED + "message-invalid")


def test_a_launch_with_a_resource_link_id_over_its_column_is_message_invalid(stage: Stage) -> None:
    stage.platform.add_user("ann", "Ann", "Lee", "ann.lee@example.edu")
    stage.platform.add_member(COURSE, "ann", [LEARNER])
    claims = {"https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "r" * 256}}
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post()
    assert (answer.status_code, _refusal(answer)) == (400, REFUSED + "message-invalid")


def test_a_launch_with_service_urls_over_their_column_lands_without_those_services(stage: Stage) -> None:
    stage.platform.add_user("ann", "Ann", "Lee", "ann.lee@example.edu")
    stage.platform.add_member(COURSE, "ann", [LEARNER])
    long_url = "https://lms.example/" + "l" * 2000
    claims = {
        "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
            "scope": [],
            "lineitem": long_url,
            "lineitems": long_url,
        },
        "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
            "context_memberships_url": long_url,
            "service_versions": ["2.0"],
        },
    }
    answer = stage.platform.forge_launch(stage.tool, "ann", stage.link, browser=browser(), claims=claims).post()
    assert "ticket" in _fragment(answer)
    with psycopg.connect(stage.database_url) as conn:
        urls = conn.execute("SELECT lineitem_url, lineitems_url, memberships_url FROM lti_link").fetchall()
    assert all(len(url or "") <= 2000 for row in urls for url in row), urls
