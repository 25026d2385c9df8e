"""An exam that accepts some types of file: the form refuses a file name of another kind (415, in
words a student understands), and the recorder checks the bytes S3 stored, with a ranged GET
beside the checksum path's HEAD (the body is still never read whole) or the first bytes of the
read path's GET; a file that is not of an accepted kind is rejected `wrong-type`, its version
deleted, its attempt given back. An exam that checks PDFs opens each in a bounded child process."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from botocore.client import BaseClient
from exam_depository.adapters import pdfs, storage
from exam_depository.config import MAX_UPLOAD_BYTES
from exam_depository.usecases import recorder

from bench.environment import StatementCounter
from bench.floors import same_requests
from local_stack.functions import LambdaContext
from tests import files
from tests.integration.conftest import BUCKET, EXAM, Api, Bucket, sqs_event
from tests.integration.test_exports import _build_queued, _start, _zip

Record = Callable[..., dict[str, Any]]
S3Call = tuple[str, dict[str, Any]]


@pytest.fixture
def s3_calls() -> Iterator[list[S3Call]]:
    """The S3 operations the product's client makes, with their parameters, in order."""
    calls: list[S3Call] = []

    def seen(event_name: str, params: dict[str, Any], **_: Any) -> None:
        calls.append((event_name.rsplit(".", 1)[-1], dict(params)))

    storage.client().meta.events.register("provide-client-params.s3", seen)
    yield calls
    storage.client().meta.events.unregister("provide-client-params.s3", seen)


def _object_reads(calls: list[S3Call]) -> list[tuple[str, str | None]]:
    return [(name, params.get("Range")) for name, params in calls if name in ("HeadObject", "GetObject")]


def _restricted(api: Api, *kinds: str, check_pdfs: bool = False) -> dict[str, Any]:
    response = api.call(
        "update_exam",
        "later_due",
        path_params={"exam_id": EXAM},
        body={"accepted_types": list(kinds), "check_pdfs": check_pdfs},
    )
    assert response.status == 200, response.body
    return dict(response.body)


def _form(api: Api, code: str, filename: str, content_type: str, sha256: str | None = None) -> dict[str, Any]:
    body = {"filename": filename, "content_type": content_type} | ({"sha256": sha256} if sha256 else {})
    response = api.call("request_upload", "with_filename", path_params={"upload_code": code}, body=body)
    assert response.status == 201, response.body
    return dict(response.body)


def _post(bucket: Bucket, form: dict[str, Any], content: bytes, *, pinned: bool) -> None:
    """What S3 stores for the form's POST: with the checksum fields, the bytes and their SHA-256."""
    if not pinned:
        bucket.upload(form, content)
        return
    stored = bucket.s3.put_object(
        Bucket=BUCKET,
        Key=form["fields"]["key"],
        Body=content,
        ChecksumAlgorithm=form["fields"]["x-amz-checksum-algorithm"],
        ChecksumSHA256=form["fields"]["x-amz-checksum-sha256"],
    )
    bucket.latest[form["fields"]["key"]] = stored["VersionId"]


def _progress(api: Api, code: str) -> dict[str, Any]:
    return dict(api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body)


def _upload(
    api: Api, bucket: Bucket, record: Record, code: str, content: bytes, filename: str, *, pinned: bool
) -> dict[str, Any]:
    sha256 = hashlib.sha256(content).hexdigest() if pinned else None
    declared = "application/pdf" if filename.endswith(".pdf") else "application/octet-stream"
    form = _form(api, code, filename, declared, sha256)
    _post(bucket, form, content, pinned=pinned)
    record(bucket.notification(form["fields"]["key"], len(content)))
    states = {upload["upload_id"]: upload for upload in _progress(api, code)["uploads"]}
    return dict(states[form["upload_id"]])


# --- the exam and its form -----------------------------------------------------------------------


