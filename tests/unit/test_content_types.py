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
        found = identify_zip_tail(data[-ZIP_TAIL_BYTES:], first=data[:TYPE_PREFIX_BYTES], size=len(data))
    return found


_HTML_THEN_PDF = b"  <html><script>alert(1)</script>%PDF-1.4\n" + files.pdf_with_text()[9:]
_SVG_WITH_SCRIPT = b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
_UTF16_PAGE = "<!DOCTYPE html>\n<html><body>Answer</body></html>\n".encode("utf-16")
_MARKDOWN = (
    b"# Answer 1\n\nThe energy is *conserved*: E<sub>kin</sub> + E<sub>pot</sub> = const.<br>\n\n"
    b"<details><summary>Working</summary>\n\n```python\nprint(1 < 2 > 0)\n```\n</details>\n"
)


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
    # A PDF's header where every program takes the file for one: at the start, after at most a
    # byte-order mark and blank space; junk before it is what other programs go by.
    ("a PDF behind 600 bytes of junk", "answers.pdf", lambda: b"\x01" * 600 + files.pdf_with_text(), "unknown", None),
    (
        "a PDF after a byte-order mark and blank lines",
        "answers.pdf",
        lambda: b"\xef\xbb\xbf\r\n\n  " + files.pdf_with_text(),
        "pdf",
        "pdf",
    ),
    ("a web page with %PDF- in its first KiB", "answers.pdf", lambda: _HTML_THEN_PDF, "html", None),
    (
        "a Windows program with %PDF- after its header",
        "answers.pdf",
        lambda: files.windows_program() + files.pdf_with_text(),
        "windows-program",
        None,
    ),
    ("a web page named .txt", "answers.txt", files.html, "html", None),
    ("a shell script named .txt", "answers.txt", lambda: b"#!/bin/sh\nrm -rf ~\n", "script", None),
    # Text is what a student writes, Markdown's HTML tags included, but nothing a browser runs.
    ("a Markdown answer with HTML tags", "answers.md", lambda: _MARKDOWN, "text", "text"),
    ("text with a script tag", "answers.txt", lambda: b"hello <script>alert(document.cookie)</script>", "html", None),
    ("text with an event handler", "answers.md", lambda: b"# Answer\n<img src=x onerror=alert(1)>\n", "html", None),
    ("text with a javascript: link", "answers.md", lambda: b'<a href="javascript:alert(1)">a</a>', "html", None),
    ("text with a frame", "answers.md", lambda: b"See <iframe src='https://example.org'></iframe>", "html", None),
    (
        "Java code",
        "answers.txt",
        lambda: b"List<Object> seen = new ArrayList<>();\nMap<String, Object> m;\n",
        "text",
        "text",
    ),
    ("C code", "answers.txt", lambda: b"if (a<b && online==1 && x<y) { online = 0; }\n", "text", "text"),
    ('text that starts like a tracker module ("if")', "answers.txt", lambda: b"if x then y\n", "text", "text"),
    ('text that starts like a BMP ("BM")', "answers.txt", lambda: b"BMW builds cars.\n", "text", "text"),
    ("prose about JavaScript", "answers.md", lambda: b"a<b, and in javascript: a < b too\n", "text", "text"),
    ("an SVG with a script named .txt", "answers.txt", lambda: _SVG_WITH_SCRIPT, "svg", None),
    (
        "an XML file running an XHTML script",
        "answers.txt",
        lambda: b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
        "html",
        None,
    ),
    ("UTF-16 text that is a web page", "answers.txt", lambda: _UTF16_PAGE, "html", None),
    # Not a program: a loader needs "MZ" at the very start, here the byte-order mark is.
    (
        "UTF-16 text that starts with MZ",
        "answers.txt",
        lambda: "MZ is not a program\n".encode("utf-16"),
        "text",
        "text",
    ),
    (
        "a Windows shortcut (.lnk)",
        "answers.txt",
        lambda: b"L\x00\x00\x00\x01\x14\x02\x00" + b"\x00" * 70,
        "unknown",
        None,
    ),
    # A ZIP is an office document only when its central directory makes one.
    (
        "a ZIP naming Word's main part, holding only a program",
        "answers.docx",
        lambda: files.zip_claiming_word(("evil.exe", files.windows_program())),
        "zip",
        "zip",
    ),
    (
        "a ZIP giving a program as Word's main part",
        "answers.docx",
        files.zip_naming_a_program_as_words_main_part,
        "zip",
        "zip",
    ),
    (
        "a ZIP holding only word/evil.exe",
        "answers.docx",
        lambda: files.zip_of(("word/evil.exe", files.windows_program())),
        "zip",
        "zip",
    ),
    (
        "a Word document followed by another ZIP (a reader opens the second)",
        "answers.docx",
        lambda: files.docx_before_another_zip(("evil.exe", files.windows_program())),
        "zip",
        "zip",
    ),
    (
        "the same, the second ZIP past the first 8 KiB",
        "answers.docx",
        lambda: files.docx_before_another_zip(("evil.exe", files.windows_program()), padding=20_000),
        "zip",
        "zip",
    ),
    ("a Word document with macros (.docm)", "answers.docx", files.docm, "docm", None),
    (
        "a Word document holding a VBA project under .docx's main type",
        "answers.docx",
        lambda: files.docm(declared_main=files.WORD_MAIN),
        "docm",
        None,
    ),
    (
        "a Word document with macros, [Content_Types].xml last behind 20 KB of media",
        "answers.docx",
        lambda: files.docm(content_types_last=True, padding=20_000),
        "docm",
        None,
    ),
    ("an OpenDocument text without content.xml", "answers.odt", lambda: files.odt_without("content.xml"), "zip", "zip"),
    (
        "an OpenDocument text whose mimetype is compressed",
        "answers.odt",
        files.odt_with_mimetype_compressed,
        "zip",
        "zip",
    ),
    ("an OpenDocument text whose mimetype is not first", "answers.odt", files.odt_with_mimetype_later, "zip", "zip"),
]


