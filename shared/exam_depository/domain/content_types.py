"""The kinds of file an exam may accept, and what a file is by its bytes rather than its name.

`declared_type_refusal` weighs what a browser declares before a form is issued; `identify` reads a
file's first bytes (`identify_zip_tail` the end of a ZIP) after S3 stored it, and names what it
found in words a student understands. puremagic names most formats from their header but cannot
tell the ZIP-based office formats from a ZIP (it opens the file by name to look inside): we walk
the ZIP's entries ourselves, and recognise plain text by our own rule (puremagic finds nothing)."""

from __future__ import annotations

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


SPECS: Mapping[Kind, KindSpec] = {
    "pdf": KindSpec("a PDF", ("application/pdf",), (".pdf",), ("pdf",)),
    "word": KindSpec(
        "a Word document",
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        (".docx",),
        ("docx",),
    ),
    "odt": KindSpec("an OpenDocument text", ("application/vnd.oasis.opendocument.text",), (".odt",), ("odt",)),
    "image": KindSpec(
        "an image (JPEG, PNG, HEIC or WebP)",
        ("image/jpeg", "image/png", "image/heic", "image/heif", "image/webp"),
        (".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp"),
        ("jpeg", "png", "heif", "webp"),
    ),
    "text": KindSpec("a plain text file", ("text/plain", "text/markdown"), (".txt", ".md"), ("text",)),
    "zip": KindSpec("a ZIP archive", ("application/zip", "application/x-zip-compressed"), (".zip",), ("zip",)),
}
_KIND_OF_CODE = {code: kind for kind, spec in SPECS.items() for code in spec.found_codes}

# The first bytes the recorder reads to identify a file, and the end of a ZIP it reads when the
# first bytes did not say which ZIP it is (the central directory, where every entry is named).
TYPE_PREFIX_BYTES = 8192
ZIP_TAIL_BYTES = 65536
# What browsers declare when they do not know a file's type.
GENERIC_TYPES = frozenset({"", "application/octet-stream"})

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
    "script": "a script",
    "audio": "an audio recording",
    "video": "a video",
    "unknown": "of a type we do not recognise",
}


@dataclass(frozen=True)
class Found:
    """What a file's bytes are: a code of `FOUND_NAMES`, the accepted kind it is (None: none),
    and how a sentence names it. Not conclusive: a ZIP whose first bytes did not say which ZIP
    it is (an office document's entries may come later)."""

    code: str
    kind: Kind | None
    name: str
    conclusive: bool = True


def found(code: str, *, conclusive: bool = True) -> Found:
    return Found(code, _KIND_OF_CODE.get(code), FOUND_NAMES[code], conclusive)


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


def declared_type_refusal(filename: str, content_type: str, accepted: Sequence[Kind]) -> TypeNotAccepted | None:
    """Whether a form must be refused for what the browser declares the file to be: its type
    one of the accepted kinds', or, when the browser does not know the type, the name's extension
    one of theirs. The bytes are checked again once stored: this only spares a student a
    pointless upload."""
    if not accepted:
        return None
    declared = content_type.strip().lower()
    kinds = _ordered(accepted)
    if any(declared in SPECS[kind].mime_types for kind in kinds):
        return None
    extension = _extension(filename)
    if declared in GENERIC_TYPES and any(extension in SPECS[kind].extensions for kind in kinds):
        return None
    extensions = ", ".join(extension for kind in kinds for extension in SPECS[kind].extensions)
    return TypeNotAccepted(
        f"This exam accepts {_either(kinds)} ({extensions}); {filename} is not one.",
        extra={"accepted_types": list(kinds), "accept": accept_attribute(kinds)},
    )


def _extension(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _ordered(accepted: Sequence[Kind]) -> list[Kind]:
    """The kinds in the table's order, each once."""
    return [kind for kind in KINDS if kind in accepted]


def _either(kinds: Sequence[Kind]) -> str:
    labels = [SPECS[kind].label for kind in kinds]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


# --- the bytes ---------------------------------------------------------------------------------

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_CENTRAL = b"PK\x01\x02"
_OPENDOCUMENT = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
_OFFICE_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
}
_OFFICE_FOLDERS = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}
# Bounds on what a crafted ZIP can make us inflate or walk.
_MAX_CONTENT_TYPES_BYTES = 65536
_MAX_ZIP_ENTRIES = 2000