def test_a_form_for_a_type_the_exam_does_not_accept_is_refused_in_words(api: Api, database_url: str) -> None:
    exam = _restricted(api, "word", "pdf")
    student = api.create_student()
    assert (exam["accepted_types"], exam["check_pdfs"]) == (["word", "pdf"], False)
    assert exam["scan_counts"] == {"scanning": 0, "threat": 0, "unsupported": 0, "failed": 0}

    refused = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": student["upload_code"]},
        body={"filename": "program.exe", "content_type": "application/x-msdownload"},
    )

    assert refused.status == 415
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.body == {
        "type": "urn:exam-depository:problem:type-not-accepted",
        "title": "This exam does not accept this type of file",
        "status": 415,
        "detail": "This exam accepts a PDF or a Word document (.pdf, .docx); program.exe is not one.",
        "accepted_types": ["pdf", "word"],
        "accept": (
            ".pdf,application/pdf,application/x-pdf,"
            ".docx,application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ),
    }
    # And the page knows it before the student picks a file; no form was issued, no attempt used
    progress = _progress(api, student["upload_code"])
    assert progress["exam"]["accepted_types"] == ["word", "pdf"]
    assert progress["exam"]["accept"] == refused.body["accept"]
    assert (progress["uploads"], progress["attempts_used"]) == ([], 0)


def test_a_form_carries_the_types_it_was_issued_under(api: Api, database_url: str) -> None:
    student = api.create_student()
    before = _form(api, student["upload_code"], "answers.zip", "application/zip")
    _restricted(api, "pdf", check_pdfs=True)

    after = _form(api, student["upload_code"], "answers.pdf", "application/pdf")

    with psycopg.connect(database_url) as conn:
        pinned: dict[str, str] = dict(
            conn.execute(
                "SELECT id::text, (accepted_types, check_pdfs)::text FROM upload WHERE id = ANY(%s::uuid[])",
                ([before["upload_id"], after["upload_id"]],),
            ).fetchall()
        )
    assert pinned == {before["upload_id"]: "({},f)", after["upload_id"]: "({pdf},t)"}
    # And the change is in the audit log, as every change of the exam's settings
    with psycopg.connect(database_url) as conn:
        changed = conn.execute(
            "SELECT before, after FROM audit_event WHERE action = 'exam.updated' ORDER BY seq"
        ).fetchall()
    assert changed == [({"accepted_types": [], "check_pdfs": False}, {"accepted_types": ["pdf"], "check_pdfs": True})]


def test_checking_pdfs_needs_an_exam_that_takes_pdfs(api: Api) -> None:
    _restricted(api, "word")

    def change(body: dict[str, Any]) -> Any:
        return api.call("update_exam", "later_due", path_params={"exam_id": EXAM}, body=body)

    refused = change({"check_pdfs": True})
    together = change({"accepted_types": ["zip"], "check_pdfs": True})
    repeated = change({"accepted_types": ["pdf", "pdf"]})
    unknown = change({"accepted_types": ["exe"]})

    assert [r.status for r in (refused, together, repeated, unknown)] == [422, 422, 422, 422]
    assert refused.body["detail"] == (
        "Checking PDFs (check_pdfs) needs pdf among the accepted_types, or none (any type)."
    )
    exam = api.call("get_exam", "by_id", path_params={"exam_id": EXAM}).body
    assert (exam["accepted_types"], exam["check_pdfs"]) == (["word"], False)


@pytest.mark.parametrize(
    ("kind", "filename", "content_type"),
    [
        ("zip", "answers.zip", "application/x-zip"),
        ("zip", "answers.zip", "application/x-zip-compressed"),
        ("image", "photo.jpg", "image/jpg"),
        ("text", "notes.md", "text/x-markdown"),
        ("text", "notes.md", "application/octet-stream"),  # a browser that does not know .md
        ("pdf", "answers.pdf", "application/x-pdf"),
        ("pdf", "answers.pdf", "application/msword"),  # the name's extension decides
    ],
)
def test_a_form_is_issued_for_a_name_of_the_kind_whatever_type_a_browser_declares(
    api: Api, kind: str, filename: str, content_type: str
) -> None:
    _restricted(api, kind)
    student = api.create_student()

    form = _form(api, student["upload_code"], filename, content_type)

    assert form["upload_id"]


@pytest.mark.parametrize(
    ("kinds", "filename", "content_type"),
    [
        (("pdf",), "answer.hta", "application/pdf"),
        (("pdf",), "answer.html", "application/pdf"),
        (("text",), "answer.html", "text/plain"),
        (("text",), "answer.bat", "text/plain"),
        (("text",), "answer.url", "text/plain"),
        (("text",), "answer.svg", "text/plain"),
        (("pdf",), "answer", "application/pdf"),
        (("pdf",), "answer.pdf.hta", "application/pdf"),
        (("pdf",), "answer.hta.", "application/pdf"),
    ],
)
def test_a_form_for_a_name_a_reviewers_computer_would_run_is_refused_whatever_the_declared_type(
    api: Api, kinds: tuple[str, ...], filename: str, content_type: str
) -> None:
    # Given an exam that accepts PDFs or text, and a browser declaring the accepted type
    _restricted(api, *kinds)
    student = api.create_student()

    # When a form is asked for a file whose name would make Windows run or render it
    refused = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": student["upload_code"]},
        body={"filename": filename, "content_type": content_type},
    )

    # Then it is refused in the words of any other type (a PDF that is an HTA by its name would
    # be recorded, and downloaded under that name)
    assert refused.status == 415, refused.body
    accepted = {"pdf": "a PDF (.pdf)", "text": "a plain text file (.txt, .md)"}[kinds[0]]
    assert refused.body["detail"] == f"This exam accepts {accepted}; {filename} is not one."
    assert _progress(api, student["upload_code"])["uploads"] == []


