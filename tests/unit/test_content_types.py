"""What a file is, by its bytes: real files of each kind found as themselves, disguised ones found
as what they are, whatever their name says. The table is written to test-artifacts/type-table.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from exam_depository.adapters.pdfs import check_pdf
from exam_depository.domain.content_types import (
    REJECTION_MESSAGES,
    SPECS,
    TYPE_PREFIX_BYTES,
    ZIP_TAIL_BYTES,
    Found,
    PdfFacts,
    accept_attribute,
    declared_type_refusal,
    identify,
    identify_zip_tail,
    wrong_type_message,
)
from exam_depository.domain.errors import TypeNotAccepted
from exam_depository.domain.statuses import Kind, RejectionReason

from tests import files

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _content(data: bytes) -> Found:
    """What the recorder finds: the first bytes, then a ZIP's end where they left it undecided."""
    found = identify(data[:TYPE_PREFIX_BYTES])
    if not found.conclusive:
        found = identify_zip_tail(data[-ZIP_TAIL_BYTES:])
    return found


# (file, as the student names it, the bytes, the code it is found as, its kind)
TABLE: list[tuple[str, str, Callable[[], bytes], str, Kind | None]] = [
    ("a PDF with text", "answers.pdf", files.pdf_with_text, "pdf", "pdf"),
    ("a PDF without text (a scan)", "scan.pdf", files.blank_pdf, "pdf", "pdf"),
    ("a password-protected PDF", "answers.pdf", files.encrypted_pdf, "pdf", "pdf"),
    ("a Word document", "answers.docx", files.docx, "docx", "word"),
    (
        "a Word document, [Content_Types].xml last behind 20 KB of media",
        "answers.docx",
        lambda: files.docx(content_types_last=True, padding=20_000),
        "docx",
        "word",
    ),
    ("an Excel workbook", "answers.xlsx", files.xlsx, "xlsx", None),
    ("an OpenDocument text", "answers.odt", files.odt, "odt", "odt"),
    ("a ZIP archive", "answers.zip", files.plain_zip, "zip", "zip"),
    ("a PNG image", "photo.png", files.png, "png", "image"),
    ("a JPEG image", "photo.jpg", files.jpeg, "jpeg", "image"),
    ("a HEIC photo", "photo.heic", files.heic, "heif", "image"),
    ("a WebP image", "photo.webp", files.webp, "webp", "image"),
    ("UTF-8 text", "answers.txt", files.utf8_text, "text", "text"),
    ("UTF-16 text (with its byte-order mark)", "answers.txt", files.utf16_text, "text", "text"),
    ("a Windows program", "setup.exe", files.windows_program, "windows-program", None),
    ("a Linux program", "a.out", files.linux_program, "linux-program", None),
    # Disguised: the name says one thing, the bytes another.
    ("a Windows program named .pdf", "answers.pdf", files.windows_program, "windows-program", None),
    ("a ZIP named .docx", "answers.docx", files.plain_zip, "zip", "zip"),
    ("an Excel workbook named .docx", "answers.docx", files.xlsx, "xlsx", None),
    ("a PDF behind a JPEG header", "answers.pdf", lambda: files.jpeg()[:-2] + files.pdf_with_text(), "jpeg", "image"),
    ("a PDF behind 600 bytes of junk", "answers.pdf", lambda: b"\x01" * 600 + files.pdf_with_text(), "pdf", "pdf"),
    ("a web page named .txt", "answers.txt", files.html, "html", None),
    ("a shell script named .txt", "answers.txt", lambda: b"#!/bin/sh\nrm -rf ~\n", "script", None),
]


@pytest.mark.parametrize(("label", "name", "make", "code", "kind"), TABLE, ids=[row[0] for row in TABLE])
def test_a_file_is_found_as_what_its_bytes_are(
    label: str, name: str, make: Callable[[], bytes], code: str, kind: Kind | None
) -> None:
    found = _content(make())

    assert (found.code, found.kind) == (code, kind)
    assert found.name.startswith(("a ", "an ")), found.name


