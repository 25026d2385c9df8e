"""Collect and prove over real HTTP through the local stack: 30 students hand in, one export holds
exactly their current files and a manifest that matches the API, and the exam's audit log with a
checkpoint signed by MiniStack's KMS that the documented verifier accepts; receipts check out with
the published keys, and a changed one does not."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any, cast

import requests
from joserfc import jwk, jwt

from tests.audit_recipe import verify_offline
from tests.e2e.conftest import Stack

STUDENTS = 30


def test_thirty_students_hand_in_and_one_export_holds_exactly_their_current_files(stack: Stack, tmp_path: Path) -> None:
    # Given 30 students of one exam who handed in (a few twice: the export holds the current file)
    stack.create_exam("collect", due_in_s=3600, title="Collected")
    roster = "nickname,first_name,last_name\n" + "".join(f"s{n:02d},Élève {n},Nom-{n}\n" for n in range(STUDENTS))
    imported = stack.import_roster("collect", roster)
    assert imported.status_code == 201, imported.text
    codes = {s["nickname"]: s["upload_code"] for s in imported.json()["created"]}
    for nickname, code in codes.items():
        stack.hand_in(code, f"%PDF first of {nickname}".encode(), "answers.pdf")
        if nickname.endswith(("3", "7")):
            stack.hand_in(code, f"%PDF final of {nickname}".encode() * 1000, "final answers.pdf")

    # When the examiner exports the exam
    started = stack.start_export("collect")
    assert started.status_code == 202, started.text
    done = stack.wait_for_export("collect", started.json()["export_id"])

    # Then the ZIP, fetched by its link, opens with Python and unzip, and holds exactly the current files
    assert (done["status"], done["files_done"], done["files_total"]) == ("done", STUDENTS, STUDENTS), done
    body = requests.get(done["url"], timeout=30)
    assert body.status_code == 200
    (tmp_path / "export.zip").write_bytes(body.content)
    assert (
        subprocess.run(["unzip", "-t", str(tmp_path / "export.zip")], capture_output=True, check=False).returncode == 0
    )
    archive = zipfile.ZipFile(io.BytesIO(body.content))
    listed = {s["nickname"]: s for s in stack.students("collect", limit=100).json()["items"]}
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert sorted(archive.namelist()) == sorted(
        [row["path_in_zip"] for row in manifest] + ["audit.csv", "audit-checkpoint.jwt", "manifest.csv"]
    )
    # And its audit log, the import and the export among its events, passes the documented verifier
    log = archive.read("audit.csv")
    actions = [row["action"] for row in csv.DictReader(io.StringIO(log.decode(), newline=""))]
    assert actions[0] == "exam.created"
    assert actions[-1] == "export.created"
    assert "students.imported" in actions
    verified = verify_offline(
        tmp_path / "audit", log, archive.read("audit-checkpoint.jwt").decode(), stack.jwks().json()
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(
        f"chain intact: {len(actions)} events; checkpoint at seq {len(actions)} (exported"
    )
    assert {row["nickname"] for row in manifest} == set(codes)
    for row in manifest:
        current = listed[row["nickname"]]["current"]
        data = archive.read(row["path_in_zip"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"] == current["sha256"]
        assert row["path_in_zip"] == f"{row['nickname']}/{current['filename']}"
        assert (row["verification_code"], row["size_bytes"], row["late"]) == (
            current["verification_code"],
            str(current["size_bytes"]),
            "no",
        )
        assert (row["first_name"], row["last_name"]) == (
            listed[row["nickname"]]["first_name"],
            listed[row["nickname"]]["last_name"],
        )


def test_a_receipt_checks_out_with_the_published_keys_and_a_changed_one_does_not(stack: Stack) -> None:
    stack.create_exam("receipts", due_in_s=3600)
    student = stack.create_student("receipts", "ann")
    current = stack.hand_in(student["upload_code"], b"%PDF the answers")["current"]
    receipt: str = current["receipt"]

    keys = stack.jwks()
    assert keys.headers["Cache-Control"] == "public, max-age=300"
    token = jwt.decode(receipt, jwk.KeySet.import_key_set(cast(Any, keys.json())), algorithms=["ES256"])
    assert token.claims["verification_code"] == current["verification_code"]
    assert token.claims["sha256"] == hashlib.sha256(b"%PDF the answers").hexdigest()
    assert token.claims["iss"] == "local"

    genuine = stack.check_receipt(receipt).json()
    header, claims, signature = receipt.split(".")
    changed = stack.check_receipt(f"{header}.{claims[:-2]}{'A' if claims[-2] != 'A' else 'B'}{claims[-1]}.{signature}")
    assert (genuine["genuine"], genuine["status"]) == (True, "current")
    assert changed.json()["genuine"] is False