def test_a_form_whose_declared_type_and_name_are_both_of_another_kind_is_still_refused(api: Api) -> None:
    _restricted(api, "word", "pdf")
    student = api.create_student()

    refused = api.call(
        "request_upload",
        "with_filename",
        path_params={"upload_code": student["upload_code"]},
        body={"filename": "answers.docm", "content_type": "application/vnd.ms-word.document.macroEnabled.12"},
    )

    assert refused.status == 415
    assert refused.body["type"] == "urn:exam-depository:problem:type-not-accepted"
    assert (
        refused.body["detail"] == "This exam accepts a PDF or a Word document (.pdf, .docx); answers.docm is not one."
    )


# --- the recorder --------------------------------------------------------------------------------


@pytest.mark.parametrize("pinned", [True, False], ids=["checksum path", "read path"])
def test_an_executable_named_pdf_is_rejected_its_version_deleted_and_its_attempt_given_back(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call], pinned: bool
) -> None:
    _restricted(api, "pdf")
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], files.windows_program(), "answers.pdf", pinned=pinned)

    assert upload["status"] == "rejected"
    assert upload["rejection_reason"] == "wrong-type"
    assert upload["found_type"] == "windows-program"
    assert upload["message"] == (
        "This file is a Windows program, not a PDF. It was not handed in and does not count as an attempt: "
        "choose the right file and upload it again."
    )
    progress = _progress(api, student["upload_code"])
    assert (progress["attempts_used"], progress["attempts_left"], progress["current"]) == (0, 5, None)
    assert bucket.versions() == []
    # One request each: the checksum path's HEAD and a GET of the first 8 KiB only (the body is
    # never read whole); the read path's one GET, hashed as ever
    if pinned:
        assert _object_reads(s3_calls) == [("HeadObject", None), ("GetObject", "bytes=0-8191")]
    else:
        assert _object_reads(s3_calls) == [("GetObject", None)]


@pytest.mark.parametrize("pinned", [True, False], ids=["checksum path", "read path"])
def test_a_word_document_whose_types_come_last_is_read_to_its_end_and_recorded(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call], pinned: bool
) -> None:
    _restricted(api, "word")
    student = api.create_student()
    document = files.docx(content_types_last=True, padding=20_000)

    upload = _upload(api, bucket, record, student["upload_code"], document, "answers.docx", pinned=pinned)

    assert (upload["status"], upload["found_type"], upload["message"]) == ("recorded", "docx", None)
    assert _progress(api, student["upload_code"])["current"]["size_bytes"] == len(document)
    reads = _object_reads(s3_calls)
    assert reads[-1] == ("GetObject", "bytes=-65536")  # the ZIP's central directory names its entries
    assert len(reads) == (3 if pinned else 2)


