"""LTI 1.3's rows, and the statements about what a course gives an exam: the roster entries made
from a platform's users (at a launch or a sync), the exam's links to courses and their syncs, and
the outbox of hand-in statuses owed to the courses' gradebooks. The login's and launch's own
statements are `lti_launch`'s, the registrations' and deep links' `lti_admin`'s; the rows they
share live here.

A roster entry is made under the exam's row lock (`FOR UPDATE` of `exam`), by a launch and a sync
alike: two of them for the same user wait for each other, and the second finds the first's entry
(`lti_learner_once`), so a user is one student of an exam however they arrive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from exam_depository.adapters.db.transactions import Connection, Row, rows_of
from exam_depository.domain import codes
from exam_depository.domain.lti import CurrentLearner, LaunchFacts, RosterDiff, names_for, nickname_for

# A score is given up after so many attempts (the column's check allows no more).
MAX_SCORE_ATTEMPTS = 8
SCORE_GAVE_UP = f"gave up after {MAX_SCORE_ATTEMPTS} attempts"
SCORE_REQUEUED = "no answer from the platform; queued again"
# How many times a new entry draws its pseudonym and nickname again when another took them.
_DRAWS = 5


# --- rows shared with lti_launch and lti_admin --------------------------------------------------


@dataclass(frozen=True)
class RegistrationRow:
    """A platform registered with the tool, with its deployments."""

    id: int
    public_id: UUID  # registration_id in the API
    owner_id: int
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    auth_audience: str | None
    key_set_url: str
    how: Literal["manual", "dynamic"]
    platform_name: str | None
    product_family_code: str | None
    scopes: list[str]
    active: bool
    created_at: datetime
    deployment_ids: list[str]


# The columns of a RegistrationRow, for statements that select the registration as `r`.
REGISTRATION_COLUMNS = """r.id, r.public_id, r.owner_id, r.issuer, r.client_id, r.auth_login_url, r.auth_token_url,
    r.auth_audience, r.key_set_url, r.how, r.platform_name, r.product_family_code, r.scopes, r.active, r.created_at,
    ARRAY(SELECT d.deployment_id FROM lti_deployment d WHERE d.registration_id = r.id ORDER BY d.deployment_id)
        AS deployment_ids"""


@dataclass(frozen=True)
class LoginRow:
    """An OIDC login the tool started: the state's SHA-256, the nonce asked for, where the browser
    keeps the state."""

    state_sha256: str
    registration_id: int
    nonce: str
    deployment_hint: str | None
    target_link_uri: str
    storage: Literal["cookie", "platform"]
    storage_target: str | None
    storage_origin: str | None
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class TeacherIdentity:
    """A teacher's examiner identity: `caller_key` ('lti:' + public_id) is the key id every
    examiner statement finds them by."""

    lti_user_id: int
    examiner_id: int
    caller_key: str
    public_id: UUID


@dataclass(frozen=True)
class MemberChange:
    """What a launch did to a teacher's membership of the link's exam."""

    member_id: UUID  # the teacher's public id, as the members list and the audit log name them
    role: str  # their role now
    joined: bool  # they were no member before
    raised: bool  # they were, with a lesser role


@dataclass(frozen=True)
class LearnerOutcome:
    """The roster entry a learner's launch found or made."""

    student_id: int
    nickname: str
    pseudonym: str
    created: bool
    rejoined: bool  # they had left the course and came back


@dataclass(frozen=True)
class DeepLinkRow:
    """A deep-linking request waiting for the teacher's choice."""

    id: UUID
    registration_id: int
    deployment_id: str
    lti_user_id: int
    context_id: str
    context_title: str | None
    return_url: str
    data: str | None
    accept_line_item: bool
    expires_at: datetime


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


@dataclass(frozen=True)
class ScoreNotice:
    """A new submission, as the recorder knows it, whose student may owe a course a score."""

    upload_id: UUID
    student_id: int
    submitted_at: datetime
    late: bool
    filename: str
    size_bytes: int
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class ScoreOwner:
    """Whose score it is, for the audit event its sending or failing appends."""

    id: UUID
    exam_pk: int
    pseudonym: str
    platform: str  # the issuer
    lti_user: str  # the platform's user id (sub)


@dataclass(frozen=True)
class ClaimedScore:
    """A score claimed for sending: what to post where, and through which registration."""

    id: UUID
    payload: dict[str, object]
    lineitem_url: str
    registration: RegistrationRow
    owner: ScoreOwner


@dataclass(frozen=True)
class SweptScores:
    resend: list[UUID]  # to hand to the queue again (counted as handed over now)
    failed: list[ScoreOwner]  # given up by this sweep, after every attempt


