"""The LTI worker: the jobs queue's batches (`{"kind": "score", "id"}`: send a hand-in status to its
gradebook; `{"kind": "sync", "link_id"}`: read a course's class list) and the schedule's
`{"kind": "tick"}` (template.yaml: every 6 hours; the scores' sweep, the purge, the syncs that fall due).

A score the platform could not take now (429, 5xx, no answer) is given back in batchItemFailures:
SQS delivers it again after its visibility, five times before the dead-letter queue; the table
stays the truth, and the tick's sweep hands over again what SQS dropped. An unreadable body fails
until the dead-letter queue takes it."""

import json
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.typing import LambdaContext
from exam_depository.observability import logger, metrics
from exam_depository.usecases import lti_services


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("kind") == "tick":
        return lti_services.tick()
    scores: dict[UUID, str] = {}
    failed: list[str] = []
    for record in event["Records"]:
        try:
            kind, target = lti_services.parse_job(json.loads(record["body"]))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            logger.exception("Unreadable LTI job; it goes to the dead-letter queue after its retries")
            failed.append(record["messageId"])
            continue
        if kind == "score":
            scores[target] = record["messageId"]
            continue
        try:
            lti_services.sync_link(target, "schedule", lti_services.SYSTEM)
        except Exception:
            logger.exception("A scheduled roster sync failed; SQS delivers it again")
            failed.append(record["messageId"])
    if scores:
        retry = lti_services.send_scores(list(scores))
        failed += [scores[score_id] for score_id in retry]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