def test_an_exam_that_accepts_any_type_reads_as_before(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call]
) -> None:
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], files.windows_program(), "x.pdf", pinned=True)

    assert (upload["status"], upload["found_type"]) == ("recorded", None)
    assert _object_reads(s3_calls) == [("HeadObject", None)]


def test_the_bench_floor_replays_the_ranged_get_as_the_product_made_it(
    api: Api, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an object stored with its checksum, read as a restricted form's is
    content = files.pdf_with_text()
    key = "submissions/1/bench/answers.pdf"
    checksum = base64.b64encode(hashlib.sha256(content).digest()).decode()
    version = bucket.s3.put_object(
        Bucket=BUCKET, Key=key, Body=content, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
    )["VersionId"]
    counter = StatementCounter()
    with counter.installed():
        counter.reset()
        stored = storage.inspect(key, version, MAX_UPLOAD_BYTES, checksum_pinned=True, read="start")
        requests = counter.trace.aws_requests
        product = [(request.operation, request.params) for request in requests]
        # When the bench's floor replays the product's trace with bare botocore
        replayed: list[S3Call] = []
        make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]

        def replaying(client: Any, operation: str, params: dict[str, Any]) -> Any:
            replayed.append((operation, dict(params)))
            return make_api_call(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", replaying)
        with counter.paused():
            same_requests(requests)

    # Then the floor made the same two requests, the Range and all
    assert stored is not None
    assert stored.first_bytes == content[:8192]
    assert [operation for operation, _ in product] == ["HeadObject", "GetObject"]
    assert product[1][1]["Range"] == "bytes=0-8191"
    assert replayed == product


def test_the_bench_floor_replays_the_third_ranged_get_of_a_zip_as_the_product_made_it(
    api: Api, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a LibreOffice .docx stored with its checksum, read as a Word exam's form is read
    content = files.libreoffice_docx()
    key = "submissions/1/bench/answers.docx"
    checksum = base64.b64encode(hashlib.sha256(content).digest()).decode()
    version = bucket.s3.put_object(
        Bucket=BUCKET, Key=key, Body=content, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
    )["VersionId"]
    types_at = zipfile.ZipFile(io.BytesIO(content)).getinfo("[Content_Types].xml").header_offset
    counter = StatementCounter()
    with counter.installed():
        counter.reset()
        entry = storage.read_range(key, version, types_at, 1305)
        requests = counter.trace.aws_requests
        product = [(request.operation, request.params) for request in requests]
        # When the bench's floor replays the product's trace with bare botocore
        replayed: list[S3Call] = []
        make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]

        def replaying(client: Any, operation: str, params: dict[str, Any]) -> Any:
            replayed.append((operation, dict(params)))
            return make_api_call(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", replaying)
        with counter.paused():
            same_requests(requests)

    # Then the floor made the same request, its Range and all, and the product had those bytes
    assert entry == content[types_at : types_at + 1305]
    assert [(operation, params["Range"]) for operation, params in product] == [
        ("GetObject", f"bytes={types_at}-{types_at + 1304}")
    ]
    assert replayed == product


_DOCM_WORDS = (
    "This file is a Word document with macros (.docm), which is not accepted: save it as a Word document (.docx) "
    "and upload it again. It was not handed in and does not count as an attempt."
)


def _wrong(found: str, wanted: str) -> str:
    return (
        f"This file is {found}, not {wanted}. It was not handed in and does not count as an attempt: "
        "choose the right file and upload it again."
    )


@pytest.mark.parametrize("pinned", [True, False], ids=["checksum path", "read path"])
@pytest.mark.parametrize(
    ("kinds", "filename", "make", "found_type", "message"),
    [
        (
            ("word",),
            "answers.docx",
            lambda: files.zip_claiming_word(("evil.exe", files.windows_program())),
            "zip",
            _wrong("a ZIP archive", "a Word document"),
        ),
        (
            ("word",),
            "answers.docx",
            lambda: files.zip_of(("word/evil.exe", files.windows_program())),
            "zip",
            _wrong("a ZIP archive", "a Word document"),
        ),
        (
            ("word",),
            "answers.docx",
            lambda: files.docx_before_another_zip(("evil.exe", files.windows_program()), padding=20_000),
            "zip",
            _wrong("a ZIP archive", "a Word document"),
        ),
        (("word",), "answers.docx", files.docm, "docm", _DOCM_WORDS),
        (
            ("word",),
            "answers.docx",
            lambda: files.docm(content_types_last=True, padding=20_000),
            "docm",
            _DOCM_WORDS,
        ),
        (
            ("odt",),
            "answers.odt",
            lambda: files.odt_without("content.xml"),
            "zip",
            _wrong("a ZIP archive", "an OpenDocument text"),
        ),
        (
            ("pdf",),
            "answers.pdf",
            lambda: b"  <html><script>alert(1)</script>%PDF-1.4\n" + files.pdf_with_text(),
            "html",
            _wrong("a web page (HTML)", "a PDF"),
        ),
        (
            ("text",),
            "answers.txt",
            lambda: b"<!-- saved from url=(0014)about:internet -->\n" + files.html(),
            "html",
            _wrong("a web page (HTML)", "a plain text file"),
        ),
        (
            ("text",),
            "answers.txt",
            lambda: b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "svg",
            _wrong("an SVG drawing", "a plain text file"),
        ),
    ],
    ids=[
        "a ZIP naming Word's main part holding a program",
        "a ZIP holding only word/evil.exe",
        "a Word document before another ZIP",
        "a .docm named .docx",
        "a .docm, its types last",
        "an .odt without content.xml",
        "a web page with %PDF-",
        "a saved web page",
        "an SVG with a script",
    ],
)
def test_a_file_disguised_as_an_accepted_kind_is_rejected_for_what_it_is(
    api: Api,
    bucket: Bucket,
    record: Record,
    kinds: tuple[str, ...],
    filename: str,
    make: Callable[[], bytes],
    found_type: str,
    message: str,
    pinned: bool,
) -> None:
    _restricted(api, *kinds)
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], make(), filename, pinned=pinned)

    assert (upload["status"], upload["rejection_reason"]) == ("rejected", "wrong-type")
    assert (upload["found_type"], upload["message"]) == (found_type, message)
    assert _progress(api, student["upload_code"])["attempts_left"] == 5
    assert bucket.versions() == []