# --- learners -----------------------------------------------------------------------------------


def _lock_exam(conn: Connection, exam_pk: int) -> None:
    conn.execute("SELECT id FROM exam WHERE id = %s FOR UPDATE", (exam_pk,))


def _lti_user(conn: Connection, registration_id: int, sub: str, now: datetime | None) -> int:
    row = conn.execute(
        """INSERT INTO lti_user (registration_id, sub, last_launch_at) VALUES (%s, %s, %s)
           ON CONFLICT (registration_id, sub)
           DO UPDATE SET last_launch_at = COALESCE(EXCLUDED.last_launch_at, lti_user.last_launch_at)
           RETURNING id""",
        (registration_id, sub, now),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _taken_nicknames(conn: Connection, exam_pk: int) -> set[str]:
    rows = conn.execute("SELECT lower(nickname) AS n FROM student WHERE exam_id = %s", (exam_pk,)).fetchall()
    return {row["n"] for row in rows}


def _new_student(
    conn: Connection,
    exam_pk: int,
    *,
    first: str,
    last: str,
    email: str | None,
    email_address: str | None,
    sub: str,
    taken: set[str],
) -> tuple[int, str, str]:
    """A new roster entry (id, nickname, pseudonym) with an upload code and a pseudonym, as `POST
    …/students` makes them; a pseudonym or nickname another took meanwhile is drawn again."""
    for draw in range(_DRAWS):
        nickname = nickname_for(first, last, email, sub, taken)
        try:
            with conn.transaction():
                row = conn.execute(
                    """INSERT INTO student (exam_id, nickname, first_name, last_name, email, email_address,
                                            upload_code, pseudonym)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, pseudonym""",
                    (exam_pk, nickname, first, last, email, email_address, codes.new_code(), codes.new_pseudonym()),
                ).fetchone()
        except pg_errors.UniqueViolation:
            if draw == _DRAWS - 1:
                raise
            taken |= _taken_nicknames(conn, exam_pk)
            continue
        assert row is not None
        taken.add(nickname.lower())
        return int(row["id"]), nickname, str(row["pseudonym"])
    raise AssertionError("unreachable")


def _follow_platform(
    conn: Connection, student_id: int, first: str, last: str, *, email: str | None, email_address: str | None
) -> bool:
    """The entry takes the platform's names and address (the platform's values win for entries it
    made); what mail said of an old address is forgotten with it. Whether anything changed."""
    row = conn.execute(
        """UPDATE student
              SET first_name = %(first)s, last_name = %(last)s, email = %(email)s, email_address = %(address)s,
                  email_state = CASE WHEN email_address IS DISTINCT FROM %(address)s THEN NULL ELSE email_state END,
                  email_state_at = CASE WHEN email_address IS DISTINCT FROM %(address)s THEN NULL
                                        ELSE email_state_at END
            WHERE id = %(id)s
              AND (first_name, last_name, email) IS DISTINCT FROM (%(first)s, %(last)s, %(email)s)
        RETURNING id""",
        {"id": student_id, "first": first, "last": last, "email": email, "address": email_address},
    ).fetchone()
    return row is not None


def learner_for_launch(
    conn: Connection,
    exam_pk: int,
    link_id: UUID,
    facts: LaunchFacts,
    *,
    email: str | None,
    email_address: str | None,
    now: datetime,
) -> LearnerOutcome:
    """The learner's roster entry in the link's exam, found or made, under the exam's row lock:
    found, it takes the platform's names and address, rejoins if it had left and belongs to this
    link from now on (a student who changed section: their hand-ins are scored to this course's
    column); made, it gets names by `names_for`, a free nickname, an upload code and a pseudonym.
    `email` is the address as the platform sent it and `email_address` as mail goes to it, or None
    (refused or none)."""
    lti_user_id = _lti_user(conn, facts.registration_id, facts.sub, now)
    _lock_exam(conn, exam_pk)
    first, last = names_for(facts.given_name, facts.family_name, facts.name, facts.sub)
    found = conn.execute(
        """SELECT l.student_id, s.nickname, s.pseudonym, l.left_at IS NOT NULL AS left, l.link_id <> %s AS elsewhere
             FROM lti_learner l JOIN student s ON s.id = l.student_id
            WHERE l.exam_pk = %s AND l.lti_user_id = %s""",
        (link_id, exam_pk, lti_user_id),
    ).fetchone()
    if found is not None:
        _follow_platform(conn, found["student_id"], first, last, email=email, email_address=email_address)
        if found["left"] or found["elsewhere"]:
            conn.execute(
                "UPDATE lti_learner SET left_at = NULL, link_id = %s WHERE student_id = %s",
                (link_id, found["student_id"]),
            )
        return LearnerOutcome(found["student_id"], found["nickname"], found["pseudonym"], False, found["left"])
    student_id, nickname, pseudonym = _new_student(
        conn,
        exam_pk,
        first=first,
        last=last,
        email=email,
        email_address=email_address,
        sub=facts.sub,
        taken=_taken_nicknames(conn, exam_pk),
    )
    conn.execute(
        """INSERT INTO lti_learner (student_id, exam_pk, lti_user_id, link_id, joined_via)
           VALUES (%s, %s, %s, %s, 'launch')""",
        (student_id, exam_pk, lti_user_id, link_id),
    )
    return LearnerOutcome(student_id, nickname, pseudonym, True, False)


# --- the exam's state, the sync -------------------------------------------------------------------


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
    _lock_exam(conn, exam_pk)
    taken = _taken_nicknames(conn, exam_pk)
    added: list[SyncedStudent] = []
    for member in diff.add:
        lti_user_id = _lti_user(conn, registration_id, member.sub, None)
        exists = conn.execute(
            "SELECT 1 FROM lti_learner WHERE exam_pk = %s AND lti_user_id = %s", (exam_pk, lti_user_id)
        ).fetchone()
        if exists is not None:
            continue
        first, last = names_for(member.given_name, member.family_name, member.name, member.sub)
        email, address = emails.get(member.sub) or (None, None)
        student_id, nickname, pseudonym = _new_student(
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
        if _follow_platform(conn, student_id, first, last, email=email, email_address=address):
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


# --- scores ---------------------------------------------------------------------------------------


def queue_scores(conn: Connection, notices: Sequence[ScoreNotice]) -> list[UUID]:
    """Queue the hand-in status of each new submission for every course its student came from
    whose gradebook has a column for the exam: one SELECT of the students' platform ids, one
    INSERT. A notice replayed queues nothing more (one score per upload and link)."""
    from exam_depository.domain.lti import score_of

    by_student = {notice.student_id: notice for notice in notices}
    targets = conn.execute(
        """SELECT l.student_id, l.link_id, u.sub
             FROM lti_learner l JOIN lti_link k ON k.id = l.link_id JOIN lti_user u ON u.id = l.lti_user_id
            WHERE l.student_id = ANY(%s) AND k.lineitem_url IS NOT NULL""",
        (list(by_student),),
    ).fetchall()
    ids, links, students, uploads, payloads = [], [], [], [], []
    for notice in notices:
        for target in targets:
            if target["student_id"] != notice.student_id:
                continue
            ids.append(uuid.uuid4())
            links.append(target["link_id"])
            students.append(notice.student_id)
            uploads.append(notice.upload_id)
            payloads.append(
                json.dumps(
                    score_of(
                        user_id=target["sub"],
                        submitted_at=notice.submitted_at,
                        late=notice.late,
                        filename=notice.filename,
                        size_bytes=notice.size_bytes,
                        attempt=notice.attempt,
                        max_attempts=notice.max_attempts,
                    )
                )
            )
    if not ids:
        return []
    rows = conn.execute(
        """INSERT INTO lti_score (id, link_id, student_id, upload_id, payload)
           SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::bigint[], %s::uuid[], %s::jsonb[])
           ON CONFLICT (upload_id, link_id) DO NOTHING
           RETURNING id""",
        (ids, links, students, uploads, payloads),
    ).fetchall()
    return [row["id"] for row in rows]


def enqueued(conn: Connection, ids: Sequence[UUID]) -> None:
    """The scores were handed to the queue (the sweep hands them again after its grace)."""
    conn.execute("UPDATE lti_score SET enqueued_at = now() WHERE id = ANY(%s)", (list(ids),))


_OWNER_COLUMNS = """s.exam_id AS exam_pk, s.pseudonym, r.issuer AS platform, u.sub AS lti_user"""
_OWNER_JOINS = """JOIN student s ON s.id = c.student_id JOIN lti_link k ON k.id = c.link_id
    JOIN lti_registration r ON r.id = k.registration_id
    JOIN lti_learner l ON l.student_id = c.student_id JOIN lti_user u ON u.id = l.lti_user_id"""


def _owner(row: Row) -> ScoreOwner:
    return ScoreOwner(row["id"], row["exam_pk"], row["pseudonym"], row["platform"], row["lti_user"])


def claim_scores(conn: Connection, ids: Sequence[UUID], now: datetime) -> list[ClaimedScore]:
    """Claim queued scores for sending (state sending, one more attempt), committed by the caller
    before any call: a duplicate delivery or a concurrent batch claims nothing. Scores out of
    attempts, or of a link without a line item any more, are not claimed."""
    rows = conn.execute(
        f"""WITH claimed AS (
               UPDATE lti_score SET state = 'sending', attempts = attempts + 1, claimed_at = %(now)s
                WHERE id = ANY(%(ids)s) AND state = 'queued' AND attempts < {MAX_SCORE_ATTEMPTS}
                  AND EXISTS (SELECT FROM lti_link k WHERE k.id = lti_score.link_id AND k.lineitem_url IS NOT NULL)
            RETURNING id, payload, link_id, student_id)
            SELECT c.id, c.payload, k.lineitem_url, k.registration_id, {_OWNER_COLUMNS}
              FROM claimed c {_OWNER_JOINS}
             ORDER BY c.id""",
        {"ids": list(ids), "now": now},
    ).fetchall()
    if not rows:
        return []
    with conn.cursor(row_factory=rows_of(RegistrationRow)) as cur:
        registrations = {
            r.id: r
            for r in cur.execute(
                f"SELECT {REGISTRATION_COLUMNS} FROM lti_registration r WHERE r.id = ANY(%s)",
                (sorted({row["registration_id"] for row in rows}),),
            ).fetchall()
        }
    return [
        ClaimedScore(row["id"], row["payload"], row["lineitem_url"], registrations[row["registration_id"]], _owner(row))
        for row in rows
    ]


def settle_score(
    conn: Connection,
    score_id: UUID,
    state: Literal["sent", "superseded", "failed"],
    status_code: int | None,
    detail: str | None,
) -> None:
    conn.execute(
        """UPDATE lti_score SET state = %s, status_code = %s, detail = %s,
                  sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END
            WHERE id = %s AND state = 'sending'""",
        (state, status_code, None if detail is None else detail[:500], state, score_id),
    )


def release_scores(conn: Connection, ids: Sequence[UUID], detail: str, *, refund_attempt: bool = False) -> None:
    """Scores being sent go back to the queue (the platform was busy or unreachable): their attempt
    counts, unless `refund_attempt` (the call was never made)."""
    conn.execute(
        """UPDATE lti_score SET state = 'queued', detail = %s,
                  attempts = CASE WHEN %s THEN greatest(attempts - 1, 0) ELSE attempts END
            WHERE id = ANY(%s) AND state = 'sending'""",
        (detail[:500], refund_attempt, list(ids)),
    )


def sweep_scores(conn: Connection, now: datetime, grace: timedelta) -> SweptScores:
    """What the sender must be handed again, as the mail's sweep: a claim older than `grace` is
    queued again (failed once it had every attempt, as is a queued score out of attempts); every
    queued score never handed to the queue, or handed over longer than `grace` ago, is returned and
    counted as handed over now. Run in one transaction."""
    failed = conn.execute(
        f"""WITH given_up AS (
               UPDATE lti_score SET state = 'failed', detail = %(gave_up)s
                WHERE attempts >= {MAX_SCORE_ATTEMPTS}
                  AND (state = 'queued' OR (state = 'sending' AND claimed_at < %(before)s))
            RETURNING id, link_id, student_id)
            SELECT c.id, {_OWNER_COLUMNS} FROM given_up c {_OWNER_JOINS} ORDER BY c.id""",
        {"before": now - grace, "gave_up": SCORE_GAVE_UP},
    ).fetchall()
    conn.execute(
        """UPDATE lti_score SET state = 'queued', detail = %s WHERE state = 'sending' AND claimed_at < %s""",
        (SCORE_REQUEUED, now - grace),
    )
    rows = conn.execute(
        """UPDATE lti_score SET enqueued_at = %(now)s
            WHERE state = 'queued' AND (enqueued_at IS NULL OR enqueued_at < %(before)s)
        RETURNING id""",
        {"now": now, "before": now - grace},
    ).fetchall()
    return SweptScores([row["id"] for row in rows], [_owner(row) for row in failed])


def unsettled_scores(conn: Connection, before: datetime) -> int:
    """How many scores queued before `before` are still queued or sending (an LMS slow or down)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM lti_score WHERE state IN ('queued', 'sending') AND queued_at < %s", (before,)
    ).fetchone()
    return int(row["n"]) if row else 0


def purge_expired(conn: Connection, now: datetime) -> int:
    """Delete the logins, tickets, dynamic-registration offers and deep-linking requests that
    expired a day ago or more; how many."""
    before = now - timedelta(days=1)
    count = 0
    for table in ("lti_login", "lti_ticket", "lti_offer", "lti_deep_link"):
        cursor = conn.execute(f"DELETE FROM {table} WHERE expires_at < %s", (before,))
        count += cursor.rowcount
    return count
