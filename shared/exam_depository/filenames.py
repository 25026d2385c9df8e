"""What a student's file is called where: in S3 keys, in downloads. Plain functions, no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote
from uuid import UUID

MAX_FILENAME = 200
FALLBACK_NAME = "answer"
# Format characters (Unicode category Cf) are invisible, and the bidi controls among them make a
# name show as another (U+202E turns "answers\u202Efdp.exe" into "answersexe.pdf"). Zero-width
# (non-)joiners are kept: Persian, Indic and emoji text need them.
_KEPT_FORMAT = frozenset("\u200c\u200d")
_UNSAFE_IN_KEY = re.compile(r"[\x00-\x1f\x7f/\\]")
# Types a browser would render or run if served as themselves from S3's origin.
_ACTIVE_TYPES = re.compile(
    r"^(text/html|text/xml|application/xhtml\+xml|image/svg\+xml|text/javascript|"
    r"application/(x-)?javascript|application/ecmascript|text/ecmascript|.*[/+]xml)$"
)


def invisible_characters(text: str) -> list[str]:
    """The format characters of `text` that a reader would not see (U+202E...), as code points."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf" and c not in _KEPT_FORMAT]


def client_filename(raw: str) -> str:
    """The name a browser sent, made safe to show and to store: no path a client prepended
    (C:\\fakepath\\a.pdf), no invisible format characters, not a bare `.` or `..` (a URL would
    resolve it away), at most 200 characters with the extension kept."""
    base = re.split(r"[/\\]", raw)[-1]
    base = "".join(c for c in base if unicodedata.category(c) != "Cf" or c in _KEPT_FORMAT)
    base = unicodedata.normalize("NFC", base).strip()
    if not base.strip("."):
        return FALLBACK_NAME
    return _shortened(base)


def _shortened(name: str) -> str:
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 20:
        return name[:MAX_FILENAME].rstrip()
    return stem[: MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension


def object_key(prefix: str, upload_id: UUID, filename: str) -> str:
    """The server chooses every key: the upload id makes it unique, the name helps ops."""
    return f"{prefix}{upload_id}/{_UNSAFE_IN_KEY.sub('_', filename)}"


def upload_folder(key: str) -> str:
    """The prefix under which one form's key, and every version of it, lives."""
    return key.rsplit("/", 1)[0] + "/"


def attachment_disposition(filename: str) -> str:
    """Content-Disposition that makes browsers save the file under its original name (RFC 6266):
    `filename*` carries it exactly (RFC 5987); the plain `filename` is an ASCII stand-in for old
    clients, with accents dropped and anything else that is not plain ASCII replaced."""
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_name = "".join(c if c.isascii() else "_" for c in decomposed if unicodedata.category(c) != "Mn")
    # Quotes, backslashes and separators would end the value; % could be read as an escape.
    ascii_name = re.sub(r'["\\;%\x00-\x1f\x7f]', "_", ascii_name)
    stem, dot, extension = ascii_name.rpartition(".")
    if not re.search(r"[A-Za-z0-9]", stem if dot else ascii_name):
        ascii_name = FALLBACK_NAME + (dot + extension if dot and extension.isalnum() else "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def served_content_type(content_type: str) -> str:
    """The type a download is served as: the recorded one, except for types a browser would
    render or run (HTML, SVG, XML, JavaScript), which are served as plain bytes."""
    return "application/octet-stream" if _ACTIVE_TYPES.match(content_type.lower()) else content_type


# --- names inside an export's ZIP -------------------------------------------------------------

# Names Windows refuses for a file or folder, whatever the extension (NUL.txt is NUL).
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
)
_UNSAFE_IN_ARCHIVE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MANIFEST = "manifest.csv"


def archive_part(name: str) -> str:
    """One folder or file name that Windows, macOS and Linux all accept as it is: NFC (macOS
    would otherwise show two names for one), no reserved character, no trailing dot or space
    (Windows drops them), no device name."""
    part = _UNSAFE_IN_ARCHIVE.sub("_", unicodedata.normalize("NFC", name)).rstrip(" .")
    if not part.strip("."):
        part = "_" + part
    if part.split(".")[0].upper() in _WINDOWS_DEVICES:
        part = "_" + part
    return part


def archive_names(entries: list[tuple[str, str]]) -> list[str]:
    """`<nickname>/<filename>` for each (nickname, filename), safe everywhere and distinct even on
    a file system that does not tell case apart: a clash gets " (2)", " (3)"... before its
    extension. Nothing is named like the manifest."""
    taken = {MANIFEST.casefold()}
    folders: dict[str, str] = {}
    names = []
    for nickname, filename in entries:
        if nickname not in folders:
            folders[nickname] = _unique(archive_part(nickname), lambda n: n.casefold() + "/", taken)
        folder = folders[nickname]
        names.append(_unique(f"{folder}/{archive_part(filename)}", str.casefold, taken))
    return names


def _unique(name: str, key: Callable[[str], str], taken: set[str]) -> str:
    candidate, n = name, 1
    while key(candidate) in taken:
        n += 1
        head, slash, last = name.rpartition("/")
        stem, dot, extension = last.rpartition(".")
        numbered = f"{stem} ({n}).{extension}" if dot and stem else f"{last} ({n})"
        candidate = f"{head}{slash}{numbered}"
    taken.add(key(candidate))
    return candidate
