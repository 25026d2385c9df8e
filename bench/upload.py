"""cpu_ms_per_upload: the CPU our code spends on one accepted 3 MiB upload, presign plus record,
beside its floor: the same S3, KMS and SQL requests made by bare botocore and psycopg in the same
thread (bench.floors.replay of each invocation's trace, right after it). Two paths:

- read: the form pins no checksum (MiniStack keeps none), so the recorder GETs and hashes the
  body; its floor GETs the same version, reads it to the end and hashes it too (a receipt names
  the SHA-256: no request gives it);
- checksum: the form pins the page's SHA-256 and S3 keeps it (moto's server on loopback does),
  so the recorder asks S3 with one HEAD and never reads the body; so does its floor.

Both floors also make the recorder's KMS Sign of the receipt and its transactions (one
short one that says which forms pinned a checksum, the one that records). Budget: ≤ 1.5 floors.

CPU is the calling thread's (time.thread_time): a batch of one is read and signed in that
thread, and the emulators' own threads (moto runs in this process) are not ours. The student's
upload to S3 is not ours either and is not counted."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import requests
from exam_depository import config
from exam_depository.adapters import aws
from moto.server import ThreadedMotoServer

from bench import floors
from bench.cold import summary
from bench.environment import REGION, Environment, StatementCounter, notification
from local_stack.background import free_port
from local_stack.functions import LambdaContext, api_event, load_function, sample_event

MIB3 = 3 * 1024 * 1024
FLOOR_RUNS = 20


def sha256_floor_ms(content: bytes) -> float:
    """The median thread CPU of hashing `content` once, in ms."""
    runs = []
    for _ in range(FLOOR_RUNS):
        started = time.thread_time()
        hashlib.sha256(content).digest()
        runs.append((time.thread_time() - started) * 1000)
    return summary(runs)["median"]


@contextmanager
def _moto_s3(bucket: str) -> Iterator[Any]:
    """The product's S3 pointed at moto's server on loopback (it keeps checksums), then back."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server.start()
    before = os.environ["AWS_ENDPOINT_URL_S3"]
    try:
        host, port = server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL_S3"] = f"http://{host}:{port}"
        config.reset()
        aws.reset()
        s3: Any = boto3.client(
            "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name=os.environ["AWS_REGION"]
        )
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield s3
    finally:
        os.environ["AWS_ENDPOINT_URL_S3"] = before
        config.reset()
        aws.reset()
        server.stop()


def _uploads(
    env: Environment, counter: StatementCounter, uploads: int, content: bytes, *, checksum_s3: Any = None
) -> dict[str, float]:
    """Presign and record `uploads` files of `content`, each invocation followed by its floor;
    thread CPU of each, median, in ms. With `checksum_s3`, the form pins the SHA-256 and the file
    goes to that S3 with its checksum."""
    create = load_function("create_student", "bench_cpu_create")
    presign = load_function("request_upload", "bench_cpu_presign")
    record = load_function("record_submissions", "bench_cpu_record")
    batch = sample_event("record_submissions", "object_created")
    sha256 = hashlib.sha256(content).hexdigest()
    body = {"filename": "answers.pdf", "content_type": "application/pdf"}
    if checksum_s3 is not None:
        body["sha256"] = sha256
    from exam_depository.adapters import db  # not at the top: see local_stack.database.migrate

    presign_cpu, record_cpu, floor_cpu = [], [], []
    conn = db.connection()
    # One more upload than measured: the first builds the S3 client, as a cold start would.
    for i in range(uploads + 1):
        if i % 5 == 0:  # a new student every 5 uploads: the limit is 5
            student = {"nickname": f"cpu-{secrets.token_hex(4)}", "first_name": "Ann", "last_name": "Lee"}
            created = json.loads(
                create.lambda_handler(api_event("create_student", "valid", body=student), LambdaContext())["body"]
            )
        event = api_event(
            "request_upload", "with_filename", path_params={"upload_code": created["upload_code"]}, body=body
        )
        cpu, presign_floor, response = floors.cpu_beside_floor(
            lambda: presign.lambda_handler(event, LambdaContext()),  # noqa: B023
            counter,
            conn,
        )
        presign_cpu.append(cpu)
        form = json.loads(response["body"])
        key = form["fields"]["key"]
        if checksum_s3 is None:
            posted = requests.post(form["url"], data=form["fields"], files={"file": ("a.pdf", content)}, timeout=30)
            posted.raise_for_status()
            version = env.s3.head_object(Bucket=env.bucket, Key=key)["VersionId"]
        else:  # the POST's equivalent: moto checks no POST policy, and keeps the checksum sent
            version = checksum_s3.put_object(
                Bucket=env.bucket,
                Key=key,
                Body=content,
                ContentType="application/pdf",
                ChecksumAlgorithm=form["fields"]["x-amz-checksum-algorithm"],
                ChecksumSHA256=form["fields"]["x-amz-checksum-sha256"],
            )["VersionId"]
        message = json.loads(notification(key, len(content), i + 1))
        message["Records"][0]["s3"]["object"]["versionId"] = version
        batch["Records"][0]["body"] = json.dumps(message)
        cpu, record_floor, result = floors.cpu_beside_floor(
            lambda: record.lambda_handler(batch, LambdaContext()), counter, conn
        )
        record_cpu.append(cpu)
        if result["batchItemFailures"]:
            raise RuntimeError("the benchmark upload was not recorded")
        if checksum_s3 is None:  # the read path hashes what it read
            started = time.thread_time()
            hashlib.sha256(content).digest()
            record_floor += (time.thread_time() - started) * 1000
        floor_cpu.append(presign_floor + record_floor)
    presign_cpu, record_cpu, floor_cpu = presign_cpu[1:], record_cpu[1:], floor_cpu[1:]
    total = [p + r for p, r in zip(presign_cpu, record_cpu, strict=True)]
    figure, floor = summary(total)["median"], summary(floor_cpu)["median"]
    return {
        "cpu_ms": figure,
        "presign_cpu_ms": summary(presign_cpu)["median"],
        "record_cpu_ms": summary(record_cpu)["median"],
        "floor_cpu_ms": floor,
        "ratio": round(figure / floor, 2),
    }


def measure(env: Environment, counter: StatementCounter, uploads: int) -> dict[str, Any]:
    env.fresh_exam(max_attempts=5)
    content = secrets.token_bytes(MIB3)
    read = _uploads(env, counter, uploads, content)
    with _moto_s3(env.bucket) as moto:
        checked = _uploads(env, counter, uploads, content, checksum_s3=moto)
    return {"sha256_3mib_ms": sha256_floor_ms(content), "read": read, "checksum": checked, "n": uploads}
