"""`make soak`: the upload race, over and over, through the local stack, until time runs out.

One trial: a new student; 20 threads ask for an upload form at once (10 are granted: a student
may hold 10 unused forms); once every form is in hand, all of them are POSTed to S3 together, so
more uploads than the attempt limit race for it whatever the machine's speed; the local stack's
record workers take the notifications concurrently. Then: never more than the limit recorded,
exactly one current, and no other file of the student left in the bucket.

    python scripts/soak.py [--seconds 120] [--max-trials 1000] [--uploads 20] [--workers 4]

It starts its own local stack on free ports and stops it at the end; exit status 1 if any trial
broke a rule.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exam_depository.domain.exam_inputs import DEFAULT_MAX_ATTEMPTS as MAX_ATTEMPTS  # the exams the soak makes

from local_stack import background
from local_stack.client import TIMEOUT_S, ApiClient


@dataclass(frozen=True)
class Trial:
    forms: int  # upload forms handed out (the rest were refused: no attempts left, or 10 open)
    uploaded: int  # files S3 accepted
    recorded: int
    rejected: int
    current: int
    left_in_bucket: int  # the student's objects still stored once everything settled
    seconds: float

    def broken_rules(self) -> list[str]:
        broken = []
        if self.recorded != min(self.uploaded, MAX_ATTEMPTS):
            broken.append(f"{self.recorded} recorded of {self.uploaded} uploads (limit {MAX_ATTEMPTS})")
        if self.recorded + self.rejected != self.uploaded:
            broken.append(f"{self.uploaded - self.recorded - self.rejected} uploads neither recorded nor rejected")
        if self.current != 1:
            broken.append(f"{self.current} current submissions")
        if self.left_in_bucket != 1:
            broken.append(f"{self.left_in_bucket} objects left in the bucket, expected only the current one")
        return broken


def race_trial(
    client: ApiClient, exam_id: str, s3: Any, bucket: str, *, uploads: int = 20, timeout_s: float = 120
) -> Trial:
    """One race in an open exam (its window must last the trial). Every form is taken before any
    file is posted, so none is recorded while forms are handed out and as many are granted as the
    open-form limit allows; then all of them go to S3 together: more uploads than the attempt limit,
    by construction. (When each thread posted as soon as its own form came, a busy machine
    serialised them: the first uploads were recorded before the last forms were asked for, those
    asks were refused, and no race happened.)"""
    started = time.monotonic()
    nickname = f"race-{uuid.uuid4().hex[:10]}"
    code = client.create_student(exam_id, nickname, "Race", "Trial")["upload_code"]

    def ask_for_form(n: int) -> tuple[int, dict[str, Any]] | None:
        # A client of its own per thread: a requests Session is not safe to share between threads.
        form = ApiClient(client.api).presign(code, f"answer {n}.pdf")
        if form.status_code in (409, 429):  # no attempts left, or 10 unused forms open: refused up front
            return None
        form.raise_for_status()
        return n, form.json()

    with ThreadPoolExecutor(max_workers=uploads) as pool:
        forms = [form for form in pool.map(ask_for_form, range(uploads)) if form is not None]

    # Every poster waits at the start line until all are ready, then they go together. Its timeout
    # only guards against a poster that never arrives: nothing is timed by it.
    start_line = threading.Barrier(max(len(forms), 1), timeout=TIMEOUT_S)

    def post_at_once(numbered: tuple[int, dict[str, Any]]) -> tuple[str, bool]:
        n, form = numbered
        student = ApiClient(client.api)
        start_line.wait()
        posted = student.post_form(form, f"%PDF answer {n}".encode(), filename=f"answer {n}.pdf")
        return form["upload_id"], posted.status_code == 204

    with ThreadPoolExecutor(max_workers=max(len(forms), 1)) as pool:
        results = list(pool.map(post_at_once, forms))
    uploaded = {upload_id for upload_id, ok in results if ok}

    deadline = time.monotonic() + timeout_s
    while True:
        progress = client.progress(code)
        states = {u["upload_id"]: u["status"] for u in progress["uploads"]}
        mine = [key for key in _keys(s3, bucket) if key.split("/")[-2] in states]  # the upload id is the folder
        settled = all(states[upload_id] != "pending" for upload_id in uploaded)
        if (settled and len(mine) <= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    student = client.student(exam_id, nickname).json()
    return Trial(
        forms=len(forms),
        uploaded=len(uploaded),
        recorded=len(student["submissions"]),
        rejected=sum(1 for status in states.values() if status == "rejected"),
        current=sum(1 for s in student["submissions"] if s["status"] == "current"),
        left_in_bucket=len(mine),
        seconds=time.monotonic() - started,
    )


def _keys(s3: Any, bucket: str) -> list[str]:
    """Keys holding bytes in any version: a version left behind counts as a file left."""
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="submissions/")
    return sorted({item["Key"] for page in pages for item in page.get("Versions", [])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--max-trials", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="concurrent record workers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soak-") as local_dir:
        print(f"starting a local stack with {args.workers} record workers in {local_dir}", flush=True)
        stack = background.start(Path(local_dir), record_workers=args.workers)
        s3, _ = background.stack_clients(Path(local_dir), stack.info)
        client = ApiClient(stack.info["api_url"], stack.info["api_key"])
        exam_id = "soak"
        client.create_exam(exam_id, due_in_s=args.seconds + 600)
        trials: list[Trial] = []
        failures = 0
        deadline = time.monotonic() + args.seconds
        try:
            while len(trials) < args.max_trials and time.monotonic() < deadline:
                trial = race_trial(client, exam_id, s3, stack.info["bucket"], uploads=args.uploads)
                trials.append(trial)
                broken = trial.broken_rules()
                failures += bool(broken)
                print(
                    f"trial {len(trials):3d}: {trial.forms:2d} forms, {trial.uploaded:2d} uploaded, "
                    f"{trial.recorded} recorded, {trial.rejected:2d} rejected, {trial.current} current, "
                    f"{trial.left_in_bucket} left in bucket, {trial.seconds:.1f} s"
                    + (f"  BROKEN: {'; '.join(broken)}" if broken else ""),
                    flush=True,
                )
        finally:
            stack.stop()
    uploads = sum(t.uploaded for t in trials)
    print(
        f"\n{len(trials)} trials in {args.seconds:.0f} s budget: {uploads} concurrent uploads, "
        f"{sum(t.rejected for t in trials)} rejected and deleted, {failures} trial(s) broke a rule"
    )
    sys.exit(1 if failures or not trials else 0)


if __name__ == "__main__":
    main()
