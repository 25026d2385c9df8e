"""What a file is, by its bytes: real files of each kind found as themselves, disguised ones found
as what they are, whatever their name says. The table is written to test-artifacts/type-table.md."""

from __future__ import annotations

import io
import zipfile
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
    filename_refusal,
    identify,
    identify_zip_tail,
    name_extension,
    served_filename,
    wrong_type_message,
)
from exam_depository.domain.errors import TypeNotAccepted
from exam_depository.domain.statuses import Kind, RejectionReason

from tests import files

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _content(data: bytes) -> Found:
    """What the recorder finds in an exam that takes Word documents: the first bytes, then a ZIP's
    end where they left it undecided, then the one entry that decides where the end wants it."""
    first, tail = data[:TYPE_PREFIX_BYTES], data[-ZIP_TAIL_BYTES:]
    found = identify(first)
    if not found.conclusive:
        found = identify_zip_tail(tail, first=first, size=len(data))
    if found.wants is not None:
        start, length = found.wants
        found = identify_zip_tail(tail, first=first, size=len(data), entry=(start, data[start : start + length]))
    return found


_HTML_THEN_PDF = b"  <html><script>alert(1)</script>%PDF-1.4\n" + files.pdf_with_text()[9:]
_SVG_WITH_SCRIPT = b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
_UTF16_PAGE = "<!DOCTYPE html>\n<html><body>Answer</body></html>\n".encode("utf-16")
_STUDENTS_TEXTS: list[tuple[str, str, bytes]] = [
    # Code as a first-year student writes it (no spaces around <), with a shebang
    ("Python code", "answers.txt", b"def smallest(x, y):\n    if x<y:\n        one = x\n    else:\n        one = y\n"),
    ("Python code, an attribute-like name after <", "answers.txt", b"while lo<hi and found:\n    onset = lo\n"),
    ("a Python script with its #! line", "answers.txt", b"#!/usr/bin/env python3\nprint(6 * 7)\n"),
    # Markdown of a web course: HTML quoted in code spans and fences, a video embedded
    ("Markdown naming <script> in code", "answers.md", b"# Q3\n\nThe `<script>` element loads JavaScript.\n"),
    (
        "Markdown with an onclick in a fence",
        "answers.md",
        b'# Q4\n\n```html\n<button onclick="count()">Add</button>\n```\n',
    ),
    ("Markdown embedding a video", "answers.md", b'# Q5\n\n<iframe src="https://example.org/v/1"></iframe>\n'),
    ("Markdown starting with an HTML comment", "answers.md", b"<!-- Exam 3, Ann Lee -->\n# Answer\n\nIt holds.\n"),
    # Notepad in a Western European locale saves Windows-1252
    (
        "Windows-1252 text from Notepad",
        "answers.txt",
        "Réponse : l’énergie « se conserve » – 5 €.\r\n".encode("cp1252"),
    ),
]
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
        "a Word document by LibreOffice: [Content_Types].xml mid-archive, behind 13 KiB of text",
        "answers.docx",
        files.libreoffice_docx,
        "docx",
        "word",
    ),
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
    (
        "a web page after an HTML comment",
        "answers.txt",
        lambda: b"<!-- saved from url=(0014)about:internet -->\n" + files.html(),
        "html",
        None,
    ),
    # Text is what a student writes, whatever tags it holds: it is downloaded as .txt or .md, and
    # no reviewer's browser renders it.
    ("a shell script named .txt", "answers.txt", lambda: b"#!/bin/sh\nrm -rf ~\n", "text", "text"),
    ("a Markdown answer with HTML tags", "answers.md", lambda: _MARKDOWN, "text", "text"),
    ("text with a script tag", "answers.txt", lambda: b"hello <script>alert(document.cookie)</script>", "text", "text"),
    ("text with an event handler", "answers.md", lambda: b"# Answer\n<img src=x onerror=alert(1)>\n", "text", "text"),
    ("text with a javascript: link", "answers.md", lambda: b'<a href="javascript:alert(1)">a</a>', "text", "text"),
    *((label, name, lambda data=data: data, "text", "text") for label, name, data in _STUDENTS_TEXTS),
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
        form = "415 type-not-accepted" if filename_refusal(name, ["pdf"]) else "issued"
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
    ("filename", "accepted", "refused"),
    [
        ("program.exe", ["pdf"], True),
        ("answers.pdf", ["pdf"], False),
        ("ANSWERS.PDF", ["pdf"], False),  # case does not count
        ("photo.heic", ["image"], False),
        ("notes.md", ["text"], False),
        ("program.exe", [], False),  # any type
        # A name a reviewer's computer would run, whatever the bytes and the declared type
        ("answer.hta", ["pdf"], True),
        ("answer.html", ["pdf", "text"], True),
        ("answer.bat", ["text"], True),
        ("answer.url", ["text"], True),
        ("answer.svg", ["text", "image"], True),
        ("answers.py", ["text"], True),  # code is handed in as .txt
        # The last extension counts, as on every system; none is none
        ("answers", ["pdf"], True),
        ("answer.pdf.hta", ["pdf"], True),
        ("answer.hta.pdf", ["pdf"], False),
        # Windows drops trailing dots and spaces: answer.hta. runs as an HTA
        ("answer.hta.", ["pdf"], True),
        ("answer.hta. .", ["pdf"], True),
        ("answer.pdf.", ["pdf"], False),
        ("answers.docm", ["word"], True),
        ("photo.gif", ["image", "pdf"], True),
    ],
)
def test_a_form_is_refused_unless_its_names_extension_is_of_an_accepted_kind(
    filename: str, accepted: list[Kind], refused: bool
) -> None:
    refusal = filename_refusal(filename, accepted)

    assert (refusal is not None) == refused


