"""Signed checkpoints of an exam's audit log: the head of its chain (seq, hash), signed with the
receipts' KMS key, when the exam closes, when it is exported, and by the expiry job once its last
cut-off passed. A checkpoint is what a consistent rewrite of the log's tail cannot forge.

This is the only use case of the audit log that reaches KMS: the functions that sign are handed
`sign_checkpoint` (as the reconcile job is handed the recorder's `record_objects`), so that only
they need `kms:Sign` (tests/unit/test_network.py follows each function's imports).
"""

from __future__ import annotations

import time

# The aggregates named below as db.*, loaded at init: the db package loads each on demand.
import exam_depository.adapters.db.audit
import exam_depository.adapters.db.receipts  # noqa: F401
from exam_depository.adapters import db, signing
from exam_depository.adapters.signing import SigningSettings
from exam_depository.config import load
from exam_depository.domain.audit import CheckpointReason
from exam_depository.domain.audit_log import Head, checkpoint_claims

CHECKPOINT_TYP = "audit-checkpoint+jwt"


def sign_checkpoint(exam_pk: int, reason: CheckpointReason, head: Head | None = None) -> str | None:
    """Sign and keep a checkpoint of the exam's chain at `head` (by default its head now); returns
    the token, or None when the exam is gone. KMS unavailable leaves as ServiceUnavailable."""
    # `domain.jws` loads the JOSE library and cryptography: only a function that signs pays for it.
    from exam_depository.domain import jws

    key = signing.signing_key()
    with db.transaction() as conn:
        exam = db.audit.checkpointed_exam(conn, exam_pk)
        if exam is None:
            return None
        head = head or db.audit.head(conn, exam_pk)
        db.receipts.ensure_published(conn, key)
        claims = checkpoint_claims(
            deployment=load(SigningSettings).deployment,
            exam_id=exam.exam_id,
            exam_created_at=exam.created_at,
            seq=head.seq,
            hash=head.hash,
            at=head.at,
            reason=reason,
            issued_at=int(time.time()),
        )
        token = jws.sign(key, claims, signing.sign, typ=CHECKPOINT_TYP)
        db.audit.insert_checkpoint(conn, exam_pk, head, reason, token)
    return token
