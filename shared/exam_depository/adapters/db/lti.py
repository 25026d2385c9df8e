"""LTI 1.3's rows, and the statements about what a course gives an exam: the roster entries made
from a platform's users (at a launch or a sync), and the hand-in statuses the recorder queues for
the courses' gradebooks. The login's and launch's own statements are `lti_launch`'s, the
registrations' and deep links' `lti_admin`'s; the rows they share live here. The exam's links and
their syncs are `lti_sync`'s, the worker's claim and settling of the queued scores `lti_scores`'s:
each function defines only the row types it uses (a frozen dataclass costs 0.3-0.6 ms of a cold
start), and a launch uses neither.

A roster entry is made under the exam's row lock (`FOR UPDATE` of `exam`), by a launch and a sync
alike: two of them for the same user wait for each other, and the second finds the first's entry
(`lti_learner_once`), so a user is one student of an exam however they arrive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from psycopg import errors as pg_errors

from exam_depository.adapters.db.transactions import Connection
from exam_depository.domain import codes
from exam_depository.domain.lti import nickname_for

# How many times a new entry draws its pseudonym and nickname again when another took them.
_DRAWS = 5


# --- rows shared with lti_launch, lti_admin, lti_scores and the recorder --------------------------


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


# --- learners -----------------------------------------------------------------------------------


def lock_exam(conn: Connection, exam_pk: int) -> None:
    conn.execute("SELECT id FROM exam WHERE id = %s FOR UPDATE", (exam_pk,))


def lti_user(conn: Connection, registration_id: int, sub: str, now: datetime | None) -> int:
    row = conn.execute(
        """INSERT INTO lti_user (registration_id, sub, last_launch_at) VALUES (%s, %s, %s)
           ON CONFLICT (registration_id, sub)
           DO UPDATE SET last_launch_at = COALESCE(EXCLUDED.last_launch_at, lti_user.last_launch_at)
           RETURNING id""",
        (registration_id, sub, now),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def taken_nicknames(conn: Connection, exam_pk: int) -> set[str]:
    rows = conn.execute("SELECT lower(nickname) AS n FROM student WHERE exam_id = %s", (exam_pk,)).fetchall()
    return {row["n"] for row in rows}


def new_student(
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
            taken |= taken_nicknames(conn, exam_pk)
            continue
        assert row is not None
        taken.add(nickname.lower())
        return int(row["id"]), nickname, str(row["pseudonym"])
    raise AssertionError("unreachable")


def follow_platform(
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


def purge_expired(conn: Connection, now: datetime) -> int:
    """Delete the logins, tickets, dynamic-registration offers and deep-linking requests that
    expired a day ago or more; how many."""
    before = now - timedelta(days=1)
    count = 0
    for table in ("lti_login", "lti_ticket", "lti_offer", "lti_deep_link"):
        cursor = conn.execute(f"DELETE FROM {table} WHERE expires_at < %s", (before,))
        count += cursor.rowcount
    return count
