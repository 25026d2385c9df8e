"""LTI 1.3's rules as tables: which course role gets what, the pure halves of a launch's checks
(audience, time, link), the names and nicknames of entries made from a course, the hand-in status
sent to a gradebook, and the class list's difference from the roster (applied, it leaves none; a
learner of another course of the exam is taken in when listed, never marked as left)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from exam_depository.domain.access import Role
from exam_depository.domain.lti import (
    CHECKS,
    REFUSALS,
    SCOPES,
    LaunchFacts,
    LinkFacts,
    audience_refusal,
    landing_of,
    link_refusal,
    names_for,
    nickname_for,
    role_of,
    score_of,
    sub_hash6,
    time_refusal,
)
from exam_depository.domain.lti_roster import CurrentLearner, Member, roster_diff
from hypothesis import given, settings
from hypothesis import strategies as st

M = "http://purl.imsglobal.org/vocab/lis/v2/membership"
INSTRUCTOR, LEARNER, TA = f"{M}#Instructor", f"{M}#Learner", f"{M}/Instructor#TeachingAssistant"
ADMIN, MENTOR = f"{M}#Administrator", f"{M}#Mentor"
INSTITUTION_STUDENT = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"
SYSTEM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([INSTRUCTOR], Role.CO_EXAMINER),
        (["Instructor"], Role.CO_EXAMINER),  # the short form the specification still allows
        ([TA], Role.GRADER),
        ([INSTRUCTOR, TA], Role.GRADER),  # a sub-role sent with its principal role: the lesser wins
        ([LEARNER], "student"),
        (["Learner"], "student"),
        ([f"{M}/Learner#NonCreditLearner"], "student"),
        ([LEARNER, INSTRUCTOR], Role.CO_EXAMINER),  # staff and learner (a test account): staff
        ([LEARNER, TA], Role.GRADER),
        # every teaching-assistant sub-role of LIS v2, and Grader, with or without their principal role
        ([INSTRUCTOR, f"{M}/Instructor#TeachingAssistantSection"], Role.GRADER),
        ([INSTRUCTOR, f"{M}/Instructor#TeachingAssistantOffering"], Role.GRADER),
        ([INSTRUCTOR, f"{M}/Instructor#TeachingAssistantGroup"], Role.GRADER),
        ([INSTRUCTOR, f"{M}/Instructor#TeachingAssistantSectionAssociation"], Role.GRADER),
        ([f"{M}/Instructor#TeachingAssistantTemplate"], Role.GRADER),
        ([INSTRUCTOR, f"{M}/Instructor#Grader"], Role.GRADER),
        ([f"{M}/Instructor#Grader"], Role.GRADER),
        # the other Instructor sub-roles are teachers
        ([INSTRUCTOR, f"{M}/Instructor#PrimaryInstructor"], Role.CO_EXAMINER),
        ([f"{M}/Instructor#Lecturer"], Role.CO_EXAMINER),
        ([f"{M}/Instructor#GuestInstructor"], Role.CO_EXAMINER),
        ([ADMIN], None),
        ([MENTOR], None),
        ([f"{M}#ContentDeveloper"], None),
        ([INSTITUTION_STUDENT], None),  # institution and system roles alone say nothing of the course
        ([SYSTEM_ADMIN, INSTITUTION_STUDENT], None),
        ([], None),
    ],
)
def test_role_of_follows_the_table(roles: list[str], expected: object) -> None:
    assert role_of(roles) == expected


def _facts(**changes: object) -> LaunchFacts:
    facts = LaunchFacts(
        registration_id=1,
        deployment_id="d1",
        sub="user-1",
        message_type="LtiResourceLinkRequest",
        roles=(LEARNER,),
        context_id="course-1",
        context_title="Physics 101",
        resource_link_id="rl-1",
        custom={"exam_id": "physics", "link": str(uuid.UUID(int=1))},
        given_name="Ann",
        family_name="Lee",
        name="Ann Lee",
        email="ann@example.org",
        locale="en",
        ags=None,
        memberships_url=None,
        deep_linking=None,
        target_link_uri="https://tool.example/lti/launch",
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def test_a_launch_lands_by_role_and_deep_linking_is_staffs() -> None:
    assert landing_of(_facts()) == "student"
    assert landing_of(_facts(roles=(INSTRUCTOR,))) == "teacher"
    assert landing_of(_facts(roles=(TA,))) == "teacher"
    assert landing_of(_facts(roles=(INSTRUCTOR,), message_type="LtiDeepLinkingRequest")) == "deep_link"
    for refused in (_facts(roles=(ADMIN,)), _facts(message_type="LtiDeepLinkingRequest")):
        refusal = landing_of(refused)
        assert not isinstance(refusal, str)
        assert (refusal.kind, refusal.status) == ("role-has-no-access", 403)
        assert refusal.problem_type == "urn:exam-depository:problem:lti-role-has-no-access"


@pytest.mark.parametrize(
    ("aud", "azp", "refused"),
    [
        ("client-1", None, False),
        (["client-1"], None, False),
        (["client-1", "other"], "client-1", False),
        (["client-1", "other"], None, True),  # several audiences: the authorized party must be named
        (["client-1"], "other", True),  # a named authorized party must be us
        ("other", None, True),
        (["other", "client-2"], "client-1", True),
        ([], None, True),
        (None, None, True),
        ([1, "client-1"], "client-1", True),
    ],
)
def test_audience_refusal(aud: object, azp: object, refused: bool) -> None:
    refusal = audience_refusal(aud, azp, "client-1")
    assert (refusal is not None) is refused
    if refusal is not None:
        assert (refusal.kind, refusal.status) == ("wrong-audience", 403)


NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
T = NOW.timestamp()


@pytest.mark.parametrize(
    ("exp", "iat", "kind"),
    [
        (T + 300, T, None),
        (T - 29, T - 60, None),  # expired within the 30 s leeway
        (T - 31, T - 60, "expired"),
        (T + 300, T + 29, None),  # issued in the future within the leeway
        (T + 300, T + 31, "expired"),
        (T + 3600, T - 599, None),
        (T + 3600, T - 601, "expired"),  # issued more than 10 minutes ago, whatever exp says
        (int(T) + 300, int(T), None),
        ("soon", T, "token-malformed"),
        (T + 300, None, "token-malformed"),
        (True, T, "token-malformed"),
    ],
)
def test_time_refusal(exp: object, iat: object, kind: str | None) -> None:
    refusal = time_refusal(exp, iat, NOW)
    assert (None if refusal is None else refusal.kind) == kind


LINK = LinkFacts(uuid.UUID(int=1), "physics", 1, "d1", "course-1")


@pytest.mark.parametrize(
    ("link", "facts", "kind"),
    [
        (LINK, _facts(), None),
        (None, _facts(), "exam-not-linked"),
        (replace(LINK, registration_id=2), _facts(), "exam-not-linked"),
        (replace(LINK, deployment_id="d2"), _facts(), "exam-not-linked"),
        (LINK, _facts(custom={"exam_id": "chemistry", "link": str(LINK.link_id)}), "exam-not-linked"),
        (LINK, _facts(custom={}), "exam-not-linked"),
        (LINK, _facts(context_id="course-copy"), "link-other-course"),
        (LINK, _facts(context_id=None), "link-other-course"),
    ],
)
def test_link_refusal(link: LinkFacts | None, facts: LaunchFacts, kind: str | None) -> None:
    refusal = link_refusal(link, facts)
    assert (None if refusal is None else refusal.kind) == kind


def test_every_refusal_has_a_status_and_a_sentence_and_the_checks_are_in_order() -> None:
    assert all(400 <= status < 600 and sentence for status, sentence in REFUSALS.values())
    assert REFUSALS["platform-unreachable"][0] == 503
    assert CHECKS[:3] == ("form", "state-known", "browser")
    assert CHECKS.index("signature") < CHECKS.index("nonce")  # a forged token cannot burn a login
    assert CHECKS[-2:] == ("link", "role")
    assert len(SCOPES) == 4
    assert all(scope.startswith("https://purl.imsglobal.org/spec/") for scope in SCOPES)


@pytest.mark.parametrize(
    ("given_name", "family", "name", "expected"),
    [
        ("Ann", "Lee", "Ann Lee", ("Ann", "Lee")),
        ("  Ann ", " Lee  ", None, ("Ann", "Lee")),
        (None, None, "Mary Ann O'Brien", ("Mary Ann", "O'Brien")),
        (None, None, "Madonna", ("Madonna", "Madonna")),
        ("Zoë", None, "Zoë Łukasiewicz", ("Zoë", "Łukasiewicz")),
        ("王", "小明", None, ("王", "小明")),
        ("Ann", None, None, ("Ann", sub_hash6("user-1"))),
        (None, None, None, ("Student", sub_hash6("user-1"))),
        ("", "  ", "", ("Student", sub_hash6("user-1"))),
        ("A" * 300, "B", None, ("A" * 200, "B")),
    ],
)
def test_names_for(given_name: str | None, family: str | None, name: str | None, expected: tuple[str, str]) -> None:
    assert names_for(given_name, family, name, "user-1") == expected


@pytest.mark.parametrize(
    ("first", "last", "email", "taken", "expected"),
    [
        ("Ann", "Lee", None, set(), "ann.lee"),
        ("Zoë", "Łukasiewicz", None, set(), "zoe.ukasiewicz"),  # Ł has no decomposition: dropped
        ("Jürgen", "Müller-Lüdenscheidt", None, set(), "jurgen.muller-ludenscheidt"),
        ("Mary Ann", "O'Brien", None, set(), "maryann.obrien"),
        ("王", "小明", "wang.xm@example.org", set(), "wang.xm"),  # no ASCII in the names: the email's
        ("王", "小明", None, set(), f"lms-{sub_hash6('user-1')}"),
        ("Ann", "Lee", None, {"ann.lee"}, "ann.lee-2"),
        ("Ann", "Lee", None, {"ann.lee", "ann.lee-2", "ann.lee-3"}, "ann.lee-4"),
        ("ANN", "LEE", None, {"ann.lee"}, "ann.lee-2"),  # compared lower-cased, as the unique index does
        ("A" * 40, "B", None, set(), "a" * 28),
    ],
)
def test_nickname_for(first: str, last: str, email: str | None, taken: set[str], expected: str) -> None:
    nickname = nickname_for(first, last, email, "user-1", taken)
    assert nickname == expected
    assert len(nickname) <= 32
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in nickname)


def test_score_of_says_handed_in_and_marks_nothing() -> None:
    at = datetime(2026, 12, 5, 11, 0, 3, 123456, tzinfo=timezone(timedelta(hours=1)))
    score = score_of(
        user_id="a8f1",
        submitted_at=at,
        late=False,
        filename="answers.pdf",
        size_bytes=180_000,
        attempt=2,
        max_attempts=5,
    )
    assert score == {
        "userId": "a8f1",
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
        "timestamp": "2026-12-05T10:00:03.123Z",
        "submission": {"submittedAt": "2026-12-05T10:00:03.123Z"},
        "comment": "Handed in: answers.pdf (176 KiB), attempt 2 of 5.",
    }
    assert "scoreGiven" not in score
    late = score_of(
        user_id="a8f1",
        submitted_at=at,
        late=True,
        filename="a.zip",
        size_bytes=5 * 1024 * 1024,
        attempt=1,
        max_attempts=1,
    )
    assert late["comment"] == "Handed in late: a.zip (5.0 MiB), attempt 1 of 1."
    small = score_of(
        user_id="x", submitted_at=at, late=False, filename="n.txt", size_bytes=12, attempt=1, max_attempts=3
    )
    assert small["comment"] == "Handed in: n.txt (12 bytes), attempt 1 of 3."


def _member(sub: str, *roles: str, status: str = "Active", email: str | None = None, name: str = "") -> Member:
    return Member(sub, roles or (LEARNER,), status, name or f"G{sub}", f"F{sub}", None, email)


def _learner(
    student_id: int, sub: str, *, left: bool = False, email: str | None = None, elsewhere: bool = False
) -> CurrentLearner:
    return CurrentLearner(student_id, sub, left, f"G{sub}", f"F{sub}", email, elsewhere)


def test_roster_diff_adds_leaves_rejoins_and_updates() -> None:
    members = [
        _member("new"),
        _member("same"),
        _member("back"),
        _member("renamed", name="Other"),
        _member("mailed", email="Ann@Example.org"),
        _member("teacher", INSTRUCTOR),
        _member("inactive", status="Inactive"),
        _member("staff-learner", LEARNER, INSTRUCTOR),
        _member("same"),  # listed twice: counted once
    ]
    current = [
        _learner(1, "same"),
        _learner(2, "back", left=True),
        _learner(3, "renamed"),
        _learner(4, "mailed", email="ann@example.org"),  # the same address, another case: unchanged
        _learner(5, "gone"),
        _learner(6, "gone-before", left=True),
        _learner(7, "inactive"),
    ]
    diff = roster_diff(members, current)
    assert [m.sub for m in diff.add] == ["new"]
    assert diff.rejoin == (2,)
    assert diff.leave == (5, 7)
    assert [(sid, m.sub) for sid, m in diff.update] == [(3, "renamed")]
    assert (diff.unchanged, diff.not_learners) == (2, 3)


def test_roster_diff_takes_in_a_learner_another_course_let_go_and_leaves_that_courses_own_alone() -> None:
    # The exam is placed in two courses (sections, a lecture and its lab); these learners are the other's
    members = [
        _member("listed-by-both"),
        _member("moved-after-leaving"),
        _member("listed-by-both-renamed", name="Other"),
        _member("moved-renamed", name="Other"),
    ]
    current = [
        _learner(1, "listed-by-both", elsewhere=True),  # the other course still lists them: they stay its
        _learner(2, "moved-after-leaving", left=True, elsewhere=True),  # the other course let them go
        _learner(3, "listed-by-both-renamed", elsewhere=True),
        _learner(4, "moved-renamed", left=True, elsewhere=True),
        _learner(5, "theirs", elsewhere=True),  # not listed here: the other course's sync marks them, not this one
        _learner(6, "theirs-left", left=True, elsewhere=True),
    ]
    diff = roster_diff(members, current)
    assert diff.add == ()  # known to the exam: never a second entry
    assert diff.rejoin == (2, 4)  # only those whose course marked them as having left come to this one
    assert diff.leave == ()
    assert [(sid, m.sub) for sid, m in diff.update] == [(3, "listed-by-both-renamed"), (4, "moved-renamed")]
    assert diff.unchanged == 1


def _applied(members: list[Member], current: list[CurrentLearner]) -> list[CurrentLearner]:
    diff = roster_diff(members, current)
    by_id = {learner.student_id: learner for learner in current}
    for student_id in diff.leave:
        by_id[student_id] = replace(by_id[student_id], left=True)
    for student_id in diff.rejoin:
        by_id[student_id] = replace(by_id[student_id], left=False, elsewhere=False)
    for student_id, member in diff.update:
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        by_id[student_id] = replace(by_id[student_id], first_name=first, last_name=last, email=member.email)
    for n, member in enumerate(diff.add, start=max(by_id, default=0) + 1):  # new entries, new ids
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        by_id[n] = CurrentLearner(n, member.sub, False, first, last, member.email)
    return list(by_id.values())


_subs = st.sampled_from(["a", "b", "c", "d", "e"])
_members = st.lists(
    st.builds(
        Member,
        sub=_subs,
        roles=st.sampled_from([(LEARNER,), (INSTRUCTOR,), (LEARNER, TA), (ADMIN,), ("Learner",)]),
        status=st.sampled_from(["Active", "Inactive", "Deleted", ""]),
        given_name=st.sampled_from([None, "Ann", " Bo "]),
        family_name=st.sampled_from([None, "Lee"]),
        name=st.sampled_from([None, "Ann Lee", "Solo"]),
        email=st.sampled_from([None, "a@example.org", "A@example.org "]),
    ),
    max_size=8,
)


# Learners of another course of the exam (another section), left or not, before this course's first sync.
_others = st.dictionaries(_subs, st.booleans(), max_size=3).map(
    lambda subs: [_learner(n, sub, left=left, elsewhere=True) for n, (sub, left) in enumerate(subs.items(), 1)]
)


@settings(max_examples=200, deadline=None)
@given(others=_others, first=_members, second=_members)
def test_a_diff_applied_leaves_nothing_to_change(
    others: list[CurrentLearner], first: list[Member], second: list[Member]
) -> None:
    current = _applied(first, others)
    current = _applied(second, current)
    again = roster_diff(second, current)
    assert (again.add, again.rejoin, again.leave, again.update) == ((), (), (), ())


# Only the LTI functions load LTI's code: the library, its HTTP and JWT stack, the rules and statements.
_LTI_ONLY = (
    "pylti1p3",
    "requests",
    "jwt",
    "jwcrypto",
    "exam_depository.domain.lti",
    "exam_depository.domain.lti_roster",
    "exam_depository.adapters.db.lti",
    "exam_depository.adapters.db.lti_sync",
    "exam_depository.adapters.db.lti_scores",
)
_PROBE = """
import json, sys
from local_stack.functions import load_function
names = sys.argv[1:]
for name in names:
    load_function(name, "probe_" + name)
    loaded = sorted(m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in %r))
    if loaded:
        print(json.dumps({name: loaded}))
        break
