"""warm_ms p50/p99 and sql_per_request per route: each handler invoked in-process with its sample
event (events/), against the embedded PostgreSQL and MiniStack's S3, as a warm Lambda would be."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exam_depository.codes import new_code

from bench.environment import Environment, StatementCounter, notification
from local_stack.functions import LambdaContext, load_function

ROOT = Path(__file__).resolve().parent.parent
Event = dict[str, Any]
FORM_STUDENTS = 1000


def _event(function: str, case: str, *, path: dict[str, str] | None = None, body: Any = ...) -> Event:
    event: Event = json.loads((ROOT / "events" / function / f"{case}.json").read_text())
    if path is not None:
        event["pathParameters"] = path
        event["path"] = event["resource"]
        for name, value in path.items():
            event["path"] = event["path"].replace("{" + name + "}", value)
    if body is not ...:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["isBase64Encoded"] = False
    return event


def _fixture(env: Environment) -> dict[str, Any]:
    """One student with a recorded submission: the codes the read routes look up."""
    create = load_function("create_student", "bench_fixture_create")
    created = json.loads(
        create.lambda_handler(
            _event("create_student", "valid", body={"nickname": "fixture", "first_name": "Ann", "last_name": "Lee"}),
            LambdaContext(),
        )["body"]
    )
    upload = load_function("request_upload", "bench_fixture_upload")
    form = json.loads(
        upload.lambda_handler(
            _event("request_upload", "with_filename", path={"upload_code": created["upload_code"]}), LambdaContext()
        )["body"]
    )
    key = form["fields"]["key"]
    env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF fixture", ContentType="application/pdf")
    record = load_function("record_submissions", "bench_fixture_record")
    batch = json.loads((ROOT / "events/record_submissions/object_created.json").read_text())
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
    roster = "nickname,first_name,last_name\n"
    return {
        "create_student": lambda i: _event(
            "create_student", "valid", body={"nickname": f"c{i}", "first_name": "Zoë", "last_name": "O'Brien"}
        ),
        "import_students": lambda i: _event(
            "import_students", "roster", body=roster + "".join(f"i{i}x{row},Ann,Lee\n" for row in range(10))
        ),
        "list_students": lambda i: _event("list_students", "first_page"),
        "get_student": lambda i: _event("get_student", "by_nickname", path={"nickname": codes["nickname"]}),
        "delete_student": lambda i: _event("delete_student", "by_nickname", path={"nickname": f"c{i}"}),
        "request_upload": lambda i: _event(
            "request_upload", "with_filename", path={"upload_code": codes["presign_codes"][i % FORM_STUDENTS]}
        ),
        "get_upload_status": lambda i: _event("get_upload_status", "by_code", path=upload),
        "get_verification": lambda i: _event("get_verification", "by_code", path=verification),
        "get_download_url": lambda i: _event("get_download_url", "by_code", path=verification),
        "serve_pages": lambda i: _event("serve_pages", "upload_page"),
        "serve_docs": lambda i: _event("serve_docs", "openapi"),
    }


def measure(env: Environment, counter: StatementCounter, invocations: int) -> dict[str, dict[str, Any]]:
    codes = _fixture(env)
    results: dict[str, dict[str, Any]] = {}
    routes = _routes(codes)
    # The roster event is base64 text/csv, as API Gateway sends a binary media type.
    routes["import_students"] = _csv_events(_event("import_students", "roster"), routes["import_students"])
    for function, event_for in routes.items():
        module = load_function(function, f"bench_{function}")
        durations, statements, transactions = [], set(), set()
        for i in range(invocations):
            event = event_for(i)
            counter.reset()
            started = time.perf_counter()
            response = module.lambda_handler(copy.deepcopy(event), LambdaContext())
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


def _csv_events(template: Event, event_for: Callable[[int], Event]) -> Callable[[int], Event]:
    import base64

    def csv_event(i: int) -> Event:
        event = copy.deepcopy(template)
        event["body"] = base64.b64encode(event_for(i)["body"].encode()).decode()
        event["isBase64Encoded"] = True
        return event

    return csv_event