@pytest.mark.parametrize(("label", "name", "make", "code", "kind"), TABLE, ids=[row[0] for row in TABLE])
def test_a_file_is_found_as_what_its_bytes_are(
    label: str, name: str, make: Callable[[], bytes], code: str, kind: Kind | None
) -> None:
    found = _content(make())

    assert (found.code, found.kind) == (code, kind)
    assert found.name.startswith(("a ", "an ", "of a type")), found.name  # "This file is …"


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


def test_a_zip_is_decided_by_its_central_directory_which_ends_it() -> None:
    small, late, first_in_order = (
        files.docx(),
        files.docx(content_types_last=True, padding=20_000),
        files.docx(padding=20_000),
    )

    # A ZIP wholly within the first bytes is decided by them: its directory is there
    assert identify(small) == Found("docx", "word", "a Word document")
    # A larger one only by its end, where the directory that readers open names its entries,
    # even when its first entries look like a Word document's: local headers can lie
    for document in (late, first_in_order):
        assert identify(document[:TYPE_PREFIX_BYTES]) == Found("zip", "zip", "a ZIP archive", conclusive=False)
        tail = identify_zip_tail(document[-ZIP_TAIL_BYTES:], first=document[:TYPE_PREFIX_BYTES], size=len(document))
        assert tail.code == "docx"
    assert identify_zip_tail(files.plain_zip(), first=files.plain_zip(), size=len(files.plain_zip())).code == "zip"
    # A Word document is no ZIP to an exam that accepts ZIPs: `zip` is a kind of its own.
    assert _content(late).kind == "word"


def test_a_zip_whose_directory_is_larger_than_the_end_read_is_a_zip_never_a_document() -> None:
    # Given a Word document with 1,000 more entries: its directory (~130 KB) outgrows the 64 KiB read
    crowded, roomy = files.docx_with_many_entries(1000), files.docx_with_many_entries(200)

    # Then it is not taken for a Word document (none has that many parts), one that fits is
    assert (_content(crowded).code, _content(roomy).code) == ("zip", "docx")