@pytest.mark.parametrize(
    ("kind", "filename", "make", "found_type"),
    [
        ("word", "answers.docx", lambda: files.docx(padding=20_000), "docx"),
        ("odt", "answers.odt", files.odt, "odt"),
        ("text", "answers.md", lambda: b"# Answer\n\nE<sub>kin</sub> is *kept*.<br>\n", "text"),
        ("pdf", "answers.pdf", lambda: b"\xef\xbb\xbf\n" + files.pdf_with_text(), "pdf"),
        ("text", "answers.txt", lambda: b"def smallest(x, y):\n    if x<y:\n        one = x\n", "text"),
        ("text", "answers.txt", lambda: b"while lo<hi and found:\n    onset = lo\n", "text"),
        ("text", "answers.md", lambda: b"# Q3\n\nThe `<script>` element loads JavaScript.\n", "text"),
        ("text", "answers.md", lambda: b'```html\n<button onclick="count()">Add</button>\n```\n', "text"),
        ("text", "answers.md", lambda: b'# Q5\n\n<iframe src="https://example.org/v/1"></iframe>\n', "text"),
        ("text", "answers.md", lambda: b"<!-- Exam 3 -->\n# Answer\n", "text"),
        ("text", "answers.txt", lambda: "Réponse : l’énergie « se conserve ».\r\n".encode("cp1252"), "text"),
    ],
    ids=[
        "a Word document past 8 KiB, its types first",
        "an OpenDocument text",
        "Markdown with tags",
        "a PDF after a BOM",
        "Python code (x<y, then one = x)",
        "Python code (lo<hi and found, then onset)",
        "Markdown naming <script> in code",
        "Markdown with an onclick in a fence",
        "Markdown embedding a video",
        "Markdown starting with an HTML comment",
        "Windows-1252 text from Notepad",
    ],
)
def test_a_file_of_an_accepted_kind_is_still_recorded(
    api: Api, bucket: Bucket, record: Record, kind: str, filename: str, make: Callable[[], bytes], found_type: str
) -> None:
    _restricted(api, kind)
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], make(), filename, pinned=True)

    assert (upload["status"], upload["found_type"], upload["message"]) == ("recorded", found_type, None)


