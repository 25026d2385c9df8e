"""warm_ms p50/p99 per route beside its floor: each handler invoked in-process with its sample
event (events/), against the embedded PostgreSQL and MiniStack, as a warm Lambda would be; after
each invocation its trace is replayed by hand (bench.floors) on the same connection, so that
route and floor share the machine's moment. verify_receipt's floor also checks the receipt's
ES256 signature with the cryptography library alone (no request can do that for it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from exam_depository.domain.codes import new_code

from bench import floors
from bench.environment import EXAM_SLUG, Environment, StatementCounter, notification, pseudonym
from local_stack.functions import LambdaContext, api_event, load_function, sample_event

Event = dict[str, Any]
FORM_STUDENTS = 1000


def _invoke(function: str, event: Event) -> dict[str, Any]:
    response: dict[str, Any] = load_function(function, f"bench_fixture_{function}").lambda_handler(
        event, LambdaContext()
    )
    if response.get("statusCode", 200) >= 400:
        raise RuntimeError(f"fixture {function} answered {response['statusCode']}: {response['body'][:300]}")
    return response


def _fixture(env: Environment, invocations: int) -> dict[str, Any]:
    """The sample events' exam and student (mobrien) with a recorded submission and its receipt,
    a finished export, and what the routes that create or delete use up, one per invocation."""
    exam_id = env.fresh_exam()
    created = json.loads(_invoke("create_student", sample_event("create_student", "valid"))["body"])
    form = json.loads(
        _invoke(
            "request_upload",
            api_event("request_upload", "with_filename", path_params={"upload_code": created["upload_code"]}),
        )["body"]
    )
    key = form["fields"]["key"]
    version = env.s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF fixture", ContentType="application/pdf")
    batch = sample_event("record_submissions", "object_created")
    body = json.loads(notification(key, 12, 10))
    body["Records"][0]["s3"]["object"]["versionId"] = version["VersionId"]
    batch["Records"][0]["body"] = json.dumps(body)
    _invoke("record_submissions", batch)
    ((code, receipt),) = env.sql("SELECT verification_code, receipt FROM submission")
    # A student may hold 10 unused forms at once: presign rotates over students of its own.
    presign_codes = [new_code() for _ in range(FORM_STUDENTS)]
    env.sql(
        f"""INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
            SELECT %s, 'form' || n, 'Ann', 'Lee', code, {pseudonym("n")}
            FROM unnest(%s::text[]) WITH ORDINALITY AS c(code, n)""",
        (exam_id, presign_codes),
    )
    # Exams to delete, one per invocation, each with a student.
    env.sql(
        """WITH made AS (
               INSERT INTO exam (examiner_id, slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
               SELECT examiner_id, 'gone-' || n, 'Gone', opens_at, due_at, cutoff_at, timezone, 5
               FROM exam, generate_series(1, %s) n WHERE id = %s RETURNING id)
           INSERT INTO student (exam_id, nickname, first_name, last_name, upload_code, pseudonym)
           SELECT id, 'one', 'Ann', 'Lee', upper(md5('gone' || id)), 'anon-000001' FROM made""",
        (invocations, exam_id),
    )
    started = json.loads(_invoke("create_export", sample_event("create_export", "start"))["body"])
    env.sql(
        """UPDATE export SET status = 'done', files_total = 1, files_done = 1, bytes = 100,
                  expires_at = now() + interval '1 day' WHERE id = %s""",
        (started["export_id"],),
    )
    return {
        "upload_code": created["upload_code"],
        "verification_code": code,
        "receipt": receipt,
        "export_id": started["export_id"],
        "presign_codes": presign_codes,
    }


def _later_window(hours: int) -> dict[str, str]:
    due = datetime.now(UTC) + timedelta(hours=hours)
    return {"due_at": due.isoformat(), "cutoff_at": (due + timedelta(minutes=15)).isoformat()}


def _extensions_csv() -> str:
    window = _later_window(hours=48)
    text = f"\ufeffnickname,due_at,cutoff_at,extra_attempts\nmobrien,{window['due_at']},{window['cutoff_at']},1\n"
    return base64.b64encode(text.encode()).decode()


def _routes(codes: dict[str, Any]) -> dict[str, Callable[[int], Event]]:
    """Per route, the event of invocation i (routes that create or delete get fresh names)."""
    upload = {"upload_code": codes["upload_code"]}
    verification = {"verification_code": codes["verification_code"]}
    student = {"exam_id": EXAM_SLUG, "nickname": "mobrien"}
    return {
        "create_exam": lambda i: api_event(
            "create_exam",
            "valid",
            body={**json.loads(sample_event("create_exam", "valid")["body"]), "exam_id": f"x{i}"},
        ),
        "list_exams": lambda i: api_event("list_exams", "first_page"),
        "get_exam": lambda i: api_event("get_exam", "by_id"),
        # Times relative to now: the bench's exam opens a day before the run, and a window more
        # than MaxWindowDays long would be refused (a 422 is not the route's work).
        "update_exam": lambda i: api_event("update_exam", "later_due", body=_later_window(hours=30)),
        "delete_exam": lambda i: api_event("delete_exam", "by_id", path_params={"exam_id": f"gone-{i + 1}"}),
        "create_student": lambda i: api_event(
            "create_student", "valid", body={"nickname": f"c{i}", "first_name": "Zoë", "last_name": "O'Brien"}
        ),
        # The roster event is base64 text/csv, as API Gateway sends a binary media type.
        "import_students": lambda i: api_event("import_students", "roster", raw_body=_roster(f"i{i}x", 10)),
        "list_students": lambda i: api_event("list_students", "first_page"),
        "get_student": lambda i: api_event("get_student", "by_nickname", path_params=student),
        # The students create_student made, each given a new code before delete_student removes it.
        "regenerate_upload_code": lambda i: api_event(
            "regenerate_upload_code", "by_nickname", path_params={"exam_id": EXAM_SLUG, "nickname": f"c{i}"}
        ),
        "delete_student": lambda i: api_event(
            "delete_student", "by_nickname", path_params={"exam_id": EXAM_SLUG, "nickname": f"c{i}"}
        ),
        "set_extension": lambda i: api_event(
            "set_extension", "valid", path_params=student, body=_later_window(hours=48) | {"extra_attempts": 1}
        ),
        "remove_extension": lambda i: api_event("remove_extension", "by_nickname", path_params=student),
        "import_extensions": lambda i: api_event("import_extensions", "extensions", raw_body=_extensions_csv()),
        "create_export": lambda i: api_event("create_export", "start"),
        "get_export": lambda i: api_event(
            "get_export", "progress", path_params={"exam_id": EXAM_SLUG, "export_id": codes["export_id"]}
        ),
        "request_upload": lambda i: api_event(
            "request_upload", "with_filename", path_params={"upload_code": codes["presign_codes"][i % FORM_STUDENTS]}
        ),
        "get_upload_status": lambda i: api_event("get_upload_status", "by_code", path_params=upload),
        "get_verification": lambda i: api_event("get_verification", "by_code", path_params=verification),
        "get_download_url": lambda i: api_event("get_download_url", "by_code", path_params=verification),
        "verify_receipt": lambda i: api_event("verify_receipt", "not_a_receipt", body={"receipt": codes["receipt"]}),
        "get_jwks": lambda i: api_event("get_jwks", "keys"),
        "serve_pages": lambda i: api_event("serve_pages", "upload_page"),
        "serve_docs": lambda i: api_event("serve_docs", "openapi"),
    }


def _roster(prefix: str, rows: int) -> str:
    text = "nickname,first_name,last_name\n" + "".join(f"{prefix}{row},Ann,Lee\n" for row in range(rows))
    return base64.b64encode(text.encode()).decode()


def _percentile(ordered: list[float], share: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 3)


def _receipt_check(env: Environment, receipt: str) -> Callable[[], None]:
    """The ES256 check of `receipt` by the cryptography library alone, with its key made once as
    the product keeps it: what verify_receipt must compute whatever the code around it."""
    ((jwk,),) = env.sql("SELECT jwk FROM receipt_key")
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64url(jwk["x"])), int.from_bytes(_b64url(jwk["y"])), ec.SECP256R1()
    ).public_key()

    def check() -> None:
        signing_input, _, signature = receipt.rpartition(".")
        raw = _b64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))

    return check


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def measure(env: Environment, counter: StatementCounter, invocations: int) -> dict[str, dict[str, Any]]:
    codes = _fixture(env, invocations)
    computed = {"verify_receipt": _receipt_check(env, codes["receipt"])}
    results: dict[str, dict[str, Any]] = {}
    for function, event_for in _routes(codes).items():
        module = load_function(function, f"bench_{function}")
        runs = [
            floors.invoke_beside_floor(module, event_for(i), counter, computed.get(function))
            for i in range(invocations)
        ]
        durations, floor_ms = [run.ms for run in runs], [run.floor_ms for run in runs]
        ordered, floor_ordered = sorted(durations), sorted(floor_ms)
        p50, floor_p50 = _percentile(ordered, 0.5), _percentile(floor_ordered, 0.5)
        results[function] = {
            "warm_ms": {"p50": p50, "p99": _percentile(ordered, 0.99), "min": round(ordered[0], 3), "n": len(ordered)},
            "floor_ms": {"p50": floor_p50, "p99": _percentile(floor_ordered, 0.99)},
            "ratio": round(p50 / floor_p50, 2),
            "sql_per_request": max(run.statements for run in runs),
            "transactions_per_request": max(run.transactions for run in runs),
            "aws_requests_per_request": max(run.aws_requests for run in runs),
            "signatures_per_request": max(run.signatures for run in runs),
        }
    return results
