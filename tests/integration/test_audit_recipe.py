"""docs/AUDIT.md's offline verifier, run exactly as written: on an export's audit.csv and its
signed checkpoint it says the chain is intact; on a log changed after the export it names the
first event that does not hold, and a tail rewritten consistently is caught by the checkpoint."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from exam_depository.adapters import db
from exam_depository.domain import audit
from exam_depository.domain.filenames import AUDIT_CHECKPOINT, AUDIT_LOG
from exam_depository.usecases import checkpoints

from tests.audit_recipe import verify_offline
from tests.conftest import ROOT
from tests.integration.conftest import EXAM, Api
from tests.integration.test_exports import _build_queued, _start, _zip

ARTIFACTS = ROOT / "test-artifacts"


def exam_pk(database_url: str, exam_id: str = EXAM) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM exam WHERE slug = %s", (exam_id,)).fetchone()
    assert row is not None
    return int(row[0])


def some_events(exam_pk: int, count: int) -> None:
    """Events such as the use cases append, with text a CSV must quote."""
    owner = audit.Actor("0b5c3f0e-8d2a-4c1e-9f3b-6a7d8e9f0a1b", None, "5b8e0c4e-7f7a-4d51-9a0e-2f3c1f0b9a11")
    with db.transaction() as conn:
        db.audit.append(
            conn,
            exam_pk,
            [
                audit.Event(
                    owner,
                    audit.AuditAction.EXTENSION_SET,
                    f"student:anon-{n:06d}",
                    before={"due_at": None},
                    after={"due_at": "2026-12-14T10:00:00Z", "note": 'Zoë, «late» "train", 😀'},
                    subjects=(f"anon-{n:06d}",),
                )
                for n in range(count)
            ],
        )


def exported_log(api: Api, handler: Callable[[str], ModuleType], database_url: str) -> tuple[bytes, str, Any]:
    """An export's audit.csv and checkpoint, and the deployment's published keys."""
    export_id = _start(api)
    assert _build_queued(handler) == ["done"]
    archive = _zip(database_url, export_id)
    jwks = api.call("get_jwks", "keys").body
    return archive.read(AUDIT_LOG), archive.read(AUDIT_CHECKPOINT).decode(), jwks


def _rows(log: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(log.decode(), newline="")))


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def test_the_documented_verifier_passes_an_exported_log_and_names_where_a_changed_one_breaks(
    api: Api, handler: Callable[[str], ModuleType], database_url: str, tmp_path: Path
) -> None:
    # Given an exam with events, exported
    some_events(exam_pk(database_url), 4)
    log, checkpoint, jwks = exported_log(api, handler, database_url)
    rows = _rows(log)
    events = len(rows) - 1
    assert events >= 5  # the four, and the export's start

    # When the verifier checks the ZIP's files as they are
    intact = verify_offline(tmp_path / "intact", log, checkpoint, jwks)

    # Then the chain is intact up to the signed head
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"chain intact: {events} events; checkpoint at seq {events} (exported 20")

    # And a changed value breaks the chain at its event
    changed = [list(row) for row in rows]
    changed[3][7] = changed[3][7].replace("2026-12-14T10:00:00Z", "2026-12-15T10:00:00Z")
    broken = verify_offline(tmp_path / "changed", _csv(changed), checkpoint, jwks)
    assert (broken.returncode, broken.stderr.strip()) == (1, "broken at seq 3: its hash does not match the event")

    # And a removed event breaks it where it was
    removed = verify_offline(tmp_path / "removed", _csv(rows[:2] + rows[3:]), checkpoint, jwks)
    assert (removed.returncode, removed.stderr.strip()) == (1, "broken at seq 2: the row there is not event 2")

    # And a tail rewritten consistently, every hash recomputed, holds as a chain: the checkpoint catches it
    rewritten = [list(row) for row in rows]
    rewritten[2][7] = rewritten[2][7].replace("2026-12-14T10:00:00Z", "2026-12-15T10:00:00Z")
    for previous, row in itertools.pairwise(rewritten[1:]):
        row[9] = previous[10]
        body = audit.canonical(
            {
                "actor": row[2],
                "role": row[3] or None,
                "action": row[4],
                "target": row[5],
                "before": json.loads(row[6]) if row[6] else None,
                "after": json.loads(row[7]) if row[7] else None,
                "request_id": row[8] or None,
            }
        )
        row[10] = hashlib.sha256(f"{row[9]}\n{row[0]}\n{row[1]}\n{body}".encode()).hexdigest()
    caught = verify_offline(tmp_path / "rewritten", _csv(rewritten), checkpoint, jwks)
    assert (caught.returncode, caught.stderr.strip()) == (
        1,
        f"broken at seq {events}: its hash is not the one the checkpoint signed",
    )

    # (what the verifier said, for the closing note of a change: the artifacts CI keeps)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "audit-verifier.txt").write_text(
        "".join(
            f"$ python verify.py   # {case}\n{run.stdout}{run.stderr}exit status {run.returncode}\n\n"
            for case, run in (
                ("the export's audit.csv as it is", intact),
                ("event 3's after changed", broken),
                ("event 2 removed", removed),
                ("event 3 changed, every later hash recomputed", caught),
            )
        )
    )

    # And a checkpoint that is not the deployment's, or is cut, is refused
    header, claims, signature = checkpoint.split(".")
    forged = f"{header}.{claims[:-2]}{'A' if claims[-2] != 'A' else 'B'}{claims[-1]}.{signature}"
    refused = verify_offline(tmp_path / "forged", log, forged, jwks)
    assert refused.returncode == 1
    assert refused.stderr.startswith("the checkpoint is not genuine")


def test_the_documented_verifier_refuses_a_checkpoint_that_vouches_for_no_event(
    api: Api, handler: Callable[[str], ModuleType], database_url: str, tmp_path: Path
) -> None:
    # Given a genuine checkpoint of an exam with no event yet (as the expiry job signs one of an
    # exam from before the audit log): its head is the genesis, the same in every exam
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
               VALUES ('older', 'Older', now(), now(), now(), 'UTC', 3) RETURNING id"""
        ).fetchone()
    assert row is not None
    empty = checkpoints.sign_checkpoint(int(row[0]), "closed")
    assert empty is not None
    # And another exam's log, as anyone could write it
    some_events(exam_pk(database_url), 2)
    log, _, jwks = exported_log(api, handler, database_url)

    # When the verifier checks that log against the empty log's checkpoint
    verdict = verify_offline(tmp_path / "genesis", log, empty, jwks)

    # Then it says the checkpoint vouches for nothing, rather than that the chain is intact
    assert (verdict.returncode, verdict.stderr.strip()) == (
        1,
        "the checkpoint is of an empty log (seq 0): it vouches for no event",
    )