@pytest.mark.parametrize("pinned", [True, False], ids=["checksum path", "read path"])
def test_a_libreoffice_word_document_is_read_at_the_entry_its_directory_names_and_recorded(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call], pinned: bool
) -> None:
    # Given a Word exam, and a .docx laid out as LibreOffice writes one: [Content_Types].xml after
    # the text, before the picture (in neither the first 8 KiB nor the last 64 KiB)
    _restricted(api, "word")
    student = api.create_student()
    document = files.libreoffice_docx()
    types_at = zipfile.ZipFile(io.BytesIO(document)).getinfo("[Content_Types].xml").header_offset

    upload = _upload(api, bucket, record, student["upload_code"], document, "answers.docx", pinned=pinned)

    # Then it is recorded as the Word document it is, from one more ranged GET of that entry alone
    assert (upload["status"], upload["found_type"]) == ("recorded", "docx")
    reads = _object_reads(s3_calls)
    assert reads[-2] == ("GetObject", "bytes=-65536")
    entry_range = reads[-1][1]
    assert entry_range is not None
    assert entry_range.startswith(f"bytes={types_at}-")
    start, end = (int(bound) for bound in entry_range.removeprefix("bytes=").split("-"))
    assert end - start + 1 <= 2048
    assert len(reads) == (4 if pinned else 3)


def test_a_libreoffice_word_document_read_whole_is_decided_from_those_bytes(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call]
) -> None:
    # Given an exam that takes Word documents and checks its PDFs: each upload is read whole
    _restricted(api, "word", "pdf", check_pdfs=True)
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], files.libreoffice_docx(), "answers.docx", pinned=True)

    # Then the entry that decides is taken from the bytes read: no further request
    assert (upload["status"], upload["found_type"]) == ("recorded", "docx")
    assert _object_reads(s3_calls) == [("GetObject", None)]


def test_an_exam_without_zip_based_kinds_reads_no_third_range_of_a_zip(
    api: Api, bucket: Bucket, record: Record, s3_calls: list[S3Call]
) -> None:
    # Given a PDF exam, and the same .docx named .pdf
    _restricted(api, "pdf")
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], files.libreoffice_docx(), "x.pdf", pinned=True)

    # Then it is refused as the ZIP it is, from its first bytes and its end alone
    assert (upload["status"], upload["found_type"]) == ("rejected", "zip")
    assert _object_reads(s3_calls) == [
        ("HeadObject", None),
        ("GetObject", "bytes=0-8191"),
        ("GetObject", "bytes=-65536"),
    ]


def test_a_file_is_downloaded_and_exported_under_the_extension_of_what_its_bytes_are(
    api: Api, bucket: Bucket, record: Record, handler: Callable[[str], Any], database_url: str
) -> None:
    # Given an exam that takes PDFs or text, and a student whose answer.pdf is text by its bytes
    _restricted(api, "pdf", "text")
    student = api.create_student("ann")
    upload = _upload(api, bucket, record, student["upload_code"], b"My answer is 42.\n", "answer.pdf", pinned=True)
    assert (upload["status"], upload["found_type"]) == ("recorded", "text")
    current = _progress(api, student["upload_code"])["current"]

    # When a reviewer asks for its link, and the examiner exports the exam
    link = api.call("get_download_url", "by_code", path_params={"verification_code": current["verification_code"]})
    export_id = _start(api)
    assert _build_queued(handler) == ["done"]

    # Then the link saves it as text and the ZIP names it so; the record keeps the student's name
    assert link.status == 200, link.body
    disposition = parse_qs(urlsplit(link.body["url"]).query)["response-content-disposition"]
    assert disposition == ["attachment; filename=\"answer.pdf.txt\"; filename*=UTF-8''answer.pdf.txt"]
    archive = _zip(database_url, export_id)
    assert "ann/answer.pdf.txt" in archive.namelist()
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert [(row["filename"], row["path_in_zip"]) for row in manifest] == [("answer.pdf", "ann/answer.pdf.txt")]
    assert current["filename"] == "answer.pdf"


