"""What only the deployment shows: the migration and reconcile functions invoked as ops invoke them
on AWS (`make migrate-remote`, `make reconcile`: sam remote invoke), an export built by the
deployed builder from its own queue, and a student handing in through the deployed page in
Chromium, from the API's own origin to the bucket's (the CORS rule template.yaml sets)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import uuid
import zipfile
from pathlib import Path

import requests
from playwright.sync_api import expect

from tests.browser import ARTIFACTS, chromium
from tests.deployed.conftest import Deployed
from tests.e2e.conftest import EXAM

CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$")


def _payload(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """What `sam remote invoke` printed last: the function's answer."""
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_the_migration_function_as_ops_invoke_it_has_nothing_left_to_apply(deployed: Deployed) -> None:
    # deploy-local ran every migration through this function; run again, it finds none pending
    done = deployed.make("migrate-remote")

    assert _payload(done) == {"applied": []}


def test_the_reconcile_function_invoked_remotely_finds_a_file_removed_by_hand(deployed: Deployed) -> None:
    # Given a recorded file whose version someone deleted from the bucket for good
    student = deployed.create_student(EXAM, f"deployed.reconcile.{uuid.uuid4().hex[:6]}")
    form = deployed.form(student["upload_code"])
    posted = deployed.post_form(form, b"%PDF reconciled")
    assert posted.status_code == 204, posted.text
    current = deployed.wait_until_settled(student["upload_code"], form["upload_id"])["current"]
    deployed.s3.delete_object(
        Bucket=deployed.bucket, Key=form["fields"]["key"], VersionId=posted.headers["x-amz-version-id"]
    )

    # When ops run the job now, with no grace (the file was recorded seconds ago; the job leaves
    # anything newer than RECONCILE_GRACE_S, 15 minutes, to its next run)
    function = deployed.client("lambda")
    name = deployed.info["outputs"]["ReconcileStorageFunctionName"]
    variables = function.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    function.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**variables, "RECONCILE_GRACE_S": "0"}}
    )
    try:
        done = deployed.make("reconcile")
    finally:
        function.update_function_configuration(FunctionName=name, Environment={"Variables": variables})

    # Then its report counts the loss, and the reviewer's link is refused instead of pointing at nothing
    report = _payload(done)
    assert (report["lost"], report["failed"]) == (1, 0), report
    link = deployed.download_link(current["verification_code"])
    assert link.status_code == 410
    assert link.headers["Content-Type"] == "application/problem+json"


def test_an_export_is_built_from_its_queue_and_holds_every_current_file(deployed: Deployed) -> None:
    # Given three students who handed in (one twice: the export holds the current file)
    deployed.create_exam("exported", due_in_s=3600, title="Exported")
    handed_in = {}
    for nickname in ("ann", "bob", "cy"):
        code = deployed.create_student("exported", nickname)["upload_code"]
        content = f"%PDF answers of {nickname}".encode() * 100
        deployed.hand_in(code, b"%PDF a first try")
        handed_in[nickname] = deployed.hand_in(code, content)["current"]
        assert handed_in[nickname]["sha256"] == hashlib.sha256(content).hexdigest()

    # When the examiner exports the exam
    started = deployed.start_export("exported")
    assert started.status_code == 202, started.text
    done = deployed.wait_for_export("exported", started.json()["export_id"])

    # Then the ZIP behind its link holds exactly the current files, as the manifest says
    assert (done["status"], done["files_done"], done["files_total"]) == ("done", 3, 3), done
    body = requests.get(done["url"], timeout=30)
    assert body.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(body.content))
    assert archive.testzip() is None
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert {row["nickname"] for row in manifest} == set(handed_in)
    for row in manifest:
        current = handed_in[row["nickname"]]
        assert hashlib.sha256(archive.read(row["path_in_zip"])).hexdigest() == row["sha256"] == current["sha256"]
        assert row["verification_code"] == current["verification_code"]


def test_a_student_hands_in_through_the_deployed_page_in_chromium(deployed: Deployed, tmp_path: Path) -> None:
    student = deployed.create_student(EXAM, f"deployed.browser.{uuid.uuid4().hex[:6]}")
    answers = tmp_path / "Réponses.pdf"
    answers.write_bytes(b"%PDF-1.7 answers " * 4000)
    page_url = deployed.info["browser_api_url"] + "/"  # https://<api id>.execute-api.localhost:PORT/v1/
    problems: list[str] = []

    # Trust exactly the emulator's certificate (its public key), nothing else.
    with chromium(f"--ignore-certificate-errors-spki-list={deployed.info['ca_spki_sha256']}") as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        refused: list[str] = []
        page.on("response", lambda response: refused.append(response.url) if response.status >= 400 else None)
        page.goto(page_url)
        page.get_by_label("Your upload code").fill(student["upload_code"])
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Choose your file").set_input_files(answers)
        page.get_by_role("button", name="Upload").click()
        receipt = page.locator("#receipt-code")
        expect(receipt).to_have_text(CODE, timeout=30_000)
        page.screenshot(path=ARTIFACTS / "deployed-upload-verification-code.png", full_page=True)
        code = receipt.inner_text()

    # Every request of the page was answered (its files, the API, S3's preflight and POST); no CSP
    # violation, CORS refusal or script error. (The browser's own /favicon.ico gets API Gateway's
    # 403, a route the API does not have: a console line that names no resource, as in the e2e tests.)
    assert refused == []
    assert [
        p for p in problems if not p.startswith("Failed to load resource: the server responded with a status of 403")
    ] == []
    progress = deployed.progress(student["upload_code"])
    assert progress["current"]["verification_code"] == code
    assert progress["current"]["filename"] == "Réponses.pdf"
    assert deployed.download(code) == answers.read_bytes()
