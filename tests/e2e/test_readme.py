"""The README's walk through the API with curl, taken from README.md as written and run with bash
against the fresh local stack: a newcomer pastes it after `make run`, so it must work as it stands."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import ROOT
from tests.e2e.conftest import Stack

INTRO = "A walk through the API with curl"
FENCED = re.compile(r"^```[a-z]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def readme_walkthrough(readme: Path = ROOT / "README.md") -> str:
    """The first fenced block after the sentence that introduces the walkthrough, unchanged."""
    text = readme.read_text()
    assert INTRO in text, f"README.md no longer says {INTRO!r}: where did the walkthrough go?"
    block = FENCED.search(text, text.index(INTRO))
    assert block is not None, "no code block follows the walkthrough's sentence"
    return block.group(1)


def test_the_readme_walkthrough_works_when_pasted_into_bash(stack: Stack, tmp_path: Path) -> None:
    # Given the block as the README shows it, and a folder like the reader's after `make run`:
    # .local/stack.json as the stack wrote it (here the fresh stack's, with its free ports)
    block = readme_walkthrough()
    assert not re.search(r"\b20\d\d-\d\d-\d\d", block), "a date written in the block stops working once it passes"
    (tmp_path / ".local").mkdir()
    shutil.copy(stack.local_dir / "stack.json", tmp_path / ".local" / "stack.json")
    started = datetime.now(UTC)

    # When bash runs it, stopping at the first command that fails (a value not found in an answer,
    # an unset variable, the last comparison)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang; the block's own wait for the record is bounded (60 tries)
        check=False,
    )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()

    # Then the exam was created with a window around the moment it ran, so it works next year too
    created = json.loads(lines[0])
    assert created["exam_id"] == "physics", output
    exam = stack.exam("physics").json()
    opens, due, cutoff = (datetime.fromisoformat(exam[name]) for name in ("opens_at", "due_at", "cutoff_at"))
    assert opens < started < due, exam
    assert abs(cutoff - due - timedelta(minutes=15)) < timedelta(seconds=10), exam  # each time is its own `now`

    # And the student was created, and the roster printed with the upload code
    student = stack.student("physics", "ann").json()
    assert any(line.startswith("ann,Ann,Lee,") for line in lines), output

    # And S3 took the form with every field as it is, the file last
    assert "S3 answered 204" in lines, output

    # And the record function recorded that file: the verification code printed is its own
    answers = (tmp_path / "answers.pdf").read_bytes()
    [current] = [s for s in student["submissions"] if s["status"] == "current"]
    assert current["sha256"] == hashlib.sha256(answers).hexdigest()
    assert current["size_bytes"] == len(answers)
    assert f"verification code: {current['verification_code']}" in lines, output
    # and the walk waited for its malware scan, which found it clean
    assert "malware scan: clean" in lines, output

    # And the download link gave the same bytes, as it still does
    assert (tmp_path / "downloaded.pdf").read_bytes() == answers
    assert "downloaded the same bytes" in lines, output
    assert stack.download(current["verification_code"]) == answers
