"""What ops do (make assign-exam, make link-key, make unsuppress, make migrate-remote) and what a
deployment does (the stack's migrations), never a route: who owns which exam, the addresses mail
no longer goes to, and the schema."""

from __future__ import annotations

from typing import Any

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.exams
import exam_depository.adapters.db.ownership
import exam_depository.adapters.db.suppressions  # noqa: F401
from exam_depository.adapters import db, deployment
from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.audit import Actor, AuditAction, Event
from exam_depository.domain.deployment import MigrationFailed, layer_version, migration_step
from exam_depository.domain.errors import NotFound
from exam_depository.observability import logger


def assign_exam(exam_id: str, api_key_id: str, *, request_id: str | None = None) -> int:
    """Give an exam that belongs to no one (the legacy exam of an upgrade) to the examiner of an
    API key (a key never used yet becomes a new examiner), its owner from now on; returns how many
    exams moved. Each records it in its audit log (actor `ops`; `request_id`: the invocation's)."""
    with db.transaction() as conn:
        moved = db.ownership.assign_exam(conn, exam_id, db.exams.examiner_for_key(conn, api_key_id))
        if not moved:
            raise NotFound(f"No unowned exam has the id {exam_id}.")
        for exam in moved:
            event = Event(
                Actor("ops", None, request_id), AuditAction.EXAM_ASSIGNED, "exam", after={"owner": str(exam.member_id)}
            )
            db.audit.append(conn, exam.exam_pk, [event])
    return len(moved)


def link_key(new_api_key_id: str, existing_api_key_id: str) -> None:
    """A rotated key: the new key's examiner is the old key's, so their exams stay theirs."""
    with db.transaction() as conn:
        examiner_id = db.ownership.known_examiner(conn, existing_api_key_id)
        if examiner_id is None:
            raise NotFound("The existing key belongs to no examiner yet: it never created nor joined an exam.")
        db.ownership.link_key(conn, new_api_key_id, examiner_id)


def unsuppress(address: str) -> bool:
    """Lift a bounce's or a complaint's suppression of an address (SES keeps a list of its own:
    docs/OPERATIONS.md, Mail); False when it was not suppressed. ValueError for a text that is no
    address mail could go to."""
    with db.transaction() as conn:
        return db.suppressions.lift_suppression(conn, normalized_address(address))


def migrate() -> list[str]:
    """Apply every pending migration; returns the ids applied.

    The database is reached first as every function reaches it, waiting up to DB_CONNECT_WAIT_S
    while it is full or resuming (a paused Aurora takes 15 to 30 s): yoyo's own connections would
    wait for no one. That connection is closed before yoyo opens its own two (its lock's and the
    migration's): a warm migration function holds none of the database's connections."""
    from exam_depository.adapters.db import schema  # yoyo: loaded by the migration function only

    with db.transaction() as conn:
        db.exams.wake(conn)
    db.reset()
    return schema.migrate(db.database_url())


def migrate_for_deployment(event: dict[str, Any], *, log_stream: str) -> None:
    """CloudFormation's request for the stack's migrations (its custom resource): migrate, or leave
    the database alone (`domain.deployment.migration_step`), and answer CloudFormation whatever
    happened. An answer that never comes holds the deployment for the resource's ServiceTimeout;
    FAILED fails it, and CloudFormation rolls it back.

    The reason CloudFormation shows in the stack's events names the migration and the error's
    class, never the database's message (it can quote the rows) and never a credential; the whole
    error goes to this function's log, which the reason names."""
    request = deployment.request_of(event)
    layer, previous_layer = _layer_of(request.properties), _layer_of(request.old_properties)
    about = {
        "request_type": request.request_type,
        "resource": request.physical_resource_id,
        "layer_version": _version_of(layer),
        "previous_layer_version": _version_of(previous_layer),
    }
    try:
        step = migration_step(request.request_type, layer, previous_layer)
        applied = migrate() if step == "migrate" else []
    except Exception as exc:  # whatever failed, CloudFormation must be told, or it waits
        failure = str(exc) if isinstance(exc, MigrationFailed) else f"Migrating failed: {type(exc).__name__}"
        logger.exception("The deployment's migrations failed: the deployment fails", extra=about | {"failure": failure})
        deployment.respond(request, "FAILED", f"{failure}. The details are in the log stream {log_stream}.")
        return
    if step == "skip":
        done = (
            "Delete: the database is left as it is"
            if request.request_type == "Delete"
            else "Rollback to an older layer: its migrations are left applied, none is run"
        )
    else:
        done = f"Applied {len(applied)} migration(s)" if applied else "No migration was pending"
    logger.info(f"The deployment's migrations: {done}", extra=about | {"applied": applied})
    deployment.respond(request, "SUCCESS", done, {"Applied": ",".join(applied)})


def _layer_of(properties: dict[str, Any]) -> str | None:
    """The resource's SharedLayer property: the shared layer's version ARN, as the template gives it."""
    layer = properties.get("SharedLayer")
    return layer if isinstance(layer, str) else None


def _version_of(layer: str | None) -> int | None:
    found = layer_version(layer)
    return None if found is None else found[1]
