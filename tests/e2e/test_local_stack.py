"""The product over real HTTP: gateway, real multipart POSTs to an S3 that enforces the policy,
notifications flowing through SQS to the record function, PostgreSQL underneath."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from typing import Any

import pytest
import requests
from exam_depository.domain.exam_inputs import DEFAULT_MAX_ATTEMPTS

from local_stack.client import ApiClient
from tests.conftest import FIGURES
from tests.e2e.conftest import EXAM, Stack
from tests.waiting import wait_until

MIB3 = 3 * 1024 * 1024


def test_examiner_routes_need_the_key(stack: Stack) -> None:
    for headers in ({}, {"x-api-key": "wrong"}):
        response = requests.get(stack.url(f"exams/{EXAM}/students"), headers=headers, timeout=10)
        assert response.status_code == 403
        assert response.json() == {"message": "Forbidden"}
    assert stack.students(EXAM).status_code == 200


def test_upload_record_verify_and_download_the_same_bytes(stack: Stack) -> None:
    # Given a student and a presigned form
    student = stack.create_student(EXAM, "e2e.flow")
    presign = stack.presign(student["upload_code"], "Réponses finales.pdf")
    assert presign.status_code == 201
    form = presign.json()
    content = b"%PDF-1.7\n" + bytes(range(256)) * 1000

    # When the file is POSTed straight to S3
    upload = stack.post_form(form, content)

    # Then S3 takes it, the notification records it, and the student sees its verification code
    assert upload.status_code == 204, upload.text
    stack.wait_until_settled(student["upload_code"], form["upload_id"])
    current = stack.wait_until_scanned(student["upload_code"])["current"]
    assert current["upload_id"] == form["upload_id"]
    assert current["sha256"] == hashlib.sha256(content).hexdigest()
    assert current["scan"] == "clean"

    # And, once its malware scan found it clean, a reviewer downloads exactly those bytes, as an
    # attachment with the original name
    link = stack.download_link(current["verification_code"])
    assert link.status_code == 200
    download = requests.get(link.json()["url"], timeout=10)
    assert download.status_code == 200
    assert download.content == content
    assert "filename*=UTF-8''R%C3%A9ponses%20finales.pdf" in download.headers["Content-Disposition"]


def test_s3_refuses_a_file_over_3_mib_and_nothing_is_recorded(stack: Stack) -> None:
    student = stack.create_student(EXAM, "e2e.large")
    form = stack.presign(student["upload_code"]).json()

    refused = stack.post_form(form, b"x" * (MIB3 + 1))
    at_the_limit = stack.presign(student["upload_code"]).json()
    accepted_at_limit_elsewhere = stack.post_form(at_the_limit, b"x" * MIB3)

    assert refused.status_code == 400
    assert "EntityTooLarge" in refused.text
    assert accepted_at_limit_elsewhere.status_code == 204
    # The later upload's notification is recorded: one for the earlier POST would have come first
    progress = stack.wait_until_settled(student["upload_code"], at_the_limit["upload_id"])
    assert progress["attempts_used"] == 1
    assert form["fields"]["key"] not in stack.object_keys()
    assert next(u for u in progress["uploads"] if u["upload_id"] == form["upload_id"])["status"] == "pending"


@pytest.mark.parametrize("tamper", ["other key", "bigger size in policy", "other content type", "expired"])
def test_s3_refuses_a_tampered_or_expired_form(stack: Stack, tamper: str) -> None:
    student = stack.create_student(EXAM, "e2e.tamper." + tamper.replace(" ", "-"))
    form = stack.presign(student["upload_code"]).json()
    fields = dict(form["fields"])
    if tamper == "other key":
        fields["key"] = fields["key"].rsplit("/", 1)[0] + "/../someone-else.pdf"
    elif tamper == "bigger size in policy":
        policy = json.loads(base64.b64decode(fields["policy"]))
        policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
        fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    elif tamper == "other content type":
        fields["Content-Type"] = "text/html"
    else:  # the same form as the server would sign it, but already past its expiry
        expired = stack.s3.generate_presigned_post(
            Bucket=stack.bucket,
            Key=fields["key"],
            Fields={"Content-Type": "application/pdf"},
            Conditions=[{"key": fields["key"]}, {"Content-Type": "application/pdf"}],
            ExpiresIn=-1,
        )
        fields = expired["fields"]

    response = stack.post_form(form, b"%PDF tampered", fields)

    assert response.status_code == 403, response.text
    assert any(code in response.text for code in ("AccessDenied", "SignatureDoesNotMatch"))
    assert form["fields"]["key"] not in stack.object_keys()


def _upload_and_settle(stack: Stack, student: dict[str, Any], content: bytes) -> dict[str, Any]:
    """Hand in and wait until the file is recorded and its malware scan has ended: an earlier file
    stands in for one still being scanned (rule 14), so what is superseded depends on the scan."""
    form = stack.presign(student["upload_code"]).json()
    assert stack.post_form(form, content).status_code == 204
    stack.wait_until_settled(student["upload_code"], form["upload_id"])
    return stack.wait_until_scanned(student["upload_code"])


def test_resubmissions_supersede_and_the_sixth_is_refused(stack: Stack) -> None:
    student = stack.create_student(EXAM, "e2e.resubmit")
    first = _upload_and_settle(stack, student, b"%PDF first")["current"]

    second = _upload_and_settle(stack, student, b"%PDF second")["current"]

    old = stack.verification(first["verification_code"]).json()
    assert old["status"] == "superseded"
    gone = stack.download_link(first["verification_code"])
    assert gone.status_code == 410
    assert gone.headers["Content-Type"] == "application/problem+json"
    assert [k for k in stack.object_keys() if second["upload_id"] in k]

    for attempt in range(3):
        _upload_and_settle(stack, student, f"%PDF attempt {attempt}".encode())
        # The first file goes at the latest with the next recording after the second was found
        # clean (until then it may have been kept in place of the second, still being scanned).
        assert not [k for k in stack.object_keys() if first["upload_id"] in k]
    sixth = stack.presign(student["upload_code"])
    assert sixth.status_code == 409
    assert sixth.json()["title"] == "No attempts left"
    assert stack.progress(student["upload_code"])["attempts_used"] == 5


def test_a_poison_message_is_retried_then_lands_in_the_dead_letter_queue(stack: Stack) -> None:
    # Given a notification the record function cannot process (no key, no sequencer)
    poison = json.dumps({"Records": [{"eventName": "ObjectCreated:Post", "s3": {"object": {}}}]})
    sent = stack.sqs.send_message(QueueUrl=stack.info["queue_url"], MessageBody=poison)

    # Then after maxReceiveCount (5) failed deliveries it is in the dead-letter queue, not lost
    deadline = time.monotonic() + 40
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        messages = stack.sqs.receive_message(
            QueueUrl=stack.info["dead_letter_queue_url"], WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        found = [m for m in messages if m["MessageId"] == sent["MessageId"]]
    assert found, "the poison message never reached the dead-letter queue"
    assert int(found[0]["Attributes"]["ApproximateReceiveCount"]) >= 5
    assert found[0]["Body"] == poison


def test_the_deploy_smoke_test_passes_against_the_local_stack(stack: Stack) -> None:
    from scripts.ops import smoke

    smoke(stack, timeout_s=20)

    exams = stack.exams(limit=100).json()
    assert not [e for e in exams["items"] if e["exam_id"].startswith("smoke-")]  # it cleaned up


def test_make_redrive_moves_dead_lettered_messages_back_to_the_queue(stack: Stack) -> None:
    # Given a recordable notification that was dead-lettered while, say, the database was down
    student = stack.create_student(EXAM, "e2e.redrive")
    form = stack.presign(student["upload_code"]).json()
    notification: dict[str, Any] = {
        "Records": [
            {
                "eventName": "ObjectCreated:Post",
                "eventTime": "2026-11-25T09:00:00.000Z",
                "s3": {"object": {"key": form["fields"]["key"].replace(" ", "+"), "size": 9, "sequencer": "0A"}},
            }
        ]
    }
    stored = stack.s3.put_object(
        Bucket=stack.bucket, Key=form["fields"]["key"], Body=b"%PDF late", ContentType="application/pdf"
    )
    notification["Records"][0]["s3"]["object"]["versionId"] = stored["VersionId"]
    stack.sqs.send_message(QueueUrl=stack.info["dead_letter_queue_url"], MessageBody=json.dumps(notification))

    # When ops redrive the dead-letter queue
    done = stack.make("redrive")

    # Then the upload is recorded
    moved = re.search(r"moved (\d+) message", done.stdout)
    assert moved is not None, done.stdout
    assert int(moved.group(1)) >= 1
    progress = stack.wait_until_settled(student["upload_code"], form["upload_id"])
    assert progress["current"]["upload_id"] == form["upload_id"]


def test_make_reconcile_finds_a_file_removed_by_hand_and_refuses_its_link(stack: Stack) -> None:
    # Given a recorded file whose version someone deleted from the bucket for good
    student = stack.create_student(EXAM, "e2e.reconcile")
    form = stack.presign(student["upload_code"]).json()
    posted = stack.post_form(form, b"%PDF reconciled")
    assert posted.status_code == 204
    current = stack.wait_until_settled(student["upload_code"], form["upload_id"])["current"]
    version = posted.headers["x-amz-version-id"]
    stack.s3.delete_object(Bucket=stack.bucket, Key=form["fields"]["key"], VersionId=version)

    # When ops run the reconcile job (no grace: the file was recorded seconds ago)
    done = stack.make("reconcile", RECONCILE_GRACE_S="0")

    # Then it reports the loss and the reviewer's link is refused instead of pointing at nothing
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["lost"] == 1
    assert report["failed"] == 0
    link = stack.download_link(current["verification_code"])
    assert link.status_code == 410
    assert link.headers["Content-Type"] == "application/problem+json"


def test_twenty_parallel_uploads_for_one_student_record_five_and_leave_one_file(stack: Stack) -> None:
    from scripts.soak import race_trial

    trials = [race_trial(stack, EXAM, stack.s3, stack.bucket, uploads=20) for _ in range(3)]

    for trial in trials:
        assert trial.broken_rules() == [], trial
        # The race happened: every form was in hand before any file was posted (race_trial waits
        # for all of them), S3 took every one, and more uploads than the limit went to it together.
        assert trial.uploaded == trial.forms > DEFAULT_MAX_ATTEMPTS, trial
    FIGURES["parallel-upload race trials in make test (20 uploads each)"] = len(trials)


def test_the_race_happens_even_when_each_form_is_served_after_the_uploads_before_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts import soak

    # Given the order of events a busy machine fell into (the race test then saw 5 forms and no
    # race): forms served one at a time, each only once every upload posted before it is settled
    posted: set[str] = set()
    serving = threading.Lock()

    class BusyMachine(ApiClient):
        def presign(
            self,
            upload_code: str,
            filename: str = "answers.pdf",
            content_type: str = "application/pdf",
            sha256: str | None = None,
        ) -> requests.Response:
            with serving:
                for upload_id in list(posted):
                    self.wait_until_settled(upload_code, upload_id)
                return super().presign(upload_code, filename, content_type, sha256)

        def post_form(
            self,
            form: dict[str, Any],
            content: bytes,
            fields: dict[str, str] | None = None,
            filename: str = "answers.pdf",
        ) -> requests.Response:
            posted.add(form["upload_id"])
            return super().post_form(form, content, fields, filename)

    monkeypatch.setattr(soak, "ApiClient", BusyMachine)

    # When a race trial runs
    trial = soak.race_trial(stack, EXAM, stack.s3, stack.bucket, uploads=20)

    # Then it took every form before posting any: more uploads than the limit still raced
    assert trial.broken_rules() == [], trial
    assert trial.uploaded == trial.forms > DEFAULT_MAX_ATTEMPTS, trial


@pytest.mark.parametrize(("origin", "allowed"), [("api", True), ("https://evil.example", False)])
def test_only_the_api_origin_may_post_forms_from_a_browser(stack: Stack, origin: str, allowed: bool) -> None:
    student = stack.create_student(EXAM, f"e2e.cors.{allowed}")
    form = stack.presign(student["upload_code"]).json()
    sent_origin = stack.api if origin == "api" else origin

    preflight = requests.options(
        form["url"],
        headers={"Origin": sent_origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )

    if allowed:
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == sent_origin
    else:
        assert preflight.status_code == 403
        assert "Access-Control-Allow-Origin" not in preflight.headers


def test_posting_a_recorded_form_again_changes_nothing_a_reviewer_sees_or_downloads(stack: Stack) -> None:
    # Given a recorded upload whose form is still within its lifetime
    student = stack.create_student(EXAM, "e2e.reuse")
    form = stack.form(student["upload_code"])
    assert stack.post_form(form, b"%PDF the answers handed in").status_code == 204
    stack.wait_until_settled(student["upload_code"], form["upload_id"])
    recorded = stack.wait_until_scanned(student["upload_code"])["current"]
    seen = stack.verification(recorded["verification_code"]).json()

    # When the student posts the same form again with other bytes (S3 accepts it: 204)
    assert stack.post_form(form, b"%PDF swapped after the deadline").status_code == 204

    # Then the extra version is deleted, and what a reviewer sees and downloads is unchanged
    key = form["fields"]["key"]
    wait_until(lambda: len(stack.versions(key)) == 1, timeout_s=20, what="the reused form's version deleted")
    progress = stack.progress(student["upload_code"])
    assert progress["current"] == recorded
    assert progress["attempts_used"] == 1
    assert stack.verification(recorded["verification_code"]).json() == seen
    assert stack.download(recorded["verification_code"]) == b"%PDF the answers handed in"


def test_the_banner_names_the_folder_the_stack_keeps_its_state_in(stack: Stack) -> None:
    # The session's stack keeps its state in a LOCAL_DIR of its own, not in .local/
    banner = (stack.local_dir / "terminal.log").read_text()

    assert f"State is kept in {stack.local_dir}/ (stack.json, PostgreSQL, S3)." in banner
    assert f"Handler logs: {stack.local_dir}/stack.log." in banner
    assert ".local/" not in banner


def test_the_handlers_log_and_count_under_the_templates_service_and_namespace(stack: Stack) -> None:
    # Started without the tests' POWERTOOLS_* variables, as from a shell: the handlers must get
    # the template's before the product is first imported, or their logger and metrics keep none.
    student = stack.create_student(EXAM, "logged")
    assert stack.presign(student["upload_code"], "answers.pdf").status_code == 201  # counts a form issued
    logged = (stack.local_dir / "stack.log").read_text().splitlines()
    lines = [json.loads(line) for line in logged if line.startswith("{")]
    handler_lines = [line for line in lines if "function_name" in line]
    metric_lines = [line for line in lines if "_aws" in line]

    assert handler_lines
    assert metric_lines
    assert {line["service"] for line in handler_lines} == {"exam-depository"}
    assert {m["Namespace"] for line in metric_lines for m in line["_aws"]["CloudWatchMetrics"]} == {"ExamDepository"}
