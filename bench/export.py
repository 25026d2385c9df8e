"""export: an exam of 200 students × 3 MiB exported by the export function in a fresh process
(its peak RSS is the memory the function needs, whatever the ZIP's size), beside its floor: the
same S3 work done bare, as the export does it, in one thread: a GET of each file, its body read
in chunks of 1 MiB, the bytes written as a multipart upload in parts of 8 MiB (create, a part
whenever 8 MiB are held, the rest, complete), so the floor's rate is what S3 reads and writes.

    python -m bench.export [--files 200]     (make bench runs it with the rest)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import floors
from bench.environment import EMPTY_AUDIT_LOG, Environment, pseudonym, started

MIB3 = 3 * 1024 * 1024
CHUNK, PART = 1024 * 1024, 8 * 1024 * 1024  # as the export reads and writes
_BUILD = """
import json, sys, time
from local_stack.functions import LambdaContext, load_function
module = load_function("build_export", "bench_export")
event = {"Records": [{"messageId": "m", "body": json.dumps({"export_id": sys.argv[1]}), "attributes": {}}]}
started = time.perf_counter()
module.lambda_handler(event, LambdaContext())
seconds = time.perf_counter() - started
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_kb": rss}))
"""


def _seed(env: Environment, files: int) -> tuple[str, list[str]]:
    """An exam whose students each have one current 3 MiB submission; returns a queued export's
    id and the files' keys (the records are written in bulk: the API is not what is measured)."""
    env.sql("TRUNCATE examiner, exam, student, upload, submission, export RESTART IDENTITY CASCADE")
    env.sql(EMPTY_AUDIT_LOG)
    env.sql(
        """INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
           VALUES ('bench', 'Bench', now() - interval '1 day', now() + interval '1 day',
                   now() + interval '1 day', 'UTC', 5)"""
    )
    content = secrets.token_bytes(MIB3)
    sha256 = hashlib.sha256(content).hexdigest()
    keys = [f"submissions/1/{uuid.uuid4()}/answers {n}.pdf" for n in range(files)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(
            pool.map(lambda key: env.s3.put_object(Bucket=env.bucket, Key=key, Body=content)["VersionId"], keys)
        )
    env.sql(
        f"""INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
            SELECT 1, 'e' || g, 'First', 'Last', upper(md5('e' || g)), {pseudonym("g")}
            FROM generate_series(1, %s) g""",
        (files,),
    )
    env.sql(
        """INSERT INTO upload (id, student_id, object_key, filename, content_type, form_expires_at, status, version_id)
           SELECT gen_random_uuid(), s.id, k.key, 'answers.pdf', 'application/pdf', now(), 'recorded', k.version
           FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k(key, version, n) JOIN student s ON s.id = k.n""",
        (keys, versions),
    )
    env.sql(
        """INSERT INTO submission (upload_id, student_id, issue_seq, verification_code, filename, content_type,
                                   size_bytes, sha256, submitted_at, expires_at, status)
           SELECT u.id, u.student_id, u.issue_seq, upper(md5('v' || u.student_id)), 'answers.pdf',
                  'application/pdf', %s, %s, now(), now() + interval '3 days', 'current'
           FROM upload u""",
        (MIB3, sha256),
    )
    export_id = str(uuid.uuid4())
    env.sql(
        "INSERT INTO export (id, exam_id, object_key) VALUES (%s, 1, %s)",
        (export_id, f"exports/1/{export_id}/bench.zip"),
    )
    return export_id, keys


def _floor_rate(env: Environment, keys: list[str]) -> float:
    """MB/s of the floor: the same files GET, read and written again as one multipart upload."""
    s3 = floors.bare_client("s3", os.environ["AWS_ENDPOINT_URL_S3"])
    key = "exports/bench-floor.zip"
    started_at = time.perf_counter()
    upload_id = s3.create_multipart_upload(Bucket=env.bucket, Key=key, ContentType="application/zip")["UploadId"]
    parts: list[dict[str, Any]] = []
    held = bytearray()
    total = 0

    def send(part: bytes) -> None:
        answer = s3.upload_part(Bucket=env.bucket, Key=key, UploadId=upload_id, PartNumber=len(parts) + 1, Body=part)
        parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})

    for file in keys:
        body = s3.get_object(Bucket=env.bucket, Key=file)["Body"]
        for chunk in body.iter_chunks(CHUNK):
            held += chunk
            total += len(chunk)
            while len(held) >= PART:
                send(bytes(held[:PART]))
                del held[:PART]
    send(bytes(held))
    s3.complete_multipart_upload(Bucket=env.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return total / (time.perf_counter() - started_at) / 1e6


def measure(env: Environment, files: int) -> dict[str, Any]:
    export_id, keys = _seed(env, files)
    # The floor before and after the export (the emulator's store grows as it goes): their mean.
    floor_before = _floor_rate(env, keys)
    done = subprocess.run(  # noqa: S603 (this interpreter, our own probe)
        [sys.executable, "-c", _BUILD, export_id], env=dict(os.environ), capture_output=True, text=True, check=True
    )
    built = json.loads(done.stdout.strip().splitlines()[-1])
    ((status, written),) = env.sql("SELECT status, bytes FROM export WHERE id = %s", (export_id,))
    if status != "done":
        raise RuntimeError(f"the benchmark export ended {status}: {done.stderr[-2000:]}")
    floor_mb_s = (floor_before + _floor_rate(env, keys)) / 2
    export_mb_s = written / built["seconds"] / 1e6
    return {
        "files": files,
        "zip_mb": round(written / 1e6, 1),
        "seconds": round(built["seconds"], 2),
        "export_mb_s": round(export_mb_s, 1),
        "floor_mb_s": round(floor_mb_s, 1),
        "ratio": round(export_mb_s / floor_mb_s, 2),
        "peak_rss_mb": round(built["peak_rss_kb"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as work, started(Path(work)) as env:
        print(json.dumps(measure(env, args.files), indent=2))


if __name__ == "__main__":
    main()
