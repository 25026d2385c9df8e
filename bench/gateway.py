"""The local gateway's own cost per request (`make run`'s HTTP front), beside a lean Python HTTP
server's, measured in the same run with the same client:

- the gateway: local_stack.gateway.serve with the template's routes, a student's form request
  (POST /submissions/{upload_code} with a JSON body), answered by a function that returns a fixed
  answer at once (a FunctionPool whose instance does nothing), so that what is measured is the
  gateway: HTTP parsing, routing, the REST event, the invocation's log keys, the response and
  the access log line;
- the floor: http.server's ThreadingHTTPServer with a handler that reads the same request's body
  and answers the same fixed body, HTTP/1.1, nothing else.

Both take the same requests on one keep-alive connection from http.client in a process of its
own, one after another, and the figure is the CPU time of this process (every thread of the
server's: the connection's, any other) per request; the client's is not counted. Rounds of each
alternate; the median round counts. Budget: ≤ 1.5.

    python -m bench.gateway [--requests 2000]     (make bench runs it with the rest)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

from local_stack.functions import FunctionPool, read_template, routes
from local_stack.gateway import Gateway, serve
from local_stack.keys import KeyTable

PATH = "/submissions/7K3M-Q9TX-2WFD-8HNB-C4RZ"
BODY = json.dumps({"filename": "answers.pdf", "content_type": "application/pdf"}).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "bench"}
ANSWER = json.dumps({"url": "http://127.0.0.1/bucket", "fields": {"key": "submissions/1/x/answers.pdf"}}).encode()


def _fixed_answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": ANSWER.decode()}


class _FixedAnswerPool(FunctionPool):
    """The form's function replaced by one that answers at once: the gateway's work is left."""

    def _load(self) -> ModuleType:
        return cast(ModuleType, SimpleNamespace(lambda_handler=_fixed_answer))


class _LeanHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # the answer leaves in one write, as the gateway's does

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# The client: its own process, so that none of its work is counted as the server's.
_CLIENT = """
import http.client, json, sys, time
port, requests, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body, headers = sys.argv[4].encode(), json.loads(sys.argv[5])
client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def one():
    client.request("POST", path, body=body, headers=headers)
    response = client.getresponse()
    answer = response.read()
    if response.status != 200:
        raise SystemExit(f"the server answered {response.status}: {answer[:300]!r}")
for _ in range(50):  # warm: the connection, the function's instance, the route's first match
    one()
print("ready", flush=True)
sys.stdin.readline()
started = time.perf_counter()
for _ in range(requests):
    one()
print(time.perf_counter() - started, flush=True)
"""


def _server_cpu_ms(port: int, requests: int) -> tuple[float, float]:
    """This process's CPU per request while serving `requests` requests on one keep-alive
    connection from a client process, and the client's wall time per request, in ms."""
    client = subprocess.Popen(  # noqa: S603 (this interpreter, our own client)
        [sys.executable, "-c", _CLIENT, str(port), str(requests), PATH, BODY.decode(), json.dumps(HEADERS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdin is not None
    assert client.stdout is not None
    try:
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark's HTTP client did not start")
        cpu_before = time.process_time()
        client.stdin.write("go\n")
        client.stdin.flush()
        wall = float(client.stdout.readline())
        cpu = time.process_time() - cpu_before
    finally:
        client.wait(timeout=60)
    return cpu / requests * 1000, wall / requests * 1000


def measure(requests: int, rounds: int = 5) -> dict[str, Any]:
    """Gateway and lean server in turn, `rounds` times; the median round of each."""
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as work:
        template = read_template()
        gateway = Gateway(routes(template), KeyTable(Path(work) / "secrets.json"), [])
        gateway.pools["request_upload"] = _FixedAnswerPool("request_upload")
        # Line-buffered, as `make run`'s terminal is: a line is written when it is logged.
        access_log = (Path(work) / "access.log").open("w", buffering=1)
        gateway_runs, lean_runs = [], []
        try:
            with (
                _serving(serve(gateway, "127.0.0.1", 0, access_log)) as gateway_port,
                _serving(ThreadingHTTPServer(("127.0.0.1", 0), _LeanHandler)) as lean_port,
            ):
                for _ in range(rounds):
                    gateway_runs.append(_server_cpu_ms(gateway_port, requests))
                    lean_runs.append(_server_cpu_ms(lean_port, requests))
        finally:
            access_log.close()
    gateway_cpu, gateway_wall = sorted(gateway_runs)[rounds // 2]
    lean_cpu, lean_wall = sorted(lean_runs)[rounds // 2]
    return {
        "requests": requests,
        "rounds": rounds,
        "gateway_cpu_ms": round(gateway_cpu, 3),
        "lean_cpu_ms": round(lean_cpu, 3),
        "gateway_wall_ms": round(gateway_wall, 3),
        "lean_wall_ms": round(lean_wall, 3),
        "ratio": round(gateway_cpu / lean_cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(measure(args.requests), indent=2))


if __name__ == "__main__":
    main()