def identify(first: bytes) -> Found:
    """What a file is, from its first bytes (`TYPE_PREFIX_BYTES` of them, or all of a smaller file)."""
    if first.startswith(_ZIP_LOCAL):
        return _zip_by_local_headers(first)
    matched = _puremagic_code(first)
    if matched is not None and matched != "unknown":
        return found(matched)
    if b"%PDF-" in first[:1024]:
        return found("pdf")  # readers allow junk before the header
    if first.startswith(b"#!"):
        return found("script")
    if _is_text(first):
        return found("text")
    return found("unknown")


def identify_zip_tail(tail: bytes) -> Found:
    """Which ZIP a file is, from its last bytes (`ZIP_TAIL_BYTES`): the central directory names
    every entry. Always conclusive: a ZIP whose directory names no office document is a ZIP."""
    names: list[bytes] = []
    at = tail.find(_ZIP_CENTRAL)
    while at != -1 and at + 46 <= len(tail) and len(names) < _MAX_ZIP_ENTRIES:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", tail, at + 28)
        names.append(tail[at + 46 : at + 46 + name_length])
        at = tail.find(_ZIP_CENTRAL, at + 46 + name_length + extra_length + comment_length)
    code = _office_code_by_names([name.decode("utf-8", "replace") for name in names])
    return found(code or "zip")


def _zip_by_local_headers(first: bytes) -> Found:
    names: list[str] = []
    at = 0
    while first.startswith(_ZIP_LOCAL, at) and at + 30 <= len(first) and len(names) < _MAX_ZIP_ENTRIES:
        flags, method = struct.unpack_from("<HH", first, at + 6)
        compressed_size, _, name_length, extra_length = struct.unpack_from("<IIHH", first, at + 18)
        name = first[at + 30 : at + 30 + name_length].decode("utf-8", "replace")
        data_at = at + 30 + name_length + extra_length
        data = first[data_at : data_at + compressed_size]
        names.append(name)
        if not names[1:] and name == "mimetype" and method == 0:
            code = _OPENDOCUMENT.get(data.strip())
            if code is not None:
                return found(code)
        if name == "[Content_Types].xml" and len(data) == compressed_size:
            code = _office_code_by_content_types(data, method)
            if code is not None:
                return found(code)
        if flags & 0x08:
            break  # the sizes follow the data: the next header cannot be found from here
        at = data_at + compressed_size
    code = _office_code_by_names(names)
    if code is not None:
        return found(code)
    return found("zip", conclusive=False)


def _office_code_by_content_types(data: bytes, method: int) -> str | None:
    try:
        xml = data if method == 0 else zlib.decompressobj(-15).decompress(data, _MAX_CONTENT_TYPES_BYTES)
    except zlib.error:
        return None
    text = xml.decode("utf-8", "replace").lower()
    for content_type, code in _OFFICE_MAIN.items():
        if content_type in text:
            return code
    return None


def _office_code_by_names(names: Sequence[str]) -> str | None:
    if "mimetype" in names and any(name == "content.xml" for name in names):
        return None  # an OpenDocument whose mimetype entry we could not read: not decided by names
    for name in names:
        for folder, code in _OFFICE_FOLDERS.items():
            if name.startswith(folder):
                return code
    return None


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
    return _code_of_match(matches[0])


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


def _is_text(first: bytes) -> bool:
    """Plain text: UTF-16 with its byte-order mark, or UTF-8 (a sequence cut at the end of the
    prefix allowed) with no NUL; and under 1 % control, unassigned or private-use characters
    (tab, newlines and form feed are text)."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = first[: len(first) - len(first) % 2].decode("utf-16")
        except UnicodeDecodeError:
            return False
        return _few_controls(text)
    if b"\x00" in first:
        return False
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.start < len(first) - 3 or error.reason != "unexpected end of data":
            return False
        text = first[: error.start].decode("utf-8-sig")
    return _few_controls(text)


def _few_controls(text: str) -> bool:
    import unicodedata

    if not text:
        return False
    controls = sum(1 for char in text if char not in _CONTROL_ALLOWED and unicodedata.category(char) in _NOT_TEXT)
    return controls * 100 < len(text)


# --- what a student is told --------------------------------------------------------------------


def wrong_type_message(found: Found, accepted: Sequence[Kind]) -> str:
    """The sentence for a file whose bytes are not of an accepted kind."""
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