def test_the_refusal_says_what_the_exam_accepts_in_words() -> None:
    refusal = filename_refusal("program.exe", ["word", "pdf"])

    assert isinstance(refusal, TypeNotAccepted)
    assert refusal.status == 415
    assert refusal.detail == "This exam accepts a PDF or a Word document (.pdf, .docx); program.exe is not one."
    assert refusal.extra["accepted_types"] == ["pdf", "word"]
    assert refusal.extra["accept"] == accept_attribute(["pdf", "word"])


@pytest.mark.parametrize(
    ("filename", "extension"),
    [("a.PDF", ".pdf"), ("a", ""), ("a.tar.gz", ".gz"), ("a.hta. . ", ".hta"), (".pdf", ".pdf"), ("a.", "")],
)
def test_a_names_extension_is_what_windows_reads(filename: str, extension: str) -> None:
    assert name_extension(filename) == extension


@pytest.mark.parametrize(
    ("filename", "found_code", "served"),
    [
        # The name agrees with the bytes: kept
        ("answers.pdf", "pdf", "answers.pdf"),
        ("Answers.PDF", "pdf", "Answers.PDF"),
        ("notes.md", "text", "notes.md"),
        ("photo.png", "jpeg", "photo.png"),  # an image all the same: viewers go by the bytes
        ("answers.docx", "docx", "answers.docx"),
        # The name says another kind: the bytes' kind's extension appended
        ("answers.pdf", "text", "answers.pdf.txt"),
        ("notes.txt", "pdf", "notes.txt.pdf"),
        ("answer.hta", "pdf", "answer.hta.pdf"),
        ("answer.html", "text", "answer.html.txt"),
        ("answers.zip", "docx", "answers.zip.docx"),
        ("photo.pdf", "heif", "photo.pdf.heic"),
        ("photo.pdf", "jpeg", "photo.pdf.jpg"),
        ("answer", "pdf", "answer.pdf"),
        # Trailing dots and spaces go, as Windows would drop them
        ("answer.pdf. ", "pdf", "answer.pdf"),
        ("answer.hta.", "pdf", "answer.hta.pdf"),
        # Bytes not identified (an exam of any type): the name as given
        ("answer.hta", None, "answer.hta"),
    ],
)
def test_a_file_is_served_under_the_extension_of_what_its_bytes_are(
    filename: str, found_code: str | None, served: str
) -> None:
    assert served_filename(filename, found_code) == served


def test_a_zips_deciding_entry_outside_the_bytes_read_is_asked_for_once_within_bounds() -> None:
    document = files.libreoffice_docx()
    first, tail = document[:TYPE_PREFIX_BYTES], document[-ZIP_TAIL_BYTES:]
    types_at = zipfile.ZipFile(io.BytesIO(document)).getinfo("[Content_Types].xml").header_offset

    # Given a LibreOffice .docx: neither the first 8 KiB nor the last 64 KiB hold [Content_Types].xml
    assert TYPE_PREFIX_BYTES < types_at < len(document) - ZIP_TAIL_BYTES
    found = identify_zip_tail(tail, first=first, size=len(document))

    # Then the end says which bytes decide it (a ZIP until they are read): its local header and
    # data, with room for a longer extra field than the directory's, and they decide it
    assert found.code == "zip"
    assert found.wants is not None
    start, length = found.wants
    assert start == types_at
    assert length <= 2048
    with_entry = identify_zip_tail(
        tail, first=first, size=len(document), entry=(start, document[start : start + length])
    )
    assert with_entry == Found("docx", "word", "a Word document")
    # Bytes that are not that entry, or too few of them, leave it a ZIP, and ask for nothing more
    for entry in (
        (start, document[start : start + 40]),
        (start, b"\x00" * length),
        (start, document[start + 1 : start + 1 + length]),
    ):
        again = identify_zip_tail(tail, first=first, size=len(document), entry=entry)
        assert (again.code, again.wants) == ("zip", None)
    # A Word document whose [Content_Types].xml lies in the bytes read asks for nothing
    word = files.docx(content_types_last=True, padding=20_000)
    assert identify_zip_tail(word[-ZIP_TAIL_BYTES:], first=word[:TYPE_PREFIX_BYTES], size=len(word)).wants is None


def test_an_entry_larger_than_the_bound_is_not_asked_for() -> None:
    # Given a [Content_Types].xml of 100 KB of incompressible bytes between the text and the picture
    document = files._zip(
        [
            ("word/document.xml", "<w:document/>" + "x" * 10),
            ("filler.bin", files._incompressible(20_000)),
            ("[Content_Types].xml", files._incompressible(100_000)),
            ("word/media/image1.png", files._incompressible(80_000)),
        ]
    )

    found = identify_zip_tail(document[-ZIP_TAIL_BYTES:], first=document[:TYPE_PREFIX_BYTES], size=len(document))

    assert (found.code, found.wants) == ("zip", None)


def test_the_student_is_told_what_was_found_and_what_was_wanted() -> None:
    found = identify(files.windows_program())

    assert wrong_type_message(found, ["pdf", "word"]) == (
        "This file is a Windows program, not a PDF or a Word document. It was not handed in and does not count "
        "as an attempt: choose the right file and upload it again."
    )


def test_every_rejection_reason_has_a_sentence_for_the_student() -> None:
    reasons = set(RejectionReason.__args__)  # type: ignore[attr-defined]

    assert set(REJECTION_MESSAGES) == reasons