else:
    print("{}")
"""


def test_no_function_but_the_lti_ones_loads_lti_code_at_init() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    functions = sorted(
        path.parent.name for path in (root / "functions").glob("*/app.py") if not path.parent.name.startswith("lti_")
    )
    assert "record_submissions" in functions
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE % (_LTI_ONLY,), *functions],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{root}:{root / 'shared'}", "AWS_DEFAULT_REGION": "eu-west-1"},
    )
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == {}


def test_a_class_list_text_that_is_not_a_storable_string_counts_as_not_sent() -> None:
    from exam_depository.usecases.lti_services import members_of

    page: list[dict[str, Any]] = [
        {"user_id": "u1", "roles": [LEARNER], "given_name": 42, "family_name": {"x": 1}, "name": "Bo\x00 Li"},
        {"user_id": "u2", "roles": [LEARNER], "given_name": "Zoë", "family_name": "Ng\ud800", "email": ["a@b.c"]},
        {"user_id": "u3\x00", "roles": [LEARNER], "name": "Cy Do"},  # a user id nothing can store: left out
        {"user_id": "u4", "roles": [LEARNER], "name": " Ann\t Lee ", "email": "ann@example.edu"},
    ]
    members = members_of(lambda _url: (page, None), "https://lms.example/members")
    assert [(m.sub, m.given_name, m.family_name, m.name, m.email) for m in members] == [
        ("u1", None, None, None, None),
        ("u2", "Zoë", None, None, None),
        ("u4", None, None, " Ann\t Lee ", "ann@example.edu"),
    ]
    assert names_for(42, None, "Bo\x00 Li", "u1") == ("Student", sub_hash6("u1"))  # type: ignore[arg-type]
