"""`make run`: start the whole product on 127.0.0.1 and stop all of it on Ctrl-C (or SIGTERM,
SIGHUP). If the stack is killed outright its children die with it (local_stack/processes.py),
and the next start stops anything an earlier crash left and records what a lost queue held."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from local_stack.mailroom import MAILBOX_DIR

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
    from local_stack.database import migrate, start_postgres
    from local_stack.emulator import MiniStack, free_port, port_in_use, signing_key
    from local_stack.functions import handler_environment
    from local_stack.keys import local_secrets

    keys = local_secrets(local_dir / "secrets.json")
    first_key = keys["api_keys"][0]
    # SES relays every message it accepts to the mailroom's mailbox on this port.
    smtp_port = free_port()
    ministack = MiniStack(
        executable=Path(os.environ.get("MINISTACK_BIN", ROOT / ".tools/ministack/bin/ministack")),
        port=s3_port,
        data_dir=local_dir / "s3",
        credentials=(keys["s3_access_key"], keys["s3_secret_key"]),
        region=REGION,
        smtp_host=f"127.0.0.1:{smtp_port}",
    )
    terminal = _logs_to_file(local_dir / "stack.log")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    postgres = None
    server = None
    try:
        # A crashed earlier run's MiniStack is stopped by start(); only then is a taken port someone else's.
        ministack.start((local_dir / "ministack.log").open("ab"))
        if port_in_use(api_port):
            raise SystemExit(f"Port {api_port} is taken (is the stack already running?); set PORT to a free port.")
        postgres, database_url = start_postgres(local_dir / "postgres", local_dir / "postgres.log")
        signing_key(ministack.endpoint, (keys["s3_access_key"], keys["s3_secret_key"]), REGION)
        handler_environment(database_url, ministack.endpoint, BUCKET, REGION, keys)
        migrate(database_url)
        server, queues = _start_services(
            api_port,
            ministack.endpoint,
            keys,
            local_dir / "secrets.json",
            stop=stop,
            terminal=terminal,
            smtp_port=smtp_port,
        )
        recovered = _record_what_a_lost_queue_held()
        stack = {
            "api_url": f"http://127.0.0.1:{api_port}",
            "api_key": first_key["value"],
            "api_key_id": first_key["id"],
            "s3_endpoint": ministack.endpoint,
            "region": REGION,
            "bucket": BUCKET,
            "queue_url": queues.queue_url,
            "dead_letter_queue_url": queues.dead_letter_url,
            "export_queue_url": queues.export_queue_url,
            "scan_queue_url": queues.scan_queue_url,
            "scan_dead_letter_queue_url": queues.scan_dead_letter_url,
            "mail_queue_url": queues.mail_queue_url,
            "mail_dead_letter_queue_url": queues.mail_dead_letter_url,
            "mail_events_queue_url": queues.mail_events_queue_url,
            "mail_events_dead_letter_queue_url": queues.mail_events_dead_letter_url,
            "lti_login_url": f"http://127.0.0.1:{api_port}/lti/login",
            "lti_launch_url": f"http://127.0.0.1:{api_port}/lti/launch",
            "lti_jwks_url": f"http://127.0.0.1:{api_port}/lti/jwks.json",
            "lti_jobs_queue_url": queues.lti_jobs_queue_url,
            "lti_jobs_dead_letter_queue_url": queues.lti_jobs_dead_letter_url,
            "mailbox": str(local_dir / MAILBOX_DIR),
            "sender_address": os.environ["SENDER_ADDRESS"],
            "configuration_set": os.environ["CONFIGURATION_SET"],
            "sending_rate_per_second": os.environ["SENDING_RATE_PER_SECOND"],
            "database_url": database_url,
        }
        stack_file = local_dir / "stack.json"
        stack_file.write_text(json.dumps(stack, indent=2) + "\n")
        stack_file.chmod(0o600)
        _banner(terminal, stack, time.monotonic() - started, recovered, local_dir)
        stop.wait()
    finally:
        print("\nStopping…", file=terminal, flush=True)
        stop.set()
        if server is not None:
            server.shutdown()
        ministack.stop()
        if postgres is not None:
            postgres.stop()
        print("Stopped: nothing of the stack is left running.", file=terminal, flush=True)


def _logs_to_file(path: Path) -> TextIO:
    """Send whatever writes to standard output (the handlers' JSON logs, as on Lambda) to `path`,
    at the file-descriptor level so that it holds whichever module opened its stream first;
    returns the terminal, for the banner and the access log."""
    terminal = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    log = path.open("ab")
    sys.stdout.flush()
    os.dup2(log.fileno(), sys.stdout.fileno())
    sys.stdout = WholeLines(sys.stdout)
    return terminal


class WholeLines(io.TextIOBase):
    """Standard output shared by the instances' threads, written a whole line at a time. On Lambda
    each environment has its own; here a `print` (Powertools' metrics print their JSON, then the
    newline, as two writes) could otherwise get another thread's line between its two halves."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending = threading.local()

    def write(self, text: str) -> int:
        pending = getattr(self._pending, "text", "") + text
        complete, newline, self._pending.text = pending.rpartition("\n")
        if newline:
            with self._lock:
                self._stream.write(complete + newline)
        return len(text)

    def flush(self) -> None:
        """Write out the calling thread's unfinished line too: whoever flushes asks for it."""
        pending, self._pending.text = getattr(self._pending, "text", ""), ""
        with self._lock:
            self._stream.write(pending)
            self._stream.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()


def _start_services(
    api_port: int,
    s3_endpoint: str,
    keys: dict[str, Any],
    secrets_file: Path,
    *,
    stop: threading.Event,
    terminal: Any,
    smtp_port: int,
) -> tuple[Any, Any]:
    from local_stack.delivery import QueueDelivery
    from local_stack.emulator import (
        CONFIGURATION_SET,
        SENDER_ADDRESS,
        clients,
        event_clients,
        mail_events_pattern,
        provision,
        scan_results_pattern,
        ses_client,
        verify_sender,
    )
    from local_stack.functions import (
        FunctionPool,
        binary_media_types,
        concurrency_limits,
        gateway_responses,
        read_template,
        routes,
    )
    from local_stack.gateway import Gateway, serve
    from local_stack.keys import KeyTable
    from local_stack.mailroom import Mailroom
    from local_stack.scanner import CLAMSCAN, LocalScanner
    from local_stack.schedules import Scheduler, schedules

    if not CLAMSCAN.exists():
        raise SystemExit(f"ClamAV is not unpacked at {CLAMSCAN}: run `make run`, which unpacks it.")
    credentials = (keys["s3_access_key"], keys["s3_secret_key"])
    s3, sqs = clients(s3_endpoint, credentials, REGION)
    events, sts = event_clients(s3_endpoint, credentials, REGION)
    origins = [f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}"]
    visibility_timeout_s = int(os.environ.get("QUEUE_VISIBILITY_TIMEOUT_S", "3"))
    template = read_template()
    queues = provision(
        s3,
        sqs,
        events,
        BUCKET,
        origins,
        max_receive_count=MAX_RECEIVE_COUNT,
        visibility_timeout_s=visibility_timeout_s,
        scan_pattern=scan_results_pattern(template, BUCKET),
        mail_pattern=mail_events_pattern(template, CONFIGURATION_SET),
    )
    # The mail, as the template configures the sender with a SenderAddress (SENDER_ADDRESS=""
    # turns it off, as an empty SenderAddress does), its pages on this stack's address, and a
    # faster rate than the sandbox's 1 a second (the emulator never throttles).
    os.environ.setdefault("SENDER_ADDRESS", SENDER_ADDRESS)
    os.environ.setdefault("SENDING_RATE_PER_SECOND", "50")
    os.environ.update(
        {
            "CONFIGURATION_SET": CONFIGURATION_SET,
            "UPLOAD_PAGE_URL": f"http://127.0.0.1:{api_port}/",
            "VERIFY_PAGE_URL": f"http://127.0.0.1:{api_port}/verify",
            "MAIL_QUEUE_URL": queues.mail_queue_url,
            # LTI: the tool's address as the platform and the browser reach it, and its jobs' queue.
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "LTI_JOBS_QUEUE_URL": queues.lti_jobs_queue_url,
        }
    )
    if os.environ["SENDER_ADDRESS"]:
        verify_sender(ses_client(s3_endpoint, credentials, REGION), os.environ["SENDER_ADDRESS"])

    # The recorder's own queue, as the template gives it (before its deliveries start), and the
    # scan it marks each recorded file for (the template's MalwareScanning other than Off).
    os.environ["SUBMISSION_QUEUE_URL"] = queues.queue_url
    os.environ.setdefault("MALWARE_SCANNING", "on")
    # As many instances of each function as AWS runs with the template's default parameters, so
    # that the stack's connections stay within the database's as they do there (the local
    # PostgreSQL has max_connections 100, DatabaseMaxConnections' default).
    limits = concurrency_limits(template)
    gateway = Gateway(
        routes(template),
        KeyTable(secrets_file),
        binary_media_types(template),
        concurrency=limits,
        gateway_responses=gateway_responses(template),
    )
    server = serve(gateway, "127.0.0.1", api_port, terminal)
    threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()
    # One delivery thread per recorder instance at most: more would only meet Throttled.
    record_pool = FunctionPool("record_submissions", limits["record_submissions"])
    record_workers = int(os.environ.get("RECORD_WORKERS", "2"))
    for _ in range(min(record_workers, limits["record_submissions"] or record_workers)):
        QueueDelivery(sqs, queues.queue_url, queues.queue_arn, record_pool, stop).start()
    QueueDelivery(
        sqs,
        queues.export_queue_url,
        queues.export_queue_arn,
        FunctionPool("build_export", limits["build_export"]),
        stop,
        batch_size=1,
    ).start()
    os.environ["EXPORT_QUEUE_URL"] = queues.export_queue_url
    # GuardDuty's stand-in, and the scan results' function behind their queue (batch 10, as the template's).
    QueueDelivery(
        sqs,
        queues.scan_queue_url,
        queues.scan_queue_arn,
        FunctionPool("record_scan_results", limits["record_scan_results"]),
        stop,
    ).start()
    scanner_s3, scanner_sqs = clients(s3_endpoint, credentials, REGION)
    LocalScanner(
        scanner_s3,
        scanner_sqs,
        event_clients(s3_endpoint, credentials, REGION)[0],
        BUCKET,
        account=sts.get_caller_identity()["Account"],
        local_dir=secrets_file.parent,
        stop=stop,
    ).start()
    # The sender behind the mail queue, SES's delivery side (the mailroom: a mailbox MiniStack
    # relays to, and SES's events), and the function recording those events behind their queue.
    # As many pollers as the queues' MaximumConcurrency lets instances run at once, as Lambda's.
    for function, url, arn in (
        ("send_messages", queues.mail_queue_url, queues.mail_queue_arn),
        ("record_mail_events", queues.mail_events_queue_url, queues.mail_events_queue_arn),
        ("lti_worker", queues.lti_jobs_queue_url, queues.lti_jobs_queue_arn),
    ):
        pool = FunctionPool(function, limits[function])
        for _ in range(limits[function] or 1):
            QueueDelivery(sqs, url, arn, pool, stop).start()
    mail_sqs = clients(s3_endpoint, credentials, REGION)[1]
    Mailroom(
        mail_sqs,
        event_clients(s3_endpoint, credentials, REGION)[0],
        region=REGION,
        account=sts.get_caller_identity()["Account"],
        local_dir=secrets_file.parent,
        stop=stop,
        port=smtp_port,
    ).start()
    override = os.environ.get("LOCAL_SCHEDULE_SECONDS")
    Scheduler(schedules(template), stop, period_override_s=float(override) if override else None).start()
    return server, queues


def _record_what_a_lost_queue_held() -> int:
    """MiniStack keeps its queue in memory: a crash loses the notifications of uploads S3 had
    already accepted. The queue is new at every start, so nothing can be waiting in it: every
    stored upload still pending lost its notification, and the reconcile job records it now."""
    from exam_depository.usecases import reconcile, recorder

    return reconcile.reconcile(datetime.now(UTC), record=recorder.record_objects, grace=timedelta(0)).recorded


def _banner(out: TextIO, stack: dict[str, str], seconds: float, recovered: int, local_dir: Path) -> None:
    api = stack["api_url"]
    state = _shown(local_dir)
    recovery = f"\nRecorded {recovered} upload(s) whose notification an earlier crash lost.\n" if recovered else ""
    print(
        f"""
Exam Depository is running locally (up in {seconds:.1f} s).
{recovery}
  API            {api}
  Upload page    {api}/
  Reviewer page  {api}/verify
  Console        {api}/examiner   (sign in with the API key)
  API docs       {api}/docs
  API key        {stack["api_key"]}   (header x-api-key, examiner routes only)
  S3 endpoint    {stack["s3_endpoint"]}   bucket {stack["bucket"]}
  Mailbox        {_shown(Path(stack["mailbox"]))}/   (every email sent, as delivered)
  SES's list     {stack["s3_endpoint"]}/_ministack/ses/messages   (what SES accepted)
  LTI tool       login {stack["lti_login_url"]}
                 launch and redirect {stack["lti_launch_url"]}
                 keys {stack["lti_jwks_url"]}   (make lti-platform: a course to launch from)

Try:  curl -s {api}/exams -H "x-api-key: {stack["api_key"]}"   (README.md walks through the rest)
Another examiner: make examiner-key (prints a new key)

State is kept in {state}/ (stack.json, PostgreSQL, S3). Handler logs: {state}/stack.log.
Press Ctrl-C to stop everything.
""",
        file=out,
        flush=True,
    )


def _shown(folder: Path) -> str:
    """A folder as a person finds it from here: relative below the working directory (.local, as
    make run keeps it), else whole (LOCAL_DIR elsewhere)."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


if __name__ == "__main__":
    main()
