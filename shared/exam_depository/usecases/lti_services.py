"""What the tool does for a course on its own: send hand-in statuses to its gradebook (AGS), read its
class list into the exam's roster (NRPS), and, every few minutes, the tick: the scores' sweep, the
expired logins' purge and the syncs that fall due.

The table is the truth: a score is claimed (committed) before it is sent, settled after; SQS only
says which rows to look at, and the sweep hands over again what SQS or a crash dropped. A sync never
deletes anyone: a student the course no longer lists is marked as having left, keeps everything and
may still hand in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.lti
import exam_depository.adapters.db.lti_admin
import exam_depository.adapters.db.lti_scores
import exam_depository.adapters.db.lti_sync  # noqa: F401
from exam_depository.adapters import db, queues
from exam_depository.adapters.lti_settings import LtiSettings
from exam_depository.config import load
from exam_depository.domain import lti, lti_roster
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.audit import Actor, AuditAction, Event, Json, member_actor
from exam_depository.domain.characters import unstorable
from exam_depository.domain.errors import NoRosterService
from exam_depository.domain.instants import rfc3339
from exam_depository.observability import MetricUnit, logger, metrics

SYSTEM = Actor("system:lti", None, None)
MAX_PAGES = 50
MAX_MEMBERS = 5000
SUB_MAX = 255  # lti_user.sub's
SWEEP_GRACE = timedelta(minutes=15)
UNSETTLED_AFTER = timedelta(minutes=30)  # LtiScoresUnsettledAlarm: an LMS slow or down
SYNCS_PER_TICK = 3
DETAIL_MAX = 300

Settled = Literal["sent", "superseded", "failed", "retry", "renew"]


def outcome_of(status: int) -> Settled:
    """What a score's answer means: 2xx sent; 409 the platform keeps a later one; 401/403 the token
    is no longer good (renew it once); 404 the gradebook column is gone; other 4xx refused for
    good; 429 and 5xx later."""
    if 200 <= status < 300:
        return "sent"
    if status == 409:
        return "superseded"
    if status in (401, 403):
        return "renew"
    if status == 429 or status >= 500:
        return "retry"
    return "failed"


def send_scores(ids: Sequence[UUID], now: datetime | None = None) -> list[UUID]:
    """Send the queued scores among `ids`; the ids to be delivered again later (SQS's retry)."""
    from pylti1p3.assignments_grades import AssignmentsGradesService
    from pylti1p3.exception import LtiServiceException
    from pylti1p3.grade import Grade

    from exam_depository.adapters import lms_http, lti_tool  # pylti1p3: only the LTI functions

    now = now or datetime.now(UTC)
    with db.transaction() as conn:
        claimed = db.lti_scores.claim_scores(conn, list(ids), now)
    retry: list[UUID] = []
    failed = 0
    connectors: dict[int, Any] = {}
    for score in claimed:
        connector = connectors.get(score.registration.id)
        if connector is None:
            connector = connectors[score.registration.id] = lti_tool.service_connector(score.registration)
        service: Any = {"lineitem": score.lineitem_url, "scope": [lti.SCOPE_SCORE]}
        ags = AssignmentsGradesService(connector, service)
        grade = Grade()
        grade.set_extra_claims(dict(score.payload))
        try:
            status, answer = _put(ags, grade, LtiServiceException, score.registration.auth_token_url)
            if outcome_of(status) == "renew":
                connector.forget_token([lti.SCOPE_SCORE])
                status, answer = _put(ags, grade, LtiServiceException, score.registration.auth_token_url)
        except lms_http.LmsUnreachable as exc:
            _release(score.id, f"the platform did not answer: {exc}")
            retry.append(score.id)
            continue
        outcome = outcome_of(status)
        if outcome == "retry" or outcome == "renew":  # noqa: PLR1714 - narrows the Literal settle_score takes
            _release(score.id, f"the platform answered {status}")
            retry.append(score.id)
            continue
        detail = None
        if outcome == "failed":
            detail = "the gradebook column is gone" if status == 404 else f"{status}: {answer}"
            failed += 1
        with db.transaction() as conn:
            db.lti_scores.settle_score(conn, score.id, outcome, status, detail)
            if outcome in ("sent", "failed"):
                action = AuditAction.LTI_SCORE_SENT if outcome == "sent" else AuditAction.LTI_SCORE_FAILED
                db.audit.append(conn, score.owner.exam_pk, [_score_event(score.owner, action, status)])
    logger.info("lti.scores", extra={"claimed": len(claimed), "retry": len(retry)})
    if failed:  # LtiScoresFailedAlarm
        metrics.add_metric(name="LtiScoresFailed", unit=MetricUnit.Count, value=failed)
    return retry


def _put(ags: Any, grade: Any, refused: type[Exception], token_url: str) -> tuple[int, str]:
    """POST the score: the platform's status and the start of its answer. The token endpoint's
    refusal counts as the platform being unavailable (503): the score is not what it refused."""
    try:
        ags.put_grade(grade)
    except refused as exc:
        response = getattr(exc, "response", None)
        if response is None:
            raise
        if str(response.url).split("?")[0] == token_url.split("?", maxsplit=1)[0]:
            return 503, f"the token endpoint answered {response.status_code}"
        return int(response.status_code), str(response.text)[:DETAIL_MAX]
    return 200, ""


def _release(score_id: UUID, detail: str) -> None:
    with db.transaction() as conn:
        db.lti_scores.release_scores(conn, [score_id], detail)


def _score_event(owner: db.lti_scores.ScoreOwner, action: AuditAction, status: int | None) -> Event:
    after: dict[str, Json] = {"platform": owner.platform, "lti_user": owner.lti_user, "status": status}
    return Event(SYSTEM, action, f"student:{owner.pseudonym}", after=after, subjects=(owner.pseudonym,))


# --- the class list


def members_of(
    fetch_page: Callable[[str], tuple[Sequence[Mapping[str, Any]], str | None]], url: str
) -> list[lti_roster.Member]:
    """The course's members, page after page (`rel="next"`), within MAX_PAGES and MAX_MEMBERS. A
    name or address that is no storable string counts as not sent (`lti.platform_text`: the entry
    gets a made-up name); a member whose user id nothing can store (or longer than SUB_MAX) is left
    out."""
    members: list[lti_roster.Member] = []
    next_url: str | None = url
    pages = 0
    while next_url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise CourseTooLarge(f"the class list has more than {MAX_PAGES} pages")
        page, next_url = fetch_page(next_url)
        for m in page:
            members.append(
                lti_roster.Member(
                    sub=str(m.get("user_id", "")),
                    roles=tuple(str(role) for role in m.get("roles", ())),
                    status=str(m.get("status", "Active")),
                    given_name=lti.platform_text(m.get("given_name")),
                    family_name=lti.platform_text(m.get("family_name")),
                    name=lti.platform_text(m.get("name")),
                    email=lti.platform_text(m.get("email")),
                )
            )
        if len(members) > MAX_MEMBERS:
            raise CourseTooLarge(f"the course has more than {MAX_MEMBERS} members")
    return [m for m in members if m.sub and len(m.sub) <= SUB_MAX and not unstorable(m.sub)]


class CourseTooLarge(Exception):
    pass


def email_of(raw: str | None) -> tuple[str, str] | None:
    """A member's address as written and as mail goes to it; None when the import would refuse it."""
    if not raw:
        return None
    written = raw.strip()
    if not written or len(written) > 254:
        return None
    try:
        return written, normalized_address(written)
    except ValueError:
        return None


def sync_link(link_id: UUID, trigger: Literal["console", "schedule"], actor: Actor) -> dict[str, object]:
    """Read the course's class list into the exam's roster; the sync's report (§ SyncReport)."""
    from pylti1p3.exception import LtiServiceException
    from pylti1p3.names_roles import NamesRolesProvisioningService

    from exam_depository.adapters import lms_http, lti_tool

    started = datetime.now(UTC)
    with db.transaction() as conn:
        target = db.lti_admin.sync_target(conn, link_id)
        sync_id = db.lti_sync.begin_sync(conn, link_id, trigger)
        registration = db.lti_admin.registration_by_pk(conn, target.registration_pk)
    report: dict[str, object] = {
        "sync_id": str(sync_id),
        "link_id": str(link_id),
        "course": target.course,
        "trigger": trigger,
        "status": "failed",
        "started_at": rfc3339(started),
        "finished_at": None,
        "members": 0,
        "added": [],
        "left": [],
        "rejoined": [],
        "updated": 0,
        "unchanged": 0,
        "not_learners": 0,
        "emails_refused": 0,
        "detail": None,
    }
    blank = dict(report)
    try:
        if target.memberships_url is None:
            raise CourseTooLarge("the platform has not told us where its class list is")
        nrps = NamesRolesProvisioningService(
            lti_tool.service_connector(registration), {"context_memberships_url": target.memberships_url}
        )
        members = members_of(nrps.get_members_page, target.memberships_url)
    except (CourseTooLarge, LtiServiceException, lms_http.LmsUnreachable) as exc:
        return _sync_failed(sync_id, link_id, report, str(exc)[:DETAIL_MAX] or type(exc).__name__)
    except Exception as exc:
        _sync_failed(sync_id, link_id, blank, type(exc).__name__)
        raise
    try:
        return _apply_members(
            link_id=link_id,
            sync_id=sync_id,
            where=(target.exam_pk, target.course, registration.issuer),
            members=members,
            report=report,
            actor=actor,
        )
    except Exception as exc:
        # Anything else ends the sync as failed all the same (not shown as running for ever, and
        # alarming), saying only the failure's type: its text may name someone. Raised again: the
        # route answers as before, the worker's job is retried.
        _sync_failed(sync_id, link_id, blank, type(exc).__name__)
        raise


def _sync_failed(sync_id: UUID, link_id: UUID, report: dict[str, object], detail: str) -> dict[str, object]:
    """The sync ended as failed, saying why: its row finished, logged and LtiSyncFailed counted."""
    report.update({"status": "failed", "detail": detail, "finished_at": rfc3339(datetime.now(UTC))})
    with db.transaction() as conn:
        db.lti_sync.end_sync(conn, sync_id, report, detail)
    logger.warning("lti.sync failed", extra={"link": str(link_id), "detail": detail})
    metrics.add_metric(name="LtiSyncFailed", unit=MetricUnit.Count, value=1)  # LtiSyncFailedAlarm
    return report


def _apply_members(
    *,
    link_id: UUID,
    sync_id: UUID,
    where: tuple[int, str | None, str],
    members: Sequence[lti_roster.Member],
    report: dict[str, object],
    actor: Actor,
) -> dict[str, object]:
    """The class list read into the roster, the report completed, the sync ended as done: one
    transaction. `where`: the exam's key, the course's title and the platform's issuer."""
    exam_pk, course, issuer = where
    now = datetime.now(UTC)
    with db.transaction() as conn:
        diff = lti_roster.roster_diff(members, db.lti_sync.current_learners(conn, link_id))
        wanted = {m.sub: m.email for m in (*diff.add, *(member for _, member in diff.update))}
        emails = {sub: email_of(raw) for sub, raw in wanted.items()}
        applied = db.lti_sync.apply_sync(conn, link_id, diff, emails, now)
        report.update(
            {
                "status": "done",
                "finished_at": rfc3339(datetime.now(UTC)),
                "members": len(members),
                "added": [
                    {"nickname": s.nickname, "first_name": s.first_name, "last_name": s.last_name}
                    for s in applied.added
                ],
                "left": [{"nickname": s.nickname} for s in applied.left],
                "rejoined": [{"nickname": s.nickname} for s in applied.rejoined],
                "updated": len(applied.updated),
                "unchanged": diff.unchanged,
                "not_learners": diff.not_learners,
                "emails_refused": sum(1 for sub, raw in wanted.items() if raw and emails[sub] is None),
            }
        )
        after: dict[str, Json] = {
            "platform": issuer,
            "course": course,
            "added": len(applied.added),
            "left": len(applied.left),
            "rejoined": len(applied.rejoined),
            "updated": len(applied.updated),
        }
        db.audit.append(
            conn,
            exam_pk,
            [
                Event(
                    actor,
                    AuditAction.LTI_ROSTER_SYNCED,
                    f"link:{link_id}",
                    after=after,
                    subjects=tuple(applied.subjects),
                )
            ],
        )
        db.lti_sync.end_sync(conn, sync_id, report, None)
    return report


def sync_exam(caller: Caller, exam_id: str) -> list[dict[str, object]]:
    """Every link of the exam with a class list, synced now, one after another (the route's)."""
    with db.statement() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.LTI_SYNC)
        links = [link.link_id for link in db.lti_sync.exam_lti_state(conn, exam.exam_pk).links if link.roster_service]
    if not links:
        raise NoRosterService(
            "Launch the tool once from the course as a teacher: the platform has not told us where its class list is."
        )
    actor = member_actor(exam, caller)
    return [sync_link(link_id, "console", actor) for link_id in links]


