"""Opening a PDF to see whether a reviewer can read it, in a child process bounded in memory and
CPU: a hostile PDF (a decompression bomb, endless nesting, a loop of pages) costs the child its
limits, never the recorder its memory or its batch.

`check_pdf` runs this module as `python -m exam_depository.adapters.pdfs` with the bytes on stdin;
the child answers one JSON object on stdout. pypdf is imported in the child only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from exam_depository.domain.content_types import PdfFacts
from exam_depository.domain.errors import ServiceUnavailable

# The recorder has 256 MB; the child may take half, and 5 s of CPU.
MEMORY_BYTES = 128 * 1024 * 1024
CPU_SECONDS = 5
# What pypdf may inflate of one stream (its own default is larger).
MAX_INFLATED_BYTES = 32 * 1024 * 1024
# Pages looked at for text: a scanned document's first pages say as much as its last.
MAX_PAGES_FOR_TEXT = 50
BEYOND_LIMITS = "could not be opened within the limits"
# One child at a time per process: the recorder reads a batch's objects in up to ten threads, and
# ten children of 128 MiB each (ten inflating PDFs at once) are far over the function's 256 MB.
# One child and the recorder's own memory fit, so the limit above holds for the whole function.
_ONE_AT_A_TIME = threading.Semaphore(1)
# The child's own wall limit: past it, the PDF counts as unreadable.
CHILD_WALL_S = 10
# Without a deadline (the reconcile job, a test), how long a check waits for other checks first.
WAIT_FOR_CHILD_S = 15


def check_pdf(data: bytes, *, timeout_s: float = CHILD_WALL_S, deadline: float | None = None) -> PdfFacts:
    """Whether this PDF opens, needs a password, and has text on one of its first pages.

    `deadline` (a `time.monotonic()` instant) is when the check must have answered: the
    recorder's, its Lambda's end less what its batch does after its reads. Until then a check
    waits for the other checks of its batch (one child at a time: a hostile PDF may hold it for
    its whole `timeout_s`), so a few slow PDFs delay an honest one rather than fail it. A check
    that cannot end by then, waiting or in its child, raises ServiceUnavailable: its event alone
    fails and is retried, as an S3 read that failed; a PDF is never counted unreadable because
    others took its time. None: waits `WAIT_FOR_CHILD_S`, then gives the child its whole limit."""
    if deadline is None:
        deadline = time.monotonic() + WAIT_FOR_CHILD_S + timeout_s
    if not _ONE_AT_A_TIME.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise ServiceUnavailable("Other PDF checks took the child until this batch's time ran out; retried")
    try:
        left = deadline - time.monotonic()
        facts = _check_in_child(data, min(timeout_s, left)) if left > 0 else None
    finally:
        _ONE_AT_A_TIME.release()
    if facts is None:  # killed at its own wall limit, or at the batch's deadline
        if left < timeout_s:
            raise ServiceUnavailable("A PDF check ran out of its batch's time before its own limit; retried")
        return PdfFacts(opens=False, needs_password=False, has_text=None, problem=BEYOND_LIMITS)
    return facts


def _check_in_child(data: bytes, timeout_s: float) -> PdfFacts | None:
    """What the child answers; None when it was killed after `timeout_s`."""
    try:
        # Our own interpreter and module, no shell. The child sets its limits itself, first:
        # a preexec_fn is unsafe where threads run (the recorder reads a batch in a pool). It
        # finds the package and pypdf where this process does (a Lambda layer's /opt/python).
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "exam_depository.adapters.pdfs", str(MEMORY_BYTES), str(CPU_SECONDS)],
            input=data,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)},
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return PdfFacts(opens=False, needs_password=False, has_text=None, problem=BEYOND_LIMITS)
    try:
        answer = json.loads(done.stdout)
        return PdfFacts(
            opens=bool(answer["opens"]),
            needs_password=bool(answer["needs_password"]),
            has_text=None if answer["has_text"] is None else bool(answer["has_text"]),
            problem=None if answer["problem"] is None else str(answer["problem"])[:200],
        )
    except (ValueError, KeyError, TypeError):
        return PdfFacts(opens=False, needs_password=False, has_text=None, problem=BEYOND_LIMITS)


def _limit_myself(memory_bytes: int, cpu_seconds: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def facts_of(data: bytes) -> dict[str, Any]:
    """What the child answers about one PDF (run inside the limits)."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    _lower_pypdf_limits()
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            # An owner password alone (printing or copying restricted) opens with the empty user password.
            return {"opens": False, "needs_password": True, "has_text": None, "problem": "needs a password"}
        has_text = False
        for number, page in enumerate(reader.pages):
            if number >= MAX_PAGES_FOR_TEXT:
                break
            if page.extract_text().strip():
                has_text = True
                break
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        return {"opens": False, "needs_password": False, "has_text": None, "problem": type(exc).__name__}
    return {"opens": True, "needs_password": False, "has_text": has_text, "problem": None}


def _lower_pypdf_limits() -> None:
    from pypdf import overwrite_configuration

    overwrite_configuration(
        maximum_declared_stream_length=MAX_INFLATED_BYTES,
        array_based_stream_maximum_output_length=MAX_INFLATED_BYTES,
        jbig2_maximum_output_length=MAX_INFLATED_BYTES,
        lzw_maximum_output_length=MAX_INFLATED_BYTES,
        run_length_maximum_output_length=MAX_INFLATED_BYTES,
        zlib_maximum_output_length=MAX_INFLATED_BYTES,
        brotli_maximum_output_length=MAX_INFLATED_BYTES,
    )


if __name__ == "__main__":
    _limit_myself(int(sys.argv[1]), int(sys.argv[2]))
    sys.stdout.write(json.dumps(facts_of(sys.stdin.buffer.read())))
