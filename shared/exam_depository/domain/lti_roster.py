"""A course's class list, as LTI 1.3's names and roles service gives it, and its difference from
the roster: a plain function of what the platform listed and what the roster holds. Only the LTI
worker syncs a class list, so this is apart from `lti`, which the launch's function loads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exam_depository.domain.lti import names_for, role_of


@dataclass(frozen=True)
class Member:
    """A member of the course as the platform's class list names them."""

    sub: str
    roles: tuple[str, ...]
    status: str
    given_name: str | None
    family_name: str | None
    name: str | None
    email: str | None


@dataclass(frozen=True)
class CurrentLearner:
    """A roster entry made or matched from the platform, as the roster holds it now: the course's,
    or (`elsewhere`) another course's of the same exam and platform (a student belongs to one course
    of an exam: the one they last launched from, or that last listed them once the course before
    had marked them as having left). `left`: marked so by the course they belong to."""

    student_id: int
    sub: str
    left: bool
    first_name: str
    last_name: str
    email: str | None
    elsewhere: bool = False


@dataclass(frozen=True)
class RosterDiff:
    add: tuple[Member, ...]
    rejoin: tuple[int, ...]  # student ids marked as left, this course's or another's (they move to this one)
    leave: tuple[int, ...]  # this course's only
    update: tuple[tuple[int, Member], ...]
    unchanged: int
    not_learners: int


def is_active_learner(member: Member) -> bool:
    """A member who is a student here (a Learner, not staff) and active in the course (absent
    status means active)."""
    return role_of(member.roles) == "student" and member.status.strip().lower() in ("", "active")


def _same_email(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def roster_diff(members: Sequence[Member], current: Sequence[CurrentLearner]) -> RosterDiff:
    """What a sync changes: learners the roster lacks are added, learners marked as left rejoin,
    entries the course no longer lists as active learners leave (marked, never deleted), and known
    learners whose names or address changed take the platform's. A learner of another course of the
    exam (`elsewhere`) whom this course lists comes to this course (with `rejoin`) only once that
    course has marked them as having left (a student who changed section): one both courses list
    (cross-listed sections, a lecture and its lab) stays where they are, or every sync would take
    them back; one this course does not list is the other course's to mark. A member listed twice
    counts once."""
    by_sub: dict[str, Member] = {}
    for member in members:
        by_sub.setdefault(member.sub, member)
    learners = {sub: member for sub, member in by_sub.items() if is_active_learner(member)}
    known = {learner.sub: learner for learner in current}
    add = tuple(member for sub, member in learners.items() if sub not in known)
    rejoin: list[int] = []
    leave: list[int] = []
    update: list[tuple[int, Member]] = []
    unchanged = 0
    for learner in current:
        listed = learners.get(learner.sub)
        if listed is None:
            if not learner.left and not learner.elsewhere:
                leave.append(learner.student_id)
            continue
        member = listed
        comes = learner.left  # this course's, or another's that let them go
        if comes:
            rejoin.append(learner.student_id)
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        if (first, last) != (learner.first_name, learner.last_name) or not _same_email(member.email, learner.email):
            update.append((learner.student_id, member))
        elif not comes:
            unchanged += 1
    return RosterDiff(
        add=add,
        rejoin=tuple(rejoin),
        leave=tuple(leave),
        update=tuple(update),
        unchanged=unchanged,
        not_learners=len(by_sub) - len(learners),
    )
