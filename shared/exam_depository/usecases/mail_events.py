"""What SES said about the messages it accepted (its configuration set's events, through
EventBridge and the mail events queue): each message's state, its student's `email_state`, and
the addresses that bounced for good or complained, never mailed again."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field

# The aggregate named below as db.messages, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.messages  # noqa: F401
from exam_depository.adapters import db
from exam_depository.config import EnvSettings
from exam_depository.domain.errors import ServiceUnavailable
from exam_depository.domain.mail_events import Ignored, MailEvent
from exam_depository.observability import logger


class MailEventsSettings(EnvSettings):
    """The events function's: the configuration set our messages name (template.yaml's
    ConfigurationSetName, or the stack's name), whose events are ours on the account's default bus."""

    configuration_set: str = Field(alias="CONFIGURATION_SET", pattern=r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class MailEventBatch:
    """What became of a batch of events: how many were applied to a message of ours, how many
    were about none (or not ours at all), how many suppressed an address, and the indices to retry."""

    applied: int = 0
    unmatched: int = 0
    suppressed: int = 0
    failed: set[int] = field(default_factory=set)


def record_mail_events(events: list[MailEvent | Ignored]) -> MailEventBatch:
    """Apply each event in a transaction of its own (an event touches one message and at most one
    address: one that fails leaves the others applied). Idempotent whatever the order and the
    repetitions: a state only advances. A database that fails fails this event and every later
    one (SQS delivers them again); those before it stay applied. Any other error fails its event
    alone (SQS retries it, then its dead-letter queue keeps it)."""
    batch = MailEventBatch()
    for index, event in enumerate(events):
        if isinstance(event, Ignored):
            batch.unmatched += 1
            continue
        try:
            with db.transaction() as conn:
                applied = db.messages.apply_event(conn, event)
        except ServiceUnavailable:
            logger.exception("Mail events could not be recorded; SQS delivers them again")
            batch.failed |= {later for later in range(index, len(events)) if isinstance(events[later], MailEvent)}
            return batch
        except Exception:  # this event's own fault (a value the database refuses): the others go on
            logger.exception("A mail event could not be recorded", extra={"event_id": event.event_id})
            batch.failed.add(index)
            continue
        if not applied.matched:
            # A message deleted with its exam, or sent by something else through our configuration set.
            logger.info("A mail event about no message", extra={"kind": event.kind, "event_id": event.event_id})
            batch.unmatched += 1
            continue
        batch.applied += 1
        if applied.suppressed:
            batch.suppressed += 1
    return batch