# --- PDFs, opened in a bounded child process --------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "make", "status", "reason", "warnings"),
    [
        ("with text", files.pdf_with_text, "recorded", None, []),
        ("blank", files.blank_pdf, "recorded", None, ["scanned_pdf"]),
        ("encrypted", files.encrypted_pdf, "rejected", "pdf-encrypted", None),
        ("owner password only", lambda: files.encrypted_pdf(user_password=""), "recorded", None, []),
        ("truncated", files.truncated_pdf, "rejected", "pdf-unreadable", None),
        ("10,000 nested arrays", files.nested_arrays_pdf, "rejected", "pdf-unreadable", None),
        ("a /Parent loop", files.parent_loop_pdf, "rejected", "pdf-unreadable", None),
    ],
)
def test_a_pdf_that_must_open_is_opened_within_bounds(
    api: Api,
    bucket: Bucket,
    record: Record,
    database_url: str,
    label: str,
    make: Callable[[], bytes],
    status: str,
    reason: str | None,
    warnings: list[str] | None,
) -> None:
    _restricted(api, "pdf", check_pdfs=True)
    student = api.create_student()

    upload = _upload(api, bucket, record, student["upload_code"], make(), "answers.pdf", pinned=True)

    assert (upload["status"], upload["rejection_reason"]) == (status, reason)
    with psycopg.connect(database_url) as conn:
        kept = conn.execute("SELECT warnings FROM submission").fetchall()
    assert [row[0] for row in kept] == ([] if warnings is None else [warnings])
    assert len(bucket.versions()) == (1 if status == "recorded" else 0)


@dataclass
class _EndingSoon(LambdaContext):
    """A recorder's invocation with this much of its time left."""

    remaining_ms: int = 0

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_pdf_check_that_cannot_end_before_the_recorder_is_stopped_fails_its_event_and_is_retried(
    api: Api, bucket: Bucket, handler: Callable[[str], ModuleType]
) -> None:
    # Given a PDF handed in where PDFs are checked
    _restricted(api, "pdf", check_pdfs=True)
    code = api.create_student()["upload_code"]
    content = files.pdf_with_text()
    form = _form(api, code, "answers.pdf", "application/pdf")
    _post(bucket, form, content, pinned=False)
    event = sqs_event({"Records": [bucket.notification(form["fields"]["key"], len(content))]})

    # When the recorder gets it with less of its Lambda's time left than its batch needs after the checks
    ending = _EndingSoon(remaining_ms=int(recorder.AFTER_CHECKS_S * 1000) - 1)
    answer = handler("record_submissions").lambda_handler(event, ending)

    # Then its event fails, retried: the PDF is neither checked nor rejected, its version kept
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert [upload["status"] for upload in _progress(api, code)["uploads"]] == ["pending"]
    assert len(bucket.versions()) == 1

    # And retried with the Lambda's time, it is checked and recorded
    assert handler("record_submissions").lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [upload["status"] for upload in _progress(api, code)["uploads"]] == ["recorded"]


def test_a_decompression_bomb_costs_the_child_its_limits_not_the_recorder() -> None:
    bomb = files.inflate_bomb_pdf()  # 200 MB inflated from about 200 KB

    facts = pdfs.check_pdf(bomb)

    # pypdf stops inflating at the child's limit: it opens, and no text was found within it
    assert len(bomb) < 1024 * 1024
    assert facts.has_text is not True


def test_a_child_past_its_time_is_killed_and_the_pdf_counts_as_unreadable() -> None:
    facts = pdfs.check_pdf(files.inflate_bomb_pdf(), timeout_s=0.05)

    assert (facts.opens, facts.problem) == (False, pdfs.BEYOND_LIMITS)


def test_a_child_past_its_memory_counts_the_pdf_as_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A limit below what the interpreter and pypdf need: the child cannot even start its work
    monkeypatch.setattr(pdfs, "MEMORY_BYTES", 16 * 1024 * 1024)

    facts = pdfs.check_pdf(files.pdf_with_text())

    assert (facts.opens, facts.problem) == (False, pdfs.BEYOND_LIMITS)
