"""The domain's exceptions. Each kind of refusal carries its HTTP status and its stable problem
type, so `http.py` maps every one of them without a table that could miss a class."""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar, Literal


class DomainError(Exception):
    """Base of every error a client may be told about. `detail` is safe to show to a client.

    A subclass must name its `status` and `kind` (the last part of its problem type): defining
    one without them fails at import, so no refusal can reach the error map unmapped.
    """

    title: ClassVar[str]
    status: ClassVar[HTTPStatus]
    kind: ClassVar[str]
    # When asking again may be answered (the Retry-After header), for a refusal that passes.
    retry_after_s: int | None = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        missing = [name for name in ("title", "status", "kind") if name not in cls.__dict__]
        if missing:
            raise TypeError(f"{cls.__name__} must define {', '.join(missing)}")

    def __init__(
        self, detail: str, errors: list[dict[str, object]] | None = None, extra: dict[str, object] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        # Further members of the problem object (RFC 9457 extension members), e.g. `opens_at`.
        self.extra = extra or {}


class NotFound(DomainError):
    title = "Not found"
    status = HTTPStatus.NOT_FOUND
    kind = "not-found"


class RoleForbids(DomainError):
    """A member of the exam asked for what their role does not allow (`domain.access`): the
    problem names the role and the action as members `role` and `action`."""

    title = "Your role does not allow this"
    status = HTTPStatus.FORBIDDEN
    kind = "role-forbids"


class Conflict(DomainError):
    title = "Conflict"
    status = HTTPStatus.CONFLICT
    kind = "conflict"


class AttemptsUsed(DomainError):
    title = "No attempts left"
    status = HTTPStatus.CONFLICT
    kind = "attempts-used"


class LimitBelowUsed(DomainError):
    """A change would leave a student with more attempts used than allowed (rule 1)."""

    title = "The limit would be below what a student used"
    status = HTTPStatus.CONFLICT
    kind = "limit-below-used"


class ExamNotOpen(DomainError):
    title = "The exam is not open yet"
    status = HTTPStatus.CONFLICT
    kind = "exam-not-open"


class ExamClosed(DomainError):
    title = "The exam is closed"
    status = HTTPStatus.CONFLICT
    kind = "exam-closed"


class NotStarted(DomainError):
    """A timed exam's student asked for what needs their clock running (a form, the paper)."""

    title = "The attempt has not started"
    status = HTTPStatus.CONFLICT
    kind = "not-started"


class NoTimeLeft(DomainError):
    """A timed exam's student would start when no time is left: its due time has passed."""

    title = "No time is left to start"
    status = HTTPStatus.CONFLICT
    kind = "no-time-left"


class NotTimed(DomainError):
    """Starting an attempt of an exam that has no time limit."""

    title = "The exam is not timed"
    status = HTTPStatus.CONFLICT
    kind = "not-timed"


class PaperLocked(DomainError):
    """The question paper can no longer be replaced: the exam has opened."""

    title = "The question paper can no longer be replaced"
    status = HTTPStatus.CONFLICT
    kind = "paper-locked"


class NoPaper(DomainError):
    title = "The exam has no question paper"
    status = HTTPStatus.NOT_FOUND
    kind = "no-paper"


class NotScanned(DomainError):
    """A file not yet known to be free of malware: still being scanned, or not scannable and not
    released by the exam's owner (member `scan`)."""

    title = "This file has not been scanned for malware"
    status = HTTPStatus.CONFLICT
    kind = "not-scanned"


class Threat(DomainError):
    """A file in which malware was found: quarantined, never downloaded (members `scan`, `scan_detail`)."""

    title = "Malware was found in this file"
    status = HTTPStatus.CONFLICT
    kind = "threat"


class NotReleasable(DomainError):
    """A release asked of a file that was scanned (clean or a threat) or is being scanned (member `scan`)."""

    title = "This file cannot be released"
    status = HTTPStatus.CONFLICT
    kind = "not-releasable"


class TooManyOpenForms(DomainError):
    title = "Too many open upload forms"
    status = HTTPStatus.TOO_MANY_REQUESTS
    kind = "too-many-open-forms"


class MailNotConfigured(DomainError):
    """Mail was asked for where the deployment sends none (no sender address)."""

    title = "This deployment sends no mail"
    status = HTTPStatus.CONFLICT
    kind = "mail-not-configured"


class SendingTooOften(DomainError):
    """An exam's codes were sent moments ago (a double click): asked again after `retry_after_s`."""

    title = "Codes were sent a moment ago"
    status = HTTPStatus.TOO_MANY_REQUESTS
    kind = "sending-too-often"

    def __init__(
        self,
        detail: str,
        errors: list[dict[str, object]] | None = None,
        extra: dict[str, object] | None = None,
        *,
        retry_after_s: int = 10,
    ) -> None:
        super().__init__(detail, errors, {**(extra or {}), "retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class AddressSuppressed(DomainError):
    """An address that bounced hard or complained: nothing is sent to it, so it is not given."""

    title = "This address cannot be mailed"
    status = HTTPStatus.CONFLICT
    kind = "address-suppressed"


class Gone(DomainError):
    title = "Gone"
    status = HTTPStatus.GONE
    kind = "gone"


class KeyRequired(DomainError):
    """A route only an API key's holder may call, called with a session from an LMS."""

    title = "An API key is required"
    status = HTTPStatus.FORBIDDEN
    kind = "key-required"


class SessionRequired(DomainError):
    """A route only a session from an LMS may call, called with an API key."""

    title = "A session from the LMS is required"
    status = HTTPStatus.FORBIDDEN
    kind = "session-required"


class NoRosterService(DomainError):
    """A sync was asked for where no course has told us where its class list is."""

    title = "The course has no class list for us yet"
    status = HTTPStatus.CONFLICT
    kind = "lti-no-roster-service"


class DeepLinkUsed(DomainError):
    """A deep-linking request answered already, or too old."""

    title = "This choice was made already"
    status = HTTPStatus.GONE
    kind = "lti-deep-link-used"


class TicketUsed(DomainError):
    """A learner's landing ticket used already, or too old."""

    title = "This link was used already"
    status = HTTPStatus.GONE
    kind = "lti-ticket-used"


class LmsUnavailable(DomainError):
    """The LMS did not answer, or answered with an error: the problem carries `platform_status`
    (its HTTP status, or null when it did not answer)."""

    title = "The LMS did not answer"
    status = HTTPStatus.BAD_GATEWAY
    kind = "lms-unavailable"


class RegistrationExists(Conflict):
    """The platform (issuer and client id) is registered already, by another owner or with other URLs."""

    title = "This platform is registered already"
    status = HTTPStatus.CONFLICT
    kind = "registration-exists"


class InvalidInput(DomainError):
    title = "Invalid input"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    kind = "invalid-input"


class InvalidQuery(DomainError):
    """A query string the route cannot answer as asked: a search text out of bounds, a search of
    a download that is the whole roster, a cursor of another search."""

    title = "Invalid query"
    status = HTTPStatus.BAD_REQUEST
    kind = "invalid-query"


class PayloadTooLarge(DomainError):
    title = "Payload too large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    kind = "payload-too-large"


class UnsupportedMediaType(DomainError):
    title = "Unsupported media type"
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    kind = "unsupported-media-type"


class TypeNotAccepted(DomainError):
    """A form asked for a file whose name is of no kind the exam accepts: the problem carries the
    exam's `accepted_types` and the picker's `accept` attribute."""

    title = "This exam does not accept this type of file"
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    kind = "type-not-accepted"


class ServiceUnavailable(Exception):
    """An outside system (PostgreSQL, S3) failed; the request may succeed if retried.

    Not a DomainError: its message is for the logs, never for the client. `service` names the
    system where it is known ("S3", "PostgreSQL"), for a reason given to people (a failed export).
    `reason` says what a client is told: `busy` (the database is full: every connection it allows
    is taken), `starting` (it does not answer yet: a paused database resuming), `credentials`
    (it refused the password of the secret, read afresh: a rotation not yet seen by every reader
    of the secret), `unavailable` (anything else); `retry_after_s` is when a retry may be served.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        reason: Literal["busy", "starting", "credentials", "unavailable"] = "unavailable",
        retry_after_s: int = 5,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.reason = reason
        self.retry_after_s = retry_after_s