def test_the_type_table_is_written_for_the_closing_note() -> None:
    rows = [
        "| file | named | found | kind | PDF-only exam: the form | PDF-only exam: the recorder | … checking PDFs |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, name, make, _, _ in TABLE:
        data = make()
        found = _content(data)
        form = "415 type-not-accepted" if declared_type_refusal(name, "", ["pdf"]) else "issued"
        if found.kind != "pdf":
            recorder = checked = f"rejected `wrong-type`: “{wrong_type_message(found, ['pdf'])}”"
        else:
            recorder, checked = "recorded", _pdf_verdict(check_pdf(data))
        rows.append(f"| {label} | {name} | `{found.code}` | {found.kind or '—'} | {form} | {recorder} | {checked} |")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "type-table.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert len(rows) == len(TABLE) + 2


def _pdf_verdict(facts: PdfFacts) -> str:
    if facts.needs_password:
        return "rejected `pdf-encrypted`"
    if not facts.opens:
        return "rejected `pdf-unreadable`"
    return "recorded, flagged “scanned PDF”" if facts.has_text is False else "recorded"


def test_only_the_first_bytes_leave_a_zip_undecided_and_its_end_decides() -> None:
    late = files.docx(content_types_last=True, padding=20_000)

    assert identify(late[:TYPE_PREFIX_BYTES]) == Found("zip", "zip", "a ZIP archive", conclusive=False)
    assert identify_zip_tail(late[-ZIP_TAIL_BYTES:]).code == "docx"
    assert identify_zip_tail(files.plain_zip()).code == "zip"
    # A Word document is no ZIP to an exam that accepts ZIPs: `zip` is a kind of its own.
    assert _content(late).kind == "word"


def test_a_prefix_cut_inside_a_utf8_character_is_still_text() -> None:
    text = ("é" * TYPE_PREFIX_BYTES).encode()

    assert identify(text[:TYPE_PREFIX_BYTES]).code == "text"  # the last character is cut in two
    assert identify(b"\xff\xfe\xfa" * 100).code != "text"  # a byte-order mark before what is no text
    assert identify(b"abc\x00def").code == "unknown"
    assert identify(b"").code == "unknown"


def test_the_accept_attribute_lists_each_kinds_extensions_and_types_in_the_tables_order() -> None:
    assert accept_attribute([]) is None
    assert accept_attribute(["word", "pdf"]) == (
        ".pdf,application/pdf,.docx,application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    everything = accept_attribute(list(SPECS))
    assert everything is not None
    assert all(extension in everything.split(",") for spec in SPECS.values() for extension in spec.extensions)


@pytest.mark.parametrize(
    ("filename", "content_type", "accepted", "refused"),
    [
        ("program.exe", "application/x-msdownload", ["pdf"], True),
        ("answers.pdf", "application/pdf", ["pdf"], False),
        ("ANSWERS.PDF", "", ["pdf"], False),  # the browser does not know: the name's extension decides
        ("answers.pdf", "application/octet-stream", ["pdf"], False),
        ("answers", "application/octet-stream", ["pdf"], True),
        ("answers.pdf", "application/msword", ["pdf"], True),  # a declared type is believed
        ("photo.heic", "image/heic", ["image"], False),
        ("program.exe", "application/x-msdownload", [], False),  # any type
    ],
)
def test_a_declared_type_outside_the_exams_kinds_is_refused(
    filename: str, content_type: str, accepted: list[Kind], refused: bool
) -> None:
    refusal = declared_type_refusal(filename, content_type, accepted)

    assert (refusal is not None) == refused


def test_the_refusal_says_what_the_exam_accepts_in_words() -> None:
    refusal = declared_type_refusal("program.exe", "application/x-msdownload", ["word", "pdf"])

    assert isinstance(refusal, TypeNotAccepted)
    assert refusal.status == 415
    assert refusal.detail == "This exam accepts a PDF or a Word document (.pdf, .docx); program.exe is not one."
    assert refusal.extra["accepted_types"] == ["pdf", "word"]
    assert refusal.extra["accept"] == accept_attribute(["pdf", "word"])


def test_the_student_is_told_what_was_found_and_what_was_wanted() -> None:
    found = identify(files.windows_program())

    assert wrong_type_message(found, ["pdf", "word"]) == (
        "This file is a Windows program, not a PDF or a Word document. It was not handed in and does not count "
        "as an attempt: choose the right file and upload it again."
    )


def test_every_rejection_reason_has_a_sentence_for_the_student() -> None:
    reasons = set(RejectionReason.__args__)  # type: ignore[attr-defined]

    assert set(REJECTION_MESSAGES) == reasons