def test_a_crafted_zip_directory_is_read_within_bounds() -> None:
    end = b"PK\x05\x06" + b"\x00" * 4 + b"\xff\xff\xff\xff" + b"\x00" * 10  # 65,535 entries claimed
    for crafted in (
        b"PK\x03\x04" + b"\x00" * 26,  # a local header and nothing else
        b"PK\x03\x04" + b"\x00" * 100 + end,
        b"PK\x03\x04" + b"\x00" * 100 + b"PK\x05\x06" + b"\x00" * 16 + b"\xff\xff",  # a comment past the end
        files.docx()[:-22] + b"PK\x05\x06" + b"\x00" * 18,  # a directory said to be empty
    ):
        assert identify(crafted).code == "zip"


def test_a_word_document_with_macros_is_refused_in_words_that_say_how_to_hand_it_in() -> None:
    found = _content(files.docm())

    assert wrong_type_message(found, ["word", "pdf"]) == (
        "This file is a Word document with macros (.docm), which is not accepted: save it as a Word document "
        "(.docx) and upload it again. It was not handed in and does not count as an attempt."
    )
    # An exam that does not take Word documents at all says what the file is, as for any other
    assert wrong_type_message(found, ["pdf"]).startswith("This file is a Word document with macros, not a PDF.")


def test_a_prefix_cut_inside_a_utf8_character_is_still_text() -> None:
    text = ("é" * TYPE_PREFIX_BYTES).encode()

    assert identify(text[:TYPE_PREFIX_BYTES]).code == "text"  # the last character is cut in two
    assert identify(b"\xff\xfe\xfa" * 100).code != "text"  # a byte-order mark before what is no text
    assert identify(b"abc\x00def").code == "unknown"
    assert identify(b"").code == "unknown"


def test_the_accept_attribute_lists_each_kinds_extensions_and_types_in_the_tables_order() -> None:
    assert accept_attribute([]) is None
    assert accept_attribute(["word", "pdf"]) == (
        ".pdf,application/pdf,application/x-pdf,.docx,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
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
        # Either the declared type or the name's extension is enough (the bytes are checked later)
        ("answers.pdf", "application/msword", ["pdf"], False),
        ("answers", "application/pdf", ["pdf"], False),
        ("photo.heic", "image/heic", ["image"], False),
        ("program.exe", "application/x-msdownload", [], False),  # any type
        # The aliases browsers and systems declare, with and without the kind's extension
        ("answers.zip", "application/x-zip", ["zip"], False),
        ("answers", "application/x-zip", ["zip"], False),
        ("answers.zip", "application/x-zip-compressed", ["zip"], False),
        ("answers", "application/x-zip-compressed", ["zip"], False),
        ("photo.jpg", "image/jpg", ["image"], False),
        ("photo", "image/jpg", ["image"], False),
        ("notes.md", "text/x-markdown", ["text"], False),
        ("notes", "text/x-markdown", ["text"], False),
        ("answers.pdf", "application/x-pdf", ["pdf"], False),
        ("answers", "application/x-pdf", ["pdf"], False),
        # Both wrong: refused
        ("answers.docm", "application/vnd.ms-word.document.macroenabled.12", ["word"], True),
        ("photo.gif", "image/gif", ["image", "pdf"], True),
    ],
)
def test_a_declared_type_outside_the_exams_kinds_is_refused(
    filename: str, content_type: str, accepted: list[Kind], refused: bool
) -> None:
    refusal = declared_type_refusal(filename, content_type, accepted)

    assert (refusal is not None) == refused


@pytest.mark.parametrize("content_type", ["application/x-msdownload", "application/octet-stream", "image/jpg"])
def test_the_refusal_says_what_the_exam_accepts_in_words(content_type: str) -> None:
    refusal = declared_type_refusal("program.exe", content_type, ["word", "pdf"])

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
