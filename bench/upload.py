"""cpu_ms_per_upload: the CPU our code spends on one accepted 3 MiB upload, presign plus record
(the SHA-256 included). The student's POST to S3 is not ours and is not counted."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import requests

from bench.cold import summary
from bench.environment import Environment, notification
from local_stack.functions import LambdaContext, api_event, load_function, sample_event

MIB3 = 3 * 1024 * 1024


def measure(env: Environment, uploads: int) -> dict[str, Any]:
    create = load_function("create_student", "bench_cpu_create")
    presign = load_function("request_upload", "bench_cpu_presign")
    record = load_function("record_submissions", "bench_cpu_record")
    batch = sample_event("record_submissions", "object_created")
    presign_cpu, record_cpu = [], []
    content = secrets.token_bytes(MIB3)
    # One more upload than measured: the first builds the S3 client, as a cold start would.
    for i in range(uploads + 1):
        if i % 5 == 0:  # a new student every 5 uploads: the limit is 5
            body = {"nickname": f"cpu-{secrets.token_hex(4)}", "first_name": "Ann", "last_name": "Lee"}
            created = json.loads(
                create.lambda_handler(api_event("create_student", "valid", body=body), LambdaContext())["body"]
            )
        started = time.process_time()
        response = presign.lambda_handler(
            api_event("request_upload", "with_filename", path_params={"upload_code": created["upload_code"]}),
            LambdaContext(),
        )
        presign_cpu.append((time.process_time() - started) * 1000)
        form = json.loads(response["body"])
        posted = requests.post(form["url"], data=form["fields"], files={"file": ("a.pdf", content)}, timeout=30)
        posted.raise_for_status()
        batch["Records"][0]["body"] = notification(form["fields"]["key"], MIB3, i + 1)
        started = time.process_time()
        result = record.lambda_handler(batch, LambdaContext())
        record_cpu.append((time.process_time() - started) * 1000)
        if result["batchItemFailures"]:
            raise RuntimeError("the benchmark upload was not recorded")
    presign_cpu, record_cpu = presign_cpu[1:], record_cpu[1:]
    total = [p + r for p, r in zip(presign_cpu, record_cpu, strict=True)]
    return {
        "cpu_ms_per_upload": summary(total),
        "presign_cpu_ms": summary(presign_cpu)["median"],
        "record_cpu_ms": summary(record_cpu)["median"],
    }
