"""Every refusal of a launch's checks, through `ToolLaunch` with id tokens signed as a platform signs
them (tests/lti_platform) and the login's and registration's rows in memory: the platform's key set
is the test platform's, its registration and deployments are the rows a test gives, and the login's
one use is a set. Each test changes one thing of a launch that passes and expects the refusal of
the check that must catch it, logged as that check failing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import pytest
from exam_depository.adapters import lms_http, lti_tool
from exam_depository.adapters.db import lti_launch
from exam_depository.adapters.db.lti import RegistrationRow
from exam_depository.adapters.db.lti_launch import LoginRow
from exam_depository.domain import lti

from tests.lti_platform import keys, tokens

ISSUER = "https://platform.example"
CLIENT = "tool-client-1"
DEPLOYMENT = "deployment-1"
LAUNCH_URL = "https://tool.example/v1/lti/launch"
STATE = "state-" + "s" * 43
NONCE = "n" * 43
EXAM = "physics"
LINK = "6f1c1f0e-8d1e-4b55-9f5c-0a5c3c1b7f10"


def _registration(**changes: Any) -> RegistrationRow:
    row = RegistrationRow(
        id=7,
        public_id=UUID(int=7),
        owner_id=1,
        issuer=ISSUER,
        client_id=CLIENT,
        auth_login_url=f"{ISSUER}/auth",
        auth_token_url=f"{ISSUER}/token",
        auth_audience=None,
        key_set_url=f"{ISSUER}/jwks",
        how="manual",
        platform_name=None,
        product_family_code=None,
        scopes=[],
        active=True,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        deployment_ids=[DEPLOYMENT],
    )
    return dataclasses.replace(row, **changes)


def _login(**changes: Any) -> LoginRow:
    row = LoginRow(
        state_sha256=lti_tool.sha256_hex(STATE),
        registration_id=7,
        nonce=NONCE,
        deployment_hint=None,
        target_link_uri=LAUNCH_URL,
        storage="cookie",
        storage_target=None,
        storage_origin=None,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        used_at=None,
    )
    return dataclasses.replace(row, **changes)


@dataclasses.dataclass
class Platform:
    """The rows and key set the launch reads, in memory."""

    registrations: list[RegistrationRow]
    deployments: dict[int, frozenset[str]]
    key_set: dict[str, Any]
    used: set[str]


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    state = Platform([_registration()], {7: frozenset({DEPLOYMENT})}, keys.jwks(keys.platform()), set())

    def registration_for(conn: object, issuer: str, client_id: str | None) -> RegistrationRow | None:
        found = [r for r in state.registrations if r.issuer == issuer and r.client_id == client_id and r.active]
        return found[0] if len(found) == 1 else None

    def use_login(conn: object, state_sha256: str, now: datetime) -> bool:
        if state_sha256 in state.used:
            return False
        state.used.add(state_sha256)
        return True

    monkeypatch.setattr(lti_launch, "registration_for", registration_for)
    monkeypatch.setattr(
        lti_launch, "registration_by_id", lambda conn, rid: next(r for r in state.registrations if r.id == rid)
    )
    monkeypatch.setattr(lti_launch, "deployments_of", lambda conn, registration_id: state.deployments[registration_id])
    monkeypatch.setattr(lti_launch, "use_login", use_login)
    monkeypatch.setattr(lti_tool, "_fetch_key_set", lambda url: state.key_set)
    monkeypatch.setenv("LTI_TOOL_KEY_ID", "alias/lti-tool")
    lti_tool.reset()
    yield state
    lti_tool.reset()


def _claims(**changes: Any) -> dict[str, Any]:
    claims = tokens.learner_launch(
        issuer=ISSUER,
        client_id=CLIENT,
        deployment_id=DEPLOYMENT,
        nonce=NONCE,
        target_link_uri=LAUNCH_URL,
        exam_id=EXAM,
        link=LINK,
    )
    claims.update(changes)
    return claims


def _event(id_token: str, state: str = STATE) -> dict[str, Any]:
    return {
        "body": urlencode({"id_token": id_token, "state": state}),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "isBase64Encoded": False,
    }


Checks = list[tuple[str, bool]]


def _launch(id_token: str, login: LoginRow | None = None) -> tuple[lti_tool.ToolLaunch, Checks]:
    checks: Checks = []
    launch = lti_tool.launch_of(
        _event(id_token), object(), login or _login(), datetime.now(UTC), lambda name, ok: checks.append((name, ok))
    )
    return launch, checks


def _refused(id_token: str, login: LoginRow | None = None) -> tuple[str, str, Checks]:
    launch, checks = _launch(id_token, login)
    with pytest.raises(lti_tool.LaunchRefused) as refused:
        launch.validate()
    return refused.value.check, refused.value.refusal.kind, checks


def test_a_launch_as_the_platform_signs_it_passes_every_check_in_order(platform: Platform) -> None:
    launch, checks = _launch(tokens.id_token(_claims()))
    launch.validate()
    assert checks == [(name, True) for name in lti.CHECKS[3:12]]
    facts = launch.facts()
    assert (facts.registration_id, facts.deployment_id, facts.sub) == (7, DEPLOYMENT, "learner-1")
    assert facts.custom == {"exam_id": EXAM, "link": LINK}
    assert platform.used == {lti_tool.sha256_hex(STATE)}


HMAC_SECRET = "a shared secret, long enough for HS256: 32+ bytes"

CASES: dict[str, tuple[Callable[[], str], str, str]] = {
    "forged: signed by a stranger's key under the platform's kid": (
        lambda: tokens.id_token(_claims(), key=keys.stranger(), kid=keys.platform().kid),
        "signature",
        "signature",
    ),
    "forged: a kid the platform does not publish": (
        lambda: tokens.id_token(_claims(), key=keys.stranger()),
        "signature",
        "signature",
    ),
    "expired": (lambda: tokens.id_token(_claims(), exp_in=-120, iat_shift=-60), "signature", "expired"),
    "issued an hour ago, still unexpired": (
        lambda: tokens.id_token(_claims(), iat_shift=-3600, exp_in=7200),
        "time",
        "expired",
    ),
    "issued in the future": (lambda: tokens.id_token(_claims(), iat_shift=600), "signature", "signature"),
    "alg none": (lambda: tokens.unsigned_token(_claims()), "format", "token-malformed"),
    "alg HS256": (
        lambda: tokens.hmac_token(_claims(), HMAC_SECRET),
        "format",
        "token-malformed",
    ),
    "not a JWT": (lambda: "not.a-token", "format", "token-malformed"),
    "wrong audience": (lambda: tokens.id_token(_claims(aud="another-tool", azp=None)), "audience", "wrong-audience"),
    "several audiences without azp": (
        lambda: tokens.id_token({k: v for k, v in _claims(aud=[CLIENT, "another-tool"]).items() if k != "azp"}),
        "audience",
        "wrong-audience",
    ),
    "azp of another tool": (
        lambda: tokens.id_token(_claims(aud=[CLIENT, "another-tool"], azp="another-tool")),
        "audience",
        "wrong-audience",
    ),
    "aud not holding the azp": (
        lambda: tokens.id_token(_claims(aud=["another-tool"], azp=CLIENT)),
        "audience",
        "wrong-audience",
    ),
    "unknown deployment": (
        lambda: tokens.id_token(_claims(**{tokens.CLAIM + "deployment_id": "deployment-9"})),
        "deployment",
        "deployment-unknown",
    ),
    "another nonce": (lambda: tokens.id_token(_claims(nonce="m" * 43)), "nonce", "nonce-reused"),
    "wrong target": (
        lambda: tokens.id_token(_claims(**{tokens.CLAIM + "target_link_uri": "https://tool.example/elsewhere"})),
        "target",
        "wrong-target",
    ),
    "no version": (
        lambda: tokens.id_token({k: v for k, v in _claims().items() if k != tokens.CLAIM + "version"}),
        "message",
        "message-invalid",
    ),
    "an unknown platform": (
        lambda: tokens.id_token(_claims(iss="https://stranger.example")),
        "registration",
        "platform-unknown",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_refusal_is_its_checks(platform: Platform, case: str) -> None:
    make, check, kind = CASES[case]
    refused_by, refused_kind, checks = _refused(make())
    assert (refused_by, refused_kind) == (check, kind)
    assert checks[-1] == (check, False)
    assert all(passed for _, passed in checks[:-1])


def test_a_forged_or_expired_token_never_uses_the_login(platform: Platform) -> None:
    _refused(tokens.id_token(_claims(), key=keys.stranger(), kid=keys.platform().kid))
    _refused(tokens.id_token(_claims(), exp_in=-120, iat_shift=-60))
    assert platform.used == set()
    launch, _ = _launch(tokens.id_token(_claims()))
    launch.validate()


def test_a_nonce_is_used_once(platform: Platform) -> None:
    token = tokens.id_token(_claims())
    _launch(token)[0].validate()
    assert _refused(token)[:2] == ("nonce", "nonce-reused")


def test_the_login_of_another_registration_is_refused(platform: Platform) -> None:
    platform.registrations.append(_registration(id=8, client_id="tool-client-2"))
    platform.deployments[8] = frozenset({DEPLOYMENT})
    token = tokens.id_token(_claims(aud="tool-client-2", azp="tool-client-2"))
    assert _refused(token)[:2] == ("registration", "platform-unknown")


def test_a_deployment_other_than_the_logins_is_refused(platform: Platform) -> None:
    platform.deployments[7] = frozenset({DEPLOYMENT, "deployment-2"})
    token = tokens.id_token(_claims(**{tokens.CLAIM + "deployment_id": "deployment-2"}))
    assert _refused(token, _login(deployment_hint=DEPLOYMENT))[:2] == ("deployment", "deployment-unknown")


def test_a_platform_that_rotated_its_keys_is_followed(platform: Platform) -> None:
    _launch(tokens.id_token(_claims()))[0].validate()
    rotated = keys.new_key()
    platform.key_set = keys.jwks(rotated)
    platform.used.clear()
    _launch(tokens.id_token(_claims(), key=rotated))[0].validate()


def test_a_state_from_another_browser_is_refused() -> None:
    """Check 3 (before the token is read): the state's cookie must be this browser's."""
    from exam_depository.usecases import lti_tool as tool

    cookie = lti_tool.state_cookie_name(STATE)

    def request(cookies: str, headers: dict[str, str] | None = None, **form: str) -> lti_tool.EventRequest:
        event = {"headers": {"Cookie": cookies, **(headers or {})}, "body": urlencode({"state": STATE, **form})}
        return lti_tool.EventRequest(event)

    assert tool.bound_to_browser(request(f"{cookie}={STATE}"), _login(), STATE) is True
    assert tool.bound_to_browser(request(""), _login(), STATE) is False
    assert tool.bound_to_browser(request(f"{cookie}=state-{'x' * 43}"), _login(), STATE) is False
    stored = _login(storage="platform", storage_target="post_message_forwarding", storage_origin=ISSUER)
    confirm = tool.bound_to_browser(request(""), stored, STATE)
    assert isinstance(confirm, tool.Page)
    assert confirm.name == "confirm.html"
    confirmed = {"X-LTI-Confirm": "platform-state", "Sec-Fetch-Site": "same-origin"}
    assert tool.bound_to_browser(request("", confirmed, platform_state=STATE), stored, STATE) is True
    assert tool.bound_to_browser(request("", confirmed, platform_state="state-other"), stored, STATE) is False
    assert tool.bound_to_browser(request("", confirmed), stored, STATE) is False


def test_a_platform_state_is_taken_only_from_the_confirm_pages_own_request() -> None:
    """Login CSRF: whoever starts a login knows its state; a form of theirs posting it as
    `platform_state` from a stranger's browser gets the confirm page (which reads the stranger's
    platform storage, where the state is not), and a script of another site is refused."""
    from exam_depository.usecases import lti_tool as tool

    stored = _login(storage="platform", storage_target="_parent", storage_origin=ISSUER)

    def posted(headers: dict[str, str]) -> lti_tool.EventRequest:
        return lti_tool.EventRequest({"headers": headers, "body": urlencode({"state": STATE, "platform_state": STATE})})

    form = tool.bound_to_browser(posted({"Sec-Fetch-Site": "cross-site"}), stored, STATE)
    assert isinstance(form, tool.Page)
    assert form.name == "confirm.html"
    other_site = {"X-LTI-Confirm": "platform-state", "Sec-Fetch-Site": "cross-site"}
    assert isinstance(tool.bound_to_browser(posted(other_site), stored, STATE), tool.Page)
    assert tool.bound_to_browser(posted({"X-LTI-Confirm": "platform-state"}), stored, STATE) is True


# --- the guarded HTTP session of every outbound call -------------------------------------------


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://platform.example/jwks", False),  # http only where loopback is allowed (the tests)
        ("ftp://platform.example/jwks", True),
        ("https://127.0.0.1/jwks", False),
        ("https://localhost:9001/2018-06-01/runtime/invocation/next", False),  # the Lambda runtime API
        ("https://169.254.169.254/latest/meta-data/", False),  # instance metadata
        ("https://10.0.0.5/jwks", True),  # private: never, loopback allowed or not
        ("https://[::1]/jwks", False),
        ("https:///jwks", False),
    ],
)
def test_the_guard_refuses_what_the_tool_must_not_call(url: str, loopback: bool) -> None:
    with pytest.raises(lms_http.LmsUnreachable):
        lms_http.check_url(url, allow_loopback=loopback)


def test_the_guard_allows_loopback_only_when_told() -> None:
    lms_http.check_url("http://127.0.0.1:8080/jwks", allow_loopback=True)
    with pytest.raises(lms_http.LmsUnreachable):
        lms_http.check_url("http://127.0.0.1:8080/jwks", allow_loopback=False)


class _Answers(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = lms_http.MAX_ANSWER_BYTES + 1 if self.path == "/large" else 2
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"{}" if size == 2 else b" " * size)


@pytest.fixture
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_guarded_session_follows_no_redirect_and_reads_no_more_than_its_bound(answers: str) -> None:
    session = lms_http.GuardedSession(allow_loopback=True)
    assert session.get(f"{answers}/small").json() == {}
    assert session.headers["User-Agent"] == lms_http.USER_AGENT
    with pytest.raises(lms_http.LmsUnreachable, match="redirect"):
        session.get(f"{answers}/redirect")
    with pytest.raises(lms_http.LmsUnreachable, match="over"):
        session.get(f"{answers}/large")
    with pytest.raises(lms_http.LmsUnreachable, match="no answer"):
        session.get("http://127.0.0.1:9/closed")
