"""The kinds of file an exam may accept, and what a file is by its bytes rather than its name.

`filename_refusal` weighs the name a form is asked for; `identify` reads a file's first bytes
(`identify_zip_tail` the end of a ZIP, and where it must one entry of it) after S3 stored it, and
names what it found in words a student understands; `served_filename` is the name a person
downloads it under. puremagic names most formats from their header but cannot
tell the ZIP-based office formats from a ZIP (it opens the file by name to look inside): we read
the ZIP's central directory ourselves, and recognise plain text, and a whole web page, SVG or XML
document, by our own rules (puremagic finds nothing in text)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

from exam_depository.domain.errors import TypeNotAccepted
from exam_depository.domain.statuses import Kind, RejectionReason

if TYPE_CHECKING:
    from puremagic import PureMagicWithConfidence

KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class KindSpec:
    label: str  # "a PDF", as a sentence names one
    mime_types: tuple[str, ...]
    extensions: tuple[str, ...]
    found_codes: tuple[str, ...]  # what `identify` calls a file of this kind


# The one table of the kinds. Each kind's MIME types are the standard ones and then the aliases
# browsers and systems still declare (Windows' registry gives .zip as application/x-zip-compressed,
# older browsers .jpg as image/jpg, .md as text/x-markdown, .pdf as application/x-pdf): the picker's
# `accept` lists them beside the extensions, for the pickers that filter by type (a phone's photo
# picker); the form goes by the name's extension alone (`filename_refusal`).
SPECS: Mapping[Kind, KindSpec] = {
    "pdf": KindSpec("a PDF", ("application/pdf", "application/x-pdf"), (".pdf",), ("pdf",)),
    "word": KindSpec(
        "a Word document",
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        (".docx",),
        ("docx",),
    ),
    "odt": KindSpec("an OpenDocument text", ("application/vnd.oasis.opendocument.text",), (".odt",), ("odt",)),
    "image": KindSpec(
        "an image (JPEG, PNG, HEIC or WebP)",
        ("image/jpeg", "image/png", "image/heic", "image/heif", "image/webp", "image/jpg"),
        (".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp"),
        ("jpeg", "png", "heif", "webp"),
    ),
    "text": KindSpec(
        "a plain text file", ("text/plain", "text/markdown", "text/x-markdown"), (".txt", ".md"), ("text",)
    ),
    "zip": KindSpec(
        "a ZIP archive",
        ("application/zip", "application/x-zip-compressed", "application/x-zip"),
        (".zip",),
        ("zip",),
    ),
}
_KIND_OF_CODE = {code: kind for kind, spec in SPECS.items() for code in spec.found_codes}

# The first bytes the recorder reads to identify a file, the end of a ZIP it reads when the first
# bytes did not say which ZIP it is (the central directory, where every entry is named), and the
# most it reads of the one entry that decides, when it lies between the two (LibreOffice writes
# [Content_Types].xml after word/, before the pictures).
TYPE_PREFIX_BYTES = 8192
ZIP_TAIL_BYTES = 65536
ZIP_ENTRY_BYTES = 65536

# Every code `identify` may answer, and how a sentence names it ("This file is a Windows program").
FOUND_NAMES: Mapping[str, str] = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "docm": "a Word document with macros",
    "xlsx": "an Excel spreadsheet",
    "pptx": "a PowerPoint presentation",
    "odt": "an OpenDocument text",
    "ods": "an OpenDocument spreadsheet",
    "odp": "an OpenDocument presentation",
    "zip": "a ZIP archive",
    "rar": "a RAR archive",
    "7z": "a 7-Zip archive",
    "gzip": "a gzip archive",
    "tar": "a tar archive",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "heif": "a HEIC image",
    "tiff": "a TIFF image",
    "bmp": "a BMP image",
    "svg": "an SVG drawing",
    "text": "a plain text file",
    "html": "a web page (HTML)",
    "rtf": "a Rich Text document",
    "ms-office-97": "an older Microsoft Office file (.doc, .xls or .ppt)",
    "windows-program": "a Windows program",
    "linux-program": "a Linux program",
    "macos-program": "a macOS program",
    "audio": "an audio recording",
    "video": "a video",
    "unknown": "of a type we do not recognise",
}


@dataclass(frozen=True)
class Found:
    """What a file's bytes are: a code of `FOUND_NAMES`, the accepted kind it is (None: none),
    and how a sentence names it. Not conclusive: a ZIP whose first bytes did not say which ZIP
    it is (an office document's entries may come later). `wants`: a ZIP whose central directory
    places the entry that would make it a document outside the bytes read; (start, length) of
    that entry, for `identify_zip_tail` to be asked again with them (`zip` until then)."""

    code: str
    kind: Kind | None
    name: str
    conclusive: bool = True
    wants: tuple[int, int] | None = None


def found(code: str, *, conclusive: bool = True, wants: tuple[int, int] | None = None) -> Found:
    return Found(code, _KIND_OF_CODE.get(code), FOUND_NAMES[code], conclusive, wants)


@dataclass(frozen=True)
class PdfFacts:
    """What opening a PDF told (adapters.pdfs). `has_text`: None when it did not open."""

    opens: bool
    needs_password: bool
    has_text: bool | None
    problem: str | None = None


@dataclass(frozen=True)
class Content:
    """What the recorder learnt of a file's content: what it is, and, only when the form asked
    for PDFs to be checked and the file is one, what opening it told."""

    found: Found
    pdf: PdfFacts | None = None


# --- the form: what a browser declares ---------------------------------------------------------


def accept_attribute(accepted: Sequence[Kind]) -> str | None:
    """The file picker's `accept` attribute for these kinds (None: any file)."""
    if not accepted:
        return None
    parts: list[str] = []
    for kind in _ordered(accepted):
        spec = SPECS[kind]
        parts.extend((*spec.extensions, *spec.mime_types))
    return ",".join(parts)


def filename_refusal(filename: str, accepted: Sequence[Kind]) -> TypeNotAccepted | None:
    """Whether a form must be refused for the name of its file: its extension (`name_extension`)
    is none of the accepted kinds'. The name, not the type a browser declares, because the name is
    what a reviewer's computer goes by when it opens the file: an `answer.hta` that is a PDF by its
    bytes would run as a program there. The bytes are checked again once stored."""
    if not accepted:
        return None
    kinds = _ordered(accepted)
    if any(name_extension(filename) in SPECS[kind].extensions for kind in kinds):
        return None
    extensions = ", ".join(extension for kind in kinds for extension in SPECS[kind].extensions)
    return TypeNotAccepted(
        f"This exam accepts {_either(kinds)} ({extensions}); {filename} is not one.",
        extra={"accepted_types": list(kinds), "accept": accept_attribute(kinds)},
    )


def name_extension(filename: str) -> str:
    """A file name's extension as Windows reads it, lower case: after the last dot, once trailing
    dots and spaces are dropped (Windows drops them: `answer.hta.` and `answer.hta ` are HTAs);
    "" for none. Only the last counts: `answer.pdf.hta` is an HTA."""
    name = filename.rsplit("/", 1)[-1].rstrip(". ")
    _, dot, extension = name.rpartition(".")
    return "." + extension.lower() if dot else ""


# The extension a file found to be of this code is served with, where its name has none of its
# kind's: the kind's first, but for images the format's own.
_SERVED_EXTENSION = {"jpeg": ".jpg", "png": ".png", "heif": ".heic", "webp": ".webp"}


def served_filename(filename: str, found_code: str | None) -> str:
    """The name a person downloads a file under (a reviewer's link, the export's ZIP): the name
    the student gave, unless its extension is none of the kind its bytes were found to be, then
    with that kind's extension appended (`answer.pdf` found to be text: `answer.pdf.txt`), so
    that the reviewer's computer opens it as what it is. Trailing dots and spaces go (Windows
    drops them). A file whose bytes were not identified (an exam of any type) keeps its name."""
    kind = _KIND_OF_CODE.get(found_code or "")
    if kind is None:
        return filename
    name = filename.rstrip(". ") or filename
    if name_extension(name) in SPECS[kind].extensions:
        return name
    return name + _SERVED_EXTENSION.get(found_code or "", SPECS[kind].extensions[0])


def _ordered(accepted: Sequence[Kind]) -> list[Kind]:
    """The kinds in the table's order, each once."""
    return [kind for kind in KINDS if kind in accepted]


def _either(kinds: Sequence[Kind]) -> str:
    labels = [SPECS[kind].label for kind in kinds]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


# --- the bytes ---------------------------------------------------------------------------------

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_CENTRAL = b"PK\x01\x02"
_ZIP_END = b"PK\x05\x06"
_OPENDOCUMENT = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
# The main part's content type in [Content_Types].xml, by what it makes the package. A Word
# template is no Word document (Word will not open one named .docx); one with macros is `docm`.
_OFFICE_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": "docm",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": "pptx",
}
# Where a Word document's main part is: word/document.xml as Word writes it (Word for the web has
# been seen writing word/document2.xml).
_WORD_MAIN_PART = re.compile(r"/word/[^/]+\.xml", re.IGNORECASE)
# A Word package that holds a VBA project holds macros, whatever its main part says.
_VBA_PROJECT_TYPE = "application/vnd.ms-office.vbaproject"
_XML_ELEMENT = re.compile(r"<(Override|Default)\b([^>]*)>", re.IGNORECASE)
_XML_ATTRIBUTE = re.compile(r"""([A-Za-z]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# Bounds on what a crafted ZIP can make us inflate or walk.
_MAX_INFLATED_BYTES = 65536
_MAX_ZIP_ENTRIES = 2000
# A PDF's header where every reader and browser takes the file for a PDF: at its start, after at
# most a UTF-8 byte-order mark and blank space (which some servers put before the PDF they send).
# Readers accept the header anywhere in the first 1024 bytes, but the bytes before it are then
# what other programs go by: a browser renders `<html><script>…%PDF-` as a page, Windows runs an
# `MZ…%PDF-` as a program. So junk before the header makes a file no PDF here.
_PDF_HEADER = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n\f]*%PDF-[0-9]\.[0-9]")


def identify(first: bytes) -> Found:
    """What a file is, from its first bytes: `TYPE_PREFIX_BYTES` of them, or all of a smaller
    file (fewer bytes than that: the whole file)."""
    if first.startswith(_ZIP_LOCAL):
        # The whole ZIP holds its central directory; a larger one is undecided until its end is read.
        whole = len(first) < TYPE_PREFIX_BYTES
        return _zip_found(first=first, tail=first, size=len(first)) if whole else found("zip", conclusive=False)
    matched = _puremagic_code(first)
    if matched is not None and matched not in ("unknown", *_MARKUP):
        return found(matched)
    return found(_code_by_our_rules(first))


# What puremagic names by a start that text has as often (`<!--`, `<?xml`): our text rule decides.
_MARKUP = ("html", "svg")


def _code_by_our_rules(first: bytes) -> str:
    """What puremagic does not name: a PDF whose header follows blank space, text, or a whole
    web page, SVG or XML document."""
    if _PDF_HEADER.match(first):
        return "pdf"
    text = _text(first)
    if text is None:
        # No text, but bytes that start as a web page are one to a browser, which goes by the start.
        start = first.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
        return _markup_code(start) or "unknown"
    return _markup_code(text) or "text"


def identify_zip_tail(tail: bytes, *, first: bytes, size: int, entry: tuple[int, bytes] | None = None) -> Found:
    """Which ZIP a file of `size` bytes is, from its last bytes (`ZIP_TAIL_BYTES`, or all of a
    smaller file), its first (`TYPE_PREFIX_BYTES`) and, asked again, the bytes `entry` (start,
    bytes) that the first answer `wants`. Always conclusive: a ZIP that is not wholly an office
    document is a ZIP."""
    return _zip_found(first=first, tail=tail, size=size, entry=entry)


@dataclass(frozen=True)
class _Entry:
    """An entry as the central directory names it."""

    name: bytes
    flags: int
    method: int
    compressed_size: int
    offset: int  # of its local header, from the file's start


def _zip_found(*, first: bytes, tail: bytes, size: int, entry: tuple[int, bytes] | None = None) -> Found:
    """A ZIP is an office document only when the entries its central directory names (what
    Word, LibreOffice and every unzip read, not the local headers that come first) make one:

    - `docx`: a `[Content_Types].xml` whose one main part is a Word document's, that part an
      XML part of `word/` (`word/document.xml`, as Word writes it) among the entries; `docm`
      when that main part is a macro-enabled one or the package holds a VBA project (by its
      content type or a `vbaProject.bin`);
    - `odt`: a first entry `mimetype`, stored, holding exactly the OpenDocument text type, and a
      `content.xml`;
    - anything less, or a directory we cannot read whole in the bytes read (more entries than
      the last 64 KiB hold, a ZIP64, bytes before the archive, a name twice): `zip`. A ZIP is then
      what an exam accepting ZIPs takes, never what one accepting documents takes.

    `[Content_Types].xml` is read where it lies in the bytes read; elsewhere (LibreOffice's
    order), the answer is `zip` and `wants` its local header and data, at most
    `ZIP_ENTRY_BYTES`, which `entry` then brings."""
    directory = _central_directory(tail, size)
    if directory is None:
        return found("zip")
    entries = {item.name: item for item in directory}
    if len(entries) != len(directory):
        return found("zip")  # a name twice: readers differ on which one they open
    windows = [(first, 0), (tail, size - len(tail))]
    if entry is not None:
        windows.append((entry[1], entry[0]))
    content_types, mimetype = entries.get(b"[Content_Types].xml"), entries.get(b"mimetype")
    if content_types is not None and mimetype is None:
        xml = _inflated(content_types, windows)
        if xml is _OUTSIDE:
            return found("zip", wants=_entry_range(content_types, size)) if entry is None else found("zip")
        code = None if not isinstance(xml, bytes) else _office_code(xml.decode("utf-8", "replace"), entries)
        return found(code or "zip")
    if mimetype is not None and content_types is None and mimetype.offset == 0 and mimetype.method == 0:
        inflated = _inflated(mimetype, windows)
        code = _OPENDOCUMENT.get(inflated) if isinstance(inflated, bytes) else None
        if code is not None and b"content.xml" in entries:
            return found(code)
    return found("zip")


def _entry_range(entry: _Entry, size: int) -> tuple[int, int] | None:
    """The bytes to read for `entry`: its local header (whose extra field may be longer than the
    directory's, hence room for one of up to 1 KiB) and its data, at most `ZIP_ENTRY_BYTES`, or
    None when it could not be read whole in those."""
    length = _LOCAL_HEADER + len(entry.name) + _LOCAL_EXTRA_ROOM + entry.compressed_size
    if entry.offset >= size or entry.compressed_size > ZIP_ENTRY_BYTES:
        return None
    return entry.offset, min(length, ZIP_ENTRY_BYTES, size - entry.offset)


_LOCAL_HEADER = 30
_LOCAL_EXTRA_ROOM = 1024


def _central_directory(tail: bytes, size: int) -> list[_Entry] | None:
    """The entries the end-of-central-directory record in `tail` (the last bytes of a file of
    `size`) names, or None when they are not all within `tail`, or the archive is not one a
    reader would find where we look."""
    end = _end_of_directory(tail)
    if end is None:
        return None
    disk, directory_disk, on_disk, count, directory_size, directory_at = struct.unpack_from("<HHHHII", tail, end + 4)
    tail_at = size - len(tail)
    if (disk, directory_disk) != (0, 0) or on_disk != count or count > _MAX_ZIP_ENTRIES:
        return None  # a split archive, a ZIP64 (0xFFFF), or more entries than a document has
    if directory_at + directory_size != tail_at + end or directory_at < tail_at:
        return None  # bytes before the archive, or a directory larger than the bytes we read
    entries, at = [], directory_at - tail_at
    for _ in range(count):
        if not tail.startswith(_ZIP_CENTRAL, at) or at + 46 > end:
            return None
        flags, method = struct.unpack_from("<HH", tail, at + 8)
        (compressed_size,) = struct.unpack_from("<I", tail, at + 20)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", tail, at + 28)
        (offset,) = struct.unpack_from("<I", tail, at + 42)
        entries.append(_Entry(tail[at + 46 : at + 46 + name_length], flags, method, compressed_size, offset))
        at += 46 + name_length + extra_length + comment_length
    return entries if at == end else None


def _end_of_directory(tail: bytes) -> int | None:
    """Where the end-of-central-directory record is: the last one whose comment ends the file."""
    at = len(tail)
    while (at := tail.rfind(_ZIP_END, 0, at)) != -1 and at >= len(tail) - 22 - 65535:
        if at + 22 <= len(tail) and at + 22 + struct.unpack_from("<H", tail, at + 20)[0] == len(tail):
            return at
    return None


class _Outside:
    """An entry not wholly within the bytes read."""


_OUTSIDE = _Outside()


def _inflated(entry: _Entry, windows: Sequence[tuple[bytes, int]]) -> bytes | _Outside | None:
    """An entry's bytes, when its local header (agreeing with the directory) and data lie wholly
    within one of the `windows` (bytes, where they start in the file); `_OUTSIDE` when they lie
    in none; None when encrypted, not inflatable, or the local header says otherwise."""
    if entry.flags & 0x01 or entry.method not in (0, 8):
        return None
    for data, data_at in windows:
        local = entry.offset - data_at
        if local < 0 or local + _LOCAL_HEADER > len(data):
            continue
        (method,) = struct.unpack_from("<H", data, local + 8)
        name_length, extra_length = struct.unpack_from("<HH", data, local + 26)
        name = data[local + 30 : local + 30 + name_length]
        if not data.startswith(_ZIP_LOCAL, local) or method != entry.method or name != entry.name:
            return None  # no local header where the directory says, or one that says otherwise
        start = local + 30 + name_length + extra_length
        if start + entry.compressed_size > len(data):
            continue
        stored = data[start : start + entry.compressed_size]
        if entry.method == 0:
            return stored
        try:
            return zlib.decompressobj(-15).decompress(stored, _MAX_INFLATED_BYTES)
        except zlib.error:
            return None
    return _OUTSIDE


def _office_code(content_types: str, entries: Mapping[bytes, _Entry]) -> str | None:
    """What an OOXML package is by its [Content_Types].xml: its one main part's type, that part
    among the entries; a Word document with a VBA project is one with macros."""
    mains: list[tuple[str, str]] = []
    declared: list[str] = []
    for element in _XML_ELEMENT.finditer(content_types):
        attributes = {m[1].lower(): m[2] or m[3] for m in _XML_ATTRIBUTE.finditer(element[2])}
        content_type = attributes.get("contenttype", "").strip().lower()
        declared.append(content_type)
        if element[1].lower() == "override" and content_type in _OFFICE_MAIN:
            mains.append((_OFFICE_MAIN[content_type], attributes.get("partname", "")))
    if len(mains) != 1:
        return None
    code, part = mains[0]
    if part.removeprefix("/").encode() not in entries:
        return None
    if code in ("docx", "docm") and not _WORD_MAIN_PART.fullmatch(part):
        return None  # Word's main part is its text, always an XML part of word/
    if code == "docx" and (
        _VBA_PROJECT_TYPE in declared or any(name.lower().endswith(b"vbaproject.bin") for name in entries)
    ):
        return "docm"
    return code


# puremagic's findings, by what they name, to our codes.
_CODE_OF_MIME = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heif",
    "image/heif": "heif",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/svg+xml": "svg",
    "text/html": "html",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "application/x-rar-compressed": "rar",
    "application/vnd.rar": "rar",
    "application/x-7z-compressed": "7z",
    "application/x-gzip": "gzip",
    "application/gzip": "gzip",
    "application/x-tar": "tar",
    "application/vnd.microsoft.portable-executable": "windows-program",
    "application/x-msdownload": "windows-program",
    "application/msword": "ms-office-97",
}
_CODE_OF_EXTENSION = {".pdf": "pdf", ".exe": "windows-program", ".dll": "windows-program", ".tar": "tar"}


def _puremagic_code(first: bytes) -> str | None:
    # Imported here: only a form of an exam that restricts its types pays for the import.
    import puremagic

    try:
        matches = puremagic.magic_string(first)
    except (puremagic.PureError, IndexError, ValueError):
        return None
    if not matches:
        return None
    code = _code_of_match(matches[0])
    if matches[0].confidence < _WEAK_MATCH and code not in _PROGRAMS and _text(first) is not None:
        return None  # text that happens to start like a format of two or three bytes: "if" is no audio
    return code


# puremagic's confidence grows with the length of the bytes matched (a tenth per byte): below this,
# two or three bytes that text starts with as often as the format does.
_WEAK_MATCH = 0.4
_PROGRAMS = frozenset({"windows-program", "linux-program", "macos-program"})


def _code_of_match(match: PureMagicWithConfidence) -> str:
    mime, extension, name = match.mime_type.lower(), match.extension.lower(), match.name.lower()
    if match.byte_match.startswith(b"MZ"):
        # DOS and Windows executables (puremagic may call one a ZoneAlarm data file or an Acrobat
        # plug-in: programs all the same).
        code: str | None = "windows-program"
    elif match.byte_match.startswith(b"\xd0\xcf\x11\xe0"):
        code = "ms-office-97"
    elif match.byte_match.startswith(b"\x7fELF"):
        code = "linux-program"
    elif "mach-o" in name:
        code = "macos-program"
    else:
        code = _CODE_OF_MIME.get(mime) or _CODE_OF_EXTENSION.get(extension) or _MEDIA.get(mime.split("/")[0])
    if code == "pdf" and match.offset != 0:
        return "unknown"  # a PDF's header later in the file is the fallback's to weigh
    return code or "unknown"


_MEDIA = {"audio": "audio", "video": "video"}


_CONTROL_ALLOWED = frozenset("\t\n\r\f")
# Control, unassigned, private-use and surrogate characters: what text has next to none of.
_NOT_TEXT = frozenset({"Cc", "Cn", "Co", "Cs"})


def _text(first: bytes) -> str | None:
    """The first bytes as text, or None when they are none: UTF-16 with its byte-order mark, or
    UTF-8 (a sequence cut at the end of the prefix allowed) with no NUL, under 1 % control,
    unassigned or private-use characters (tab, newlines and form feed are text); or else
    Windows-1252 (what Notepad saves in a Western European locale) with none at all."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = first[: len(first) - len(first) % 2].decode("utf-16")
        except UnicodeDecodeError:
            return None
        return text if _few_controls(text) else None
    if b"\x00" in first:
        return None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.start < len(first) - 3 or error.reason != "unexpected end of data":
            return _windows_1252(first)
        text = first[: error.start].decode("utf-8-sig")
    return text if _few_controls(text) else None


def _windows_1252(first: bytes) -> str | None:
    """Bytes that are no UTF-8 as Windows-1252 text: every byte one of its characters (its five
    unassigned bytes are none) and no control character but tab, newlines and form feed, which
    bytes that are not text almost never manage over a few hundred bytes."""
    try:
        text = first.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return text if text and not any(char < " " and char not in _CONTROL_ALLOWED for char in text) else None


def _few_controls(text: str) -> bool:
    import unicodedata

    if not text:
        return False
    controls = sum(1 for char in text if char not in _CONTROL_ALLOWED and unicodedata.category(char) in _NOT_TEXT)
    return controls * 100 < len(text)


# Text is what a student writes: plain text, Markdown and code, with whatever tags, scripts or
# handlers they quote or embed, since a text file is downloaded as `.txt` or `.md`
# (`served_filename`) and no reviewer's browser renders it. What is refused is a whole web page,
# SVG or XML document by its start (after blank space and HTML comments, which a Markdown file
# may start with too): the wrong file, saved from a browser or a drawing program.
_MARKUP_DOCUMENT = re.compile(r"\s*<(?:!doctype\s+html|html|head|body|\?xml|(?:[\w.-]+:)?svg)[\s/>]", re.IGNORECASE)
_LEADING_COMMENTS = re.compile(r"(?:\s*<!--.*?-->)*", re.DOTALL)
_SVG = re.compile(r"<(?:[\w.-]+:)?svg[\s/>]", re.IGNORECASE)


def _markup_code(text: str) -> str | None:
    """`svg` or `html` for a text that is a whole document a browser renders; None for text."""
    comments = _LEADING_COMMENTS.match(text)
    if not _MARKUP_DOCUMENT.match(text, comments.end() if comments else 0):
        return None
    return "svg" if _SVG.search(text) else "html"


# --- what a student is told --------------------------------------------------------------------


def wrong_type_message(found: Found, accepted: Sequence[Kind]) -> str:
    """The sentence for a file whose bytes are not of an accepted kind."""
    if found.code == "docm" and "word" in accepted:
        return (
            "This file is a Word document with macros (.docm), which is not accepted: save it as a Word document "
            "(.docx) and upload it again. It was not handed in and does not count as an attempt."
        )
    return (
        f"This file is {found.name}, not {_either(_ordered(accepted))}. It was not handed in and does not "
        "count as an attempt: choose the right file and upload it again."
    )


REJECTION_MESSAGES: Mapping[RejectionReason, str] = {
    "too_large": "This file is larger than the exam allows. It was not handed in and does not count as an attempt.",
    "empty": "This file was empty. It was not handed in and does not count as an attempt.",
    "checksum_mismatch": (
        "The file that arrived is not the one your page chose. It was not handed in and does not count as an "
        "attempt: upload it again."
    ),
    "after_cutoff": "This file arrived after your time to hand in ended. It was not handed in.",
    "limit_reached": "You had used every attempt the exam allows. This file was not handed in.",
    "wrong-type": (
        "This file is not of a type the exam accepts. It was not handed in and does not count as an attempt: "
        "choose the right file and upload it again."
    ),
    "pdf-unreadable": (
        "This PDF could not be opened: it may be damaged. It was not handed in and does not count as an attempt: "
        "save it again as a PDF and upload it."
    ),
    "pdf-encrypted": (
        "This PDF is protected by a password, so your examiner could not open it. It was not handed in and does "
        "not count as an attempt: save it without a password and upload it again."
    ),
}
