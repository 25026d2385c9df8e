"""warm_ms p50/p99 and sql_per_request per route: each handler invoked in-process with its sample
event (events/), against the embedded PostgreSQL and MiniStack's S3, as a warm Lambda would be."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from exam_depository.codes import new_code

from bench.environment import Environment, StatementCounter, notification
from local_stack.functions import LambdaContext, api_event, load_function, sample_event

Event = dict[str, Any]
FORM_STUDENTS = 1000


def _fixture(env: Environment) -> dict[str, Any]:
    """One student with a recorded submission: the codes the read routes look up."""
    create = load_function("create_student", "bench_fixture_create")
    created = json.loads(
        create.lambda_handler(
            api_event("create_student", "valid", body={"nickname": "fixture", "first_name": "Ann", "last_name": "Lee"}),
            LambdaContext(),
        )["body"]
    )
    upload = load_function("request_upload", "bench_fixture_upload")
    form = json.loads(
        upload.lambda_handler(
            api_event("request_upload", "with_filename", path_params={"upload_code": created["upload_code"]}),
            LambdaContext(),
        )["body"]
    )
    key = form["fields"]["key"]
    env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF fixture", ContentType="application/pdf")
    record = load_function("record_submissions", "bench_fixture_record")
    batch = sample_event("record_submissions", "object_created")
    batch["Records"][0]["body"] = notification(key, 12, 10)
    record.lambda_handler(batch, LambdaContext())
    code = env.sql("SELECT verification_code FROM submission")[0][0]
    # A student may hold 10 unused forms at once: presign rotates over students of its own.
    presign_codes = [new_code() for _ in range(FORM_STUDENTS)]
    env.sql(
        """INSERT INTO student (nickname, first_name, last_name, upload_code)
           SELECT 'form' || n, 'Ann', 'Lee', code FROM unnest(%s::text[]) WITH ORDINALITY AS c(code, n)""",
        (presign_codes,),
    )
    return {
        "upload_code": created["upload_code"],
        "verification_code": code,
        "nickname": "fixture",
        "presign_codes": presign_codes,
    }


def _routes(codes: dict[str, Any]) -> dict[str, Callable[[int], Event]]:
    """Per route, the event of invocation i (routes that create get fresh names each time)."""
    upload = {"upload_code": codes["upload_code"]}
    verification = {"verification_code": codes["verification_code"]}
    return {
        "create_student": lambda i: api_event(
            "create_student", "valid", body={"nickname": f"c{i}", "first_name": "Zoë", "last_name": "O'Brien"}
        ),
        # The roster event is base64 text/csv, as API Gateway sends a binary media type.
        "import_students": lambda i: api_event("import_students", "roster", raw_body=_roster(f"i{i}x", 10)),
        "list_students": lambda i: api_event("list_students", "first_page"),
        "get_student": lambda i: api_event("get_student", "by_nickname", path_params={"nickname": codes["nickname"]}),
        "delete_student": lambda i: api_event("delete_student", "by_nickname", path_params={"nickname": f"c{i}"}),
        "request_upload": lambda i: api_event(
            "request_upload", "with_filename", path_params={"upload_code": codes["presign_codes"][i % FORM_STUDENTS]}
        ),
        "get_upload_status": lambda i: api_event("get_upload_status", "by_code", path_params=upload),
        "get_verification": lambda i: api_event("get_verification", "by_code", path_params=verification),
        "get_download_url": lambda i: api_event("get_download_url", "by_code", path_params=verification),
        "serve_pages": lambda i: api_event("serve_pages", "upload_page"),
        "serve_docs": lambda i: api_event("serve_docs", "openapi"),
    }


def _roster(prefix: str, rows: int) -> str:
    text = "nickname,first_name,last_name\n" + "".join(f"{prefix}{row},Ann,Lee\n" for row in range(rows))
    return base64.b64encode(text.encode()).decode()


def measure(env: Environment, counter: StatementCounter, invocations: int) -> dict[str, dict[str, Any]]:
    codes = _fixture(env)
    results: dict[str, dict[str, Any]] = {}
    for function, event_for in _routes(codes).items():
        module = load_function(function, f"bench_{function}")
        durations, statements, transactions = [], set(), set()
        for i in range(invocations):
            event = event_for(i)
            counter.reset()
            started = time.perf_counter()
            response = module.lambda_handler(event, LambdaContext())
            durations.append((time.perf_counter() - started) * 1000)
            if response["statusCode"] >= 400:
                raise RuntimeError(f"{function} answered {response['statusCode']}: {response['body'][:300]}")
            statements.add(counter.statements)
            transactions.add(counter.transactions)
        ordered = sorted(durations)
        results[function] = {
            "warm_ms": {
                "p50": round(ordered[len(ordered) // 2], 3),
                "p99": round(ordered[int(len(ordered) * 0.99) - 1], 3),
                "min": round(ordered[0], 3),
                "max": round(ordered[-1], 3),
                "n": len(ordered),
            },
            "sql_per_request": max(statements),
            "transactions_per_request": max(transactions),
        }
    return results
