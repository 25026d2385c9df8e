"""An exam's links to courses and their syncs: the state the exam's LMS panel shows, the links due
for a sync, and a class list's difference applied to the roster (its entries made as a launch makes
them, `lti`'s). Loaded by the LTI console's function and the worker; a launch needs none of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from exam_depository.adapters.db.lti import follow_platform, lock_exam, lti_user, new_student, taken_nicknames
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.lti import names_for
from exam_depository.domain.lti_roster import CurrentLearner, RosterDiff


@dataclass(frozen=True)
class LinkState:
    """A course the exam is placed in, as its LMS panel shows it."""

    link_id: UUID
    course: str | None  # the context's title
    context_id: str
    deployment_id: str
    platform: str  # the issuer
    line_item: bool  # a gradebook column receives the hand-in statuses
    roster_service: bool  # the platform told us where its class list is
    created_at: datetime
    last_sync: dict[str, object] | None  # the last sync's report (running, done or failed)


@dataclass(frozen=True)
class ExamLtiState:
    links: list[LinkState]
    scores: dict[str, int]  # every state of lti_score, counted over the exam's links


@dataclass(frozen=True)
class SyncedStudent:
    """A roster entry a sync added, marked as left, let rejoin or renamed."""

    nickname: str
    first_name: str
    last_name: str
    pseudonym: str


@dataclass(frozen=True)
class AppliedSync:
    added: list[SyncedStudent]
    left: list[SyncedStudent]
    rejoined: list[SyncedStudent]
    updated: list[SyncedStudent]

    @property
    def subjects(self) -> list[str]:
        """The pseudonyms of everyone the sync added, marked as left or let rejoin (the audit's)."""
        return [s.pseudonym for s in (*self.added, *self.left, *self.rejoined)]


def exam_lti_state(conn: Connection, exam_pk: int) -> ExamLtiState:
    """The courses the exam is placed in, each with its last sync, and its scores by state."""
    with conn.cursor(row_factory=rows_of(LinkState)) as cur:
        links = cur.execute(
            """SELECT k.id AS link_id, k.context_title AS course, k.context_id, k.deployment_id, r.issuer AS platform,
                      k.lineitem_url IS NOT NULL AS line_item, k.memberships_url IS NOT NULL AS roster_service,
                      k.created_at,
                      (SELECT y.report FROM lti_sync y WHERE y.link_id = k.id ORDER BY y.started_at DESC LIMIT 1)
                          AS last_sync
                 FROM lti_link k JOIN lti_registration r ON r.id = k.registration_id
                WHERE k.exam_pk = %s ORDER BY k.created_at, k.id""",
            (exam_pk,),
        ).fetchall()
    rows = conn.execute(
        """SELECT c.state, count(*)::int AS count FROM lti_score c JOIN lti_link k ON k.id = c.link_id
            WHERE k.exam_pk = %s GROUP BY c.state""",
        (exam_pk,),
    ).fetchall()
    scores = dict.fromkeys(("queued", "sending", "sent", "superseded", "failed"), 0)
    scores |= {row["state"]: row["count"] for row in rows}
    return ExamLtiState(links, scores)


def links_due(conn: Connection, older_than: datetime, limit: int) -> list[UUID]:
    """Links whose class list is known and was not synced since `older_than`, oldest first, of
    exams still open or still keeping files: an old exam's roster is left alone."""
    rows = conn.execute(
        """SELECT k.id FROM lti_link k JOIN exam e ON e.id = k.exam_pk
            WHERE k.memberships_url IS NOT NULL AND (k.synced_at IS NULL OR k.synced_at < %(before)s)
              AND (e.cutoff_at > now()
                   OR EXISTS (SELECT FROM student s JOIN submission x ON x.student_id = s.id
                               WHERE s.exam_id = e.id AND x.status <> 'expired'))
            ORDER BY k.synced_at NULLS FIRST, k.id LIMIT %(limit)s""",
        {"before": older_than, "limit": limit},
    ).fetchall()
    return [row["id"] for row in rows]


def current_learners(conn: Connection, link_id: UUID) -> list[CurrentLearner]:
    """The roster entries the link's exam holds from the link's platform, left or not: the link's
    own, and (`elsewhere`) those of the exam's other courses on that platform, whom this course's
    class list may name (a student who changed section, or whom both courses list); `left` as the
    course they belong to marked them. A user id is the platform's: another
    platform's entries are never compared with this course's members."""
    with conn.cursor(row_factory=rows_of(CurrentLearner)) as cur:
        return cur.execute(
            """SELECT l.student_id, u.sub, l.left_at IS NOT NULL AS left, s.first_name, s.last_name, s.email,
                      l.link_id <> k.id AS elsewhere
                 FROM lti_link k
                 JOIN lti_learner l ON l.exam_pk = k.exam_pk
                 JOIN lti_user u ON u.id = l.lti_user_id AND u.registration_id = k.registration_id
                 JOIN student s ON s.id = l.student_id
                WHERE k.id = %s ORDER BY l.student_id""",
            (link_id,),
        ).fetchall()


def _synced(conn: Connection, student_ids: Sequence[int]) -> dict[int, SyncedStudent]:
    rows = conn.execute(
        "SELECT id, nickname, first_name, last_name, pseudonym FROM student WHERE id = ANY(%s)", (list(student_ids),)
    ).fetchall()
    return {
        row["id"]: SyncedStudent(row["nickname"], row["first_name"], row["last_name"], row["pseudonym"]) for row in rows
    }


def apply_sync(
    conn: Connection,
    link_id: UUID,
    diff: RosterDiff,
    emails: Mapping[str, tuple[str, str] | None],
    now: datetime,
) -> AppliedSync:
    """Apply a class list's difference under the exam's row lock, in the caller's transaction:
    new entries (as a launch makes them, `joined_via` 'sync'), leavers marked (the link's own
    learners only: a student who moved to another course meanwhile is that course's), rejoiners
    still marked as left (those another course let go too: they belong to this link from now on, as
    `rejoined`; one a launch took back meanwhile stays where the launch put them) and renamed
    entries following the platform; the link's `synced_at`. `emails` holds each member's address
    (by sub) as written and as mail goes to it, None when refused. A member a launch made an entry
    for since the difference was read is not made twice."""
    link = conn.execute("SELECT exam_pk, registration_id FROM lti_link WHERE id = %s", (link_id,)).fetchone()
    if link is None:
        return AppliedSync([], [], [], [])
    exam_pk, registration_id = link["exam_pk"], link["registration_id"]
    lock_exam(conn, exam_pk)
    taken = taken_nicknames(conn, exam_pk)
    added: list[SyncedStudent] = []
    for member in diff.add:
        lti_user_id = lti_user(conn, registration_id, member.sub, None)
        exists = conn.execute(
            "SELECT 1 FROM lti_learner WHERE exam_pk = %s AND lti_user_id = %s", (exam_pk, lti_user_id)
        ).fetchone()
        if exists is not None:
            continue
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        email, address = emails.get(member.sub) or (None, None)
        student_id, nickname, pseudonym = new_student(
            conn, exam_pk, first=first, last=last, email=email, email_address=address, sub=member.sub, taken=taken
        )
        conn.execute(
            """INSERT INTO lti_learner (student_id, exam_pk, lti_user_id, link_id, joined_via)
               VALUES (%s, %s, %s, %s, 'sync')""",
            (student_id, exam_pk, lti_user_id, link_id),
        )
        added.append(SyncedStudent(nickname, first, last, pseudonym))
    left = conn.execute(
        """UPDATE lti_learner SET left_at = %s WHERE student_id = ANY(%s) AND link_id = %s AND left_at IS NULL
        RETURNING student_id""",
        (now, list(diff.leave), link_id),
    ).fetchall()
    rejoined = conn.execute(
        """UPDATE lti_learner SET left_at = NULL, link_id = %(link)s
            WHERE student_id = ANY(%(ids)s) AND exam_pk = %(exam)s AND left_at IS NOT NULL
        RETURNING student_id""",
        {"ids": list(diff.rejoin), "exam": exam_pk, "link": link_id},
    ).fetchall()
    updated = []
    for student_id, member in diff.update:
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        email, address = emails.get(member.sub) or (None, None)
        if follow_platform(conn, student_id, first, last, email=email, email_address=address):
            updated.append(student_id)
    conn.execute("UPDATE lti_link SET synced_at = %s WHERE id = %s", (now, link_id))
    named = _synced(conn, [row["student_id"] for row in (*left, *rejoined)] + updated)
    return AppliedSync(
        added=added,
        left=[named[row["student_id"]] for row in left],
        rejoined=[named[row["student_id"]] for row in rejoined],
        updated=[named[student_id] for student_id in updated],
    )


def begin_sync(conn: Connection, link_id: UUID, trigger: Literal["console", "schedule"]) -> UUID:
    sync_id = uuid.uuid4()
    conn.execute("INSERT INTO lti_sync (id, link_id, trigger) VALUES (%s, %s, %s)", (sync_id, link_id, trigger))
    return sync_id


def end_sync(conn: Connection, sync_id: UUID, report: Mapping[str, object] | None, detail: str | None) -> None:
    """A sync finished: done with its report, or failed saying why (its report, if any, kept)."""
    conn.execute(
        """UPDATE lti_sync SET finished_at = now(), status = %s, report = %s, detail = %s WHERE id = %s""",
        (
            "done" if detail is None else "failed",
            None if report is None else Jsonb(json.loads(json.dumps(report, default=str))),
            None if detail is None else detail[:500],
            sync_id,
        ),
    )