# --- the tick


def tick(now: datetime | None = None) -> dict[str, int]:
    """The sweep (scores SQS or a crash dropped, and those out of attempts), the purge of expired
    logins, tickets, offers and deep links, and the syncs due (at most SYNCS_PER_TICK)."""
    now = now or datetime.now(UTC)
    settings = load(LtiSettings)
    with db.transaction() as conn:
        swept = db.lti_scores.sweep_scores(conn, now, SWEEP_GRACE)
        for owner in swept.failed:
            db.audit.append(conn, owner.exam_pk, [_score_event(owner, AuditAction.LTI_SCORE_FAILED, None)])
        purged = db.lti.purge_expired(conn, now)
        due = db.lti_sync.links_due(conn, now - timedelta(hours=settings.roster_sync_hours), SYNCS_PER_TICK)
        unsettled = db.lti_scores.unsettled_scores(conn, now - UNSETTLED_AFTER)
    # The alarms: scores given up now, and scores still unsent half an hour after their recording.
    if swept.failed:
        metrics.add_metric(name="LtiScoresFailed", unit=MetricUnit.Count, value=len(swept.failed))
    metrics.add_metric(name="LtiScoresUnsettled", unit=MetricUnit.Count, value=unsettled)
    queues.send_lti_jobs(
        [queues.lti_score_job(score_id) for score_id in swept.resend] + [queues.lti_sync_job(link) for link in due]
    )
    counts = {
        "resent": len(swept.resend),
        "failed": len(swept.failed),
        "purged": purged,
        "syncs": len(due),
        "unsettled": unsettled,
    }
    logger.info("lti.tick", extra=counts)
    return counts


def parse_job(body: Mapping[str, object]) -> tuple[Literal["score", "sync"], UUID]:
    """A queued job: ("score", the score's id) or ("sync", the link's id). ValueError otherwise."""
    kind = body.get("kind")
    if kind == "score":
        return "score", UUID(str(body["id"]))
    if kind == "sync":
        return "sync", UUID(str(body["link_id"]))
    raise ValueError(f"not an LTI job: {kind!r}")
