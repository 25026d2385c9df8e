"""`make run`: start the whole product on 127.0.0.1 and stop all of it on Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
BUCKET = "exam-depository-local"
MAX_RECEIVE_COUNT = 5


def main() -> None:
    started = time.monotonic()
    # Noise for a person at a terminal: Lambda has a runtime dir, and empty metric flushes are fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    local_dir = Path(os.environ.get("LOCAL_DIR", ROOT / ".local")).resolve()
    local_dir.mkdir(parents=True, exist_ok=True)
    api_port = int(os.environ.get("PORT", "3000"))
    s3_port = int(os.environ.get("S3_PORT", "4566"))
    workers = int(os.environ.get("RECORD_WORKERS", "2"))
    from local_stack.database import start_postgres
    from local_stack.emulator import MiniStack, port_in_use
    from local_stack.functions import handler_environment

    for port, variable in ((api_port, "PORT"), (s3_port, "S3_PORT")):
        if port_in_use(port):
            raise SystemExit(f"Port {port} is taken (is the stack already running?); set {variable} to a free port.")
    keys = _local_secrets(local_dir / "secrets.json")
    terminal = sys.stdout
    # Handler logs (Powertools JSON) go to a file; the terminal keeps the banner and access lines.
    handler_log = (local_dir / "stack.log").open("a", buffering=1)
    sys.stdout = handler_log

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    ministack = MiniStack(
        executable=Path(os.environ.get("MINISTACK_BIN", ROOT / ".tools/ministack/bin/ministack")),
        port=s3_port,
        data_dir=local_dir / "s3",
        credentials=(keys["s3_access_key"], keys["s3_secret_key"]),
        region=REGION,
    )
    postgres = None
    server = None
    try:
        ministack.start((local_dir / "ministack.log").open("ab"))
        postgres, database_url = start_postgres(local_dir / "postgres")
        handler_environment(database_url, ministack.endpoint, BUCKET, REGION, keys)
        server, queues = _start_services(
            api_port, ministack.endpoint, keys, workers=workers, stop=stop, terminal=terminal
        )
        stack = {
            "api_url": f"http://127.0.0.1:{api_port}",
            "api_key": keys["api_key"],
            "s3_endpoint": ministack.endpoint,
            "region": REGION,
            "bucket": BUCKET,
            "queue_url": queues.queue_url,
            "dead_letter_queue_url": queues.dead_letter_url,
            "database_url": database_url,
        }
        stack_file = local_dir / "stack.json"
        stack_file.write_text(json.dumps(stack, indent=2) + "\n")
        stack_file.chmod(0o600)
        _banner(terminal, stack, time.monotonic() - started)
        stop.wait()
    finally:
        print("\nStopping…", file=terminal, flush=True)
        stop.set()
        if server is not None:
            server.shutdown()
        ministack.stop()
        if postgres is not None:
            postgres.cleanup()
        print("Stopped: nothing of the stack is left running.", file=terminal, flush=True)


def _local_secrets(path: Path) -> dict[str, str]:
    """The local API key and emulator credentials: generated once, kept under .local/."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys = {
        "api_key": secrets.token_urlsafe(30),
        "s3_access_key": "LOCAL" + secrets.token_hex(8).upper(),
        "s3_secret_key": secrets.token_urlsafe(30),
    }
    path.write_text(json.dumps(keys, indent=2) + "\n")
    path.chmod(0o600)
    return keys


def _start_services(
    api_port: int, s3_endpoint: str, keys: dict[str, str], *, workers: int, stop: threading.Event, terminal: Any
) -> tuple[Any, Any]:
    from local_stack.delivery import NotificationDelivery
    from local_stack.emulator import clients, provision
    from local_stack.functions import FunctionPool, binary_media_types, read_template, routes
    from local_stack.gateway import Gateway, serve

    s3, sqs = clients(s3_endpoint, (keys["s3_access_key"], keys["s3_secret_key"]), REGION)
    origins = [f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}"]
    visibility_timeout_s = int(os.environ.get("QUEUE_VISIBILITY_TIMEOUT_S", "3"))
    queues = provision(
        s3, sqs, BUCKET, origins, max_receive_count=MAX_RECEIVE_COUNT, visibility_timeout_s=visibility_timeout_s
    )

    template = read_template()
    gateway = Gateway(routes(template), keys["api_key"], binary_media_types(template))
    server = serve(gateway, "127.0.0.1", api_port, terminal)
    threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()
    record_pool = FunctionPool("record_submissions")
    for _ in range(workers):
        NotificationDelivery(sqs, queues.queue_url, queues.queue_arn, record_pool, stop).start()
    return server, queues


def _banner(out: Any, stack: dict[str, str], seconds: float) -> None:
    api = stack["api_url"]
    print(
        f"""
Exam Depository is running locally (up in {seconds:.1f} s).

  API            {api}
  Upload page    {api}/
  Reviewer page  {api}/verify
  API docs       {api}/docs
  API key        {stack["api_key"]}   (header x-api-key, examiner routes only)
  S3 endpoint    {stack["s3_endpoint"]}   bucket {stack["bucket"]}

Try:  curl -s -X POST {api}/students -H "x-api-key: {stack["api_key"]}" \\
        -H 'content-type: application/json' -d '{{"nickname":"ann","first_name":"Ann","last_name":"Lee"}}'

State is kept in .local/ (stack.json, PostgreSQL, S3). Handler logs: .local/stack.log.
Press Ctrl-C to stop everything.
""",
        file=out,
        flush=True,
    )


if __name__ == "__main__":
    main()
