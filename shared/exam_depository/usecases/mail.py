"""What examiners do about their students' mail: send the students their upload codes (each an
invitation message, queued in the request's transaction and handed to the mail queue after its
commit), and give a student another address. The sender (`usecases.sending`) sends what is
queued; nothing here waits on SES.

A student's address is sent the code at most once in `INVITE_COOLDOWN`, a student
`INVITES_PER_DAY` times a day and an address of an exam `INVITES_PER_ADDRESS_PER_DAY` times, and an
exam's codes are sent at most once in `EXAM_SEND_COOLDOWN` (a double click answers 429): the
rules are `domain.mail`'s, the row locks `db.messages.invite`'s."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.messages
import exam_depository.adapters.db.student_mail
import exam_depository.adapters.db.students
import exam_depository.adapters.db.suppressions  # noqa: F401
from exam_depository.adapters import db, queues
from exam_depository.config import MailSettings, load
from exam_depository.domain.access import Action, Caller
from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.audit import AuditAction, Event, member_actor
from exam_depository.domain.errors import (
    AddressSuppressed,
    InvalidInput,
    MailNotConfigured,
    NotFound,
    SendingTooOften,
    ServiceUnavailable,
)
from exam_depository.domain.mail import EXAM_SEND_COOLDOWN, SkipReason, suppressed_sentence
from exam_depository.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:  # the requests' models: the function that parses them has loaded them
    from exam_depository.domain.inputs import EmailChangeIn, SendCodesIn

NO_STUDENT = "The exam has no student with this nickname."


@dataclass(frozen=True)
class SentCodes:
    queued: int
    skipped: Counter[SkipReason]


def send_codes(caller: Caller, exam_id: str, request: SendCodesIn) -> SentCodes:
    """Queue an invitation to every student of the exam not yet invited (or to those named; with
    `resend`, to those invited before too), one transaction with its audit event; then hand the
    messages to the mail queue. What SQS does not take now, the sender's sweep hands over within
    minutes: the messages are committed rows."""
    if not load(MailSettings).enabled:
        raise MailNotConfigured(
            "This deployment sends no email: its sender address is not set. Hand out the codes from the roster's "
            "download, or ask your operators to set up email."
        )
    now = datetime.now(UTC)
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_SEND_CODES, lock=True)
        if exam.codes_sent_at is not None and now - exam.codes_sent_at < EXAM_SEND_COOLDOWN:
            wait_s = math.ceil((exam.codes_sent_at + EXAM_SEND_COOLDOWN - now).total_seconds())
            raise SendingTooOften(
                f"Codes were sent a moment ago: wait {wait_s} seconds before sending again.", retry_after_s=wait_s
            )
        students = db.student_mail.mail_targets(conn, exam.exam_pk, request.nicknames)
        if request.nicknames is not None:
            found = {student.nickname.lower() for student in students}
            unknown = [nickname for nickname in request.nicknames if nickname.lower() not in found]
            if unknown:
                raise InvalidInput(
                    f"The exam has no student with the nickname{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}.",
                    extra={"unknown": unknown},
                )
        queued, skipped = db.messages.invite(
            conn, exam.exam_pk, [student.id for student in students], resend=request.resend, now=now
        )
        db.exams.codes_sent(conn, exam.exam_pk, now)
        if queued:
            pseudonyms = {student.id: student.pseudonym for student in students}
            invited = Event(
                member_actor(exam, caller),
                AuditAction.STUDENTS_INVITED,
                "students",
                after={"count": len(queued)},
                subjects=tuple(pseudonyms[message.student_id] for message in queued),
            )
            db.audit.append(conn, exam.exam_pk, [invited])
    hand_over([message.message_id for message in queued])
    logger.info("Upload codes queued", extra={"exam_id": exam_id, "queued": len(queued), "skipped": dict(skipped)})
    return SentCodes(len(queued), skipped)


def hand_over(message_ids: list[UUID]) -> None:
    """Give committed messages to the mail queue, ask for a sweep (delayed: it comes only if none
    this environment asked for is still to come) and note the messages SQS took. Never raises:
    the caller's work is committed, and a message SQS did not take (or whose taking was not
    noted) is the sweep's, which hands it over again (the sender's claim sends it once)."""
    if not message_ids:
        return
    taken = queues.send_mail(message_ids)
    # Whatever SQS took: a sweep comes 15 minutes from now (or sooner) and sees what it did not.
    queues.request_sweep()
    if len(taken) < len(message_ids):
        logger.warning(
            "SQS did not take every message; the sweep hands them over", extra={"left": len(message_ids) - len(taken)}
        )
        metrics.add_metric(name="MailHandOffFailed", unit=MetricUnit.Count, value=len(message_ids) - len(taken))
    if not taken:
        return
    try:
        with db.statement() as conn:
            db.messages.enqueued(conn, taken)
    except ServiceUnavailable:
        logger.exception("The messages handed over were not noted; the sweep hands them over again")


def change_email(caller: Caller, exam_id: str, nickname: str, change: EmailChangeIn) -> db.students.StudentRow:
    """Give the student another address (or none). An address that bounced hard or complained is
    refused: nothing can be sent to it. The same address again (once normalized) changes nothing.
    Another address starts afresh (no state), and what was queued to the old one and not yet
    claimed by the sender is not sent (skipped); the limits per student stay. The log says that
    it was set, changed or removed, never the address."""
    with db.transaction() as conn:
        exam = db.exams.exam_of(conn, caller.api_key_id, exam_id, action=Action.STUDENT_ADD)
        if change.email is not None:
            suppressed = db.suppressions.suppression(conn, normalized_address(change.email))
            if suppressed is not None:
                raise AddressSuppressed(suppressed_sentence(suppressed.reason, suppressed.since, suppressed.detail))
        changed = db.student_mail.change_email(conn, exam.exam_pk, nickname, change.email)
        if changed is None:
            raise NotFound(NO_STUDENT)
        if changed.changed:
            skipped = db.messages.skip_queued(conn, changed.student.id)
            event = Event(
                member_actor(exam, caller),
                AuditAction.STUDENT_EMAIL_CHANGED,
                f"student:{changed.student.pseudonym}",
                after={"email": _email_change(changed.before, change.email)},
                subjects=(changed.student.pseudonym,),
            )
            db.audit.append(conn, exam.exam_pk, [event])
            if skipped:
                logger.info("Messages queued to the old address skipped", extra={"exam_id": exam_id, "n": skipped})
    return changed.student


def _email_change(before: str | None, after: str | None) -> Literal["set", "changed", "removed"]:
    """What the log records of an address's change, without the address."""
    if before is None:
        return "set"
    return "removed" if after is None else "changed"
