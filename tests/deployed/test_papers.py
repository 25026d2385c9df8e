"""A question paper through the deployed stack, each step by the function of template.yaml that does
it with its own role's credentials (IAM enforced): the examiner's form signed by
RequestPaperUploadFunction (PutObject on papers/), the POST over TLS, the bucket's second
notification to the recorder (which reads papers/ by version), a started student's link signed by
GetPaperLinkFunction (GetObjectVersion on papers/), and the exam's deletion by DeleteExamFunction
(which lists and deletes papers/ by version)."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from tests.deployed.conftest import Deployed
from tests.waiting import wait_until

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 100 + b"%%EOF\n"


def _paper_status(deployed: Deployed, exam_id: str, paper_id: str) -> str | None:
    uploads: list[dict[str, Any]] = deployed.exam(exam_id).json()["paper_uploads"]
    return next((u["status"] for u in uploads if u["paper_id"] == paper_id), None)


def _paper_keys(deployed: Deployed) -> list[str]:
    return [key for key in deployed.object_keys() if key.startswith("papers/")]


def test_a_question_paper_goes_from_the_examiner_to_a_started_student_through_the_deployed_roles(
    deployed: Deployed,
) -> None:
    # Given a timed exam that opens in an hour, and its paper posted to S3 with the examiner's form
    deployed.create_exam("deployed-paper", opens_in_s=3600, due_in_s=7200, cutoff_in_s=9000, duration_minutes=60)
    student = deployed.create_student("deployed-paper", "paper.reader")
    answer = deployed.paper_form("deployed-paper", filename="Paper.pdf", sha256=hashlib.sha256(PDF).hexdigest())
    assert answer.status_code == 201, answer.text
    form = answer.json()
    posted = deployed.post_form(form, PDF, filename="Paper.pdf")
    assert posted.status_code in (200, 201, 204), posted.text

    # Then the recorder, notified through the bucket's papers/ notification, makes it the exam's paper
    wait_until(
        lambda: _paper_status(deployed, "deployed-paper", form["paper_id"]) == "current",
        timeout_s=120,
        what="the deployed recorder made the paper current",
    )

    # When the exam has opened (moved in the database: the API refuses a window already begun) and
    # the student starts
    with deployed.database().admin("exam_depository") as conn:
        conn.execute("UPDATE exam SET opens_at = now() - interval '1 minute' WHERE slug = 'deployed-paper'")
    started = deployed.start(student["upload_code"])
    assert started.status_code == 200, started.text

    # Then the link, signed with the link function's role, serves the recorded bytes over TLS
    link = deployed.paper_link(student["upload_code"])
    assert link.status_code == 200, link.text
    downloaded = requests.get(link.json()["url"], timeout=60)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == PDF

    # And the exam's deletion takes every version of its papers
    assert _paper_keys(deployed) != []
    deleted = deployed.delete_exam("deployed-paper")
    assert deleted.status_code == 204, deleted.text
    assert _paper_keys(deployed) == []
