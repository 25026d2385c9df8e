"""What a student's file is called where: in S3 keys, in downloads. Plain functions, no I/O."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote
from uuid import UUID

from exam_depository.domain.characters import KEPT_FORMAT

MAX_FILENAME = 200
FALLBACK_NAME = "answer"
_UNSAFE_IN_KEY = re.compile(r"[\x00-\x1f\x7f/\\]")
# Types a browser would render or run if served as themselves from S3's origin.
_ACTIVE_TYPES = re.compile(
    r"^(text/html|text/xml|application/xhtml\+xml|image/svg\+xml|text/javascript|"
    r"application/(x-)?javascript|application/ecmascript|text/ecmascript|.*[/+]xml)$"
)


def client_filename(raw: str) -> str:
    """The name a browser sent, made safe to show and to store: no path a client prepended
    (C:\\fakepath\\a.pdf), no invisible format characters, not a bare `.` or `..` (a URL would
    resolve it away), at most 200 characters with the extension kept."""
    base = re.split(r"[/\\]", raw)[-1]
    base = "".join(c for c in base if unicodedata.category(c) != "Cf" or c in KEPT_FORMAT)
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

# Names Windows refuses for a file or folder, whatever the extension (NUL.txt and NUL.tar.gz are
# NUL), the superscript digits and the console names of recent versions included.
_WINDOWS_DEVICES = frozenset(
    {
        "CON",
        "PRN",
        "AUX",
        "NUL",
        "CONIN$",
        "CONOUT$",
        *(f"{port}{n}" for port in ("COM", "LPT") for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")),
    }
)
_UNSAFE_IN_ARCHIVE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MANIFEST = "manifest.csv"
# The exam's audit log and the signed checkpoint of its last event, beside the manifest.
AUDIT_LOG = "audit.csv"
AUDIT_CHECKPOINT = "audit-checkpoint.jwt"
# A path component: at most 255 bytes of UTF-8 on Linux (and in what unzip writes there) and
# 255 UTF-16 units of the decomposed form on macOS's HFS+ (APFS allows as much, Windows more).
MAX_PART_BYTES = 255
_LONGEST_EXTENSION = 20  # longer than this after the last dot, it is no extension but a name


def archive_part(name: str, suffix: str = "") -> str:
    """One folder or file name that Windows, macOS and Linux all accept as it is: NFC (macOS
    would otherwise show two names for one), no reserved or control character, no trailing dot
    or space (Windows drops them), no device name, and short enough everywhere (MAX_PART_BYTES),
    shortened where it must be on a character boundary, keeping its extension. `suffix` (" (2)")
    goes before the extension, and counts in the length."""
    part = unicodedata.normalize("NFC", _UNSAFE_IN_ARCHIVE.sub("_", name)).rstrip(" .")
    if not part.strip("."):
        part = "_" + part
    if part.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        part = "_" + part
    stem, dot, extension = part.rpartition(".")
    ending = suffix + dot + extension
    if not dot or not stem.strip(" .") or len(extension) > _LONGEST_EXTENSION or not _fits("_" + ending):
        stem, ending = part, suffix
    if _fits(stem + ending):
        return stem + ending
    # Cut short, a stem ends with no dot or space: at the end of a name, Windows drops them.
    return (_cut(stem, ending).rstrip(" .") or "_") + ending


def _fits(part: str) -> bool:
    decomposed = unicodedata.normalize("NFD", part)
    return len(part.encode()) <= MAX_PART_BYTES and len(decomposed.encode("utf-16-le")) // 2 <= MAX_PART_BYTES


def _cut(stem: str, ending: str) -> str:
    """The longest start of `stem` that fits before `ending` and does not split what a reader
    sees as one character: a letter keeps its accents, an emoji its joined parts and modifiers."""
    end = len(stem)
    while end and (not _fits(stem[:end] + ending) or _continues(stem, end)):
        end -= 1
    return stem[:end]


def _continues(text: str, end: int) -> bool:
    """Whether `text[end]` belongs to the character people see ending at `text[end - 1]`."""
    if end >= len(text):
        return False
    after, before = text[end], text[end - 1]
    if unicodedata.category(after).startswith("M") or after in "\u200d\ufe0e\ufe0f" or before == "\u200d":
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff" or "\U000e0020" <= after <= "\U000e007f":  # skin tones, tag flags
        return True
    # Flags are pairs of regional indicators: cut after an even number of them.
    indicators = 0
    while end - indicators > 0 and _regional_indicator(text[end - indicators - 1]):
        indicators += 1
    return _regional_indicator(after) and indicators % 2 == 1


def _regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _same_everywhere(path: str) -> str:
    """What two names must not share: equal after case folding and canonical decomposition (as
    macOS compares names; Windows ignores case too), they are one name on some computer."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", path).casefold())


class ArchiveNames:
    """The names of one ZIP's entries, `<folder>/<file>`, handed out one at a time (an export
    learns a file only as it reaches it): each part safe everywhere (`archive_part`), each name
    distinct even where case and composition do not count, a clash numbered " (2)", " (3)"...
    before its extension. No entry and no folder is named like the manifest or the audit log's
    two files."""

    def __init__(self) -> None:
        self._taken = {_same_everywhere(name) for name in (MANIFEST, AUDIT_LOG, AUDIT_CHECKPOINT)}
        self._folders: dict[str, str] = {}

    def entry(self, folder: str, filename: str) -> str:
        if folder not in self._folders:
            self._folders[folder] = self._unique("", folder)
        parent = self._folders[folder] + "/"
        return parent + self._unique(parent, filename)

    def _unique(self, parent: str, name: str) -> str:
        candidate, n = archive_part(name), 1
        while _same_everywhere(parent + candidate) in self._taken:
            n += 1
            candidate = archive_part(name, f" ({n})")
        self._taken.add(_same_everywhere(parent + candidate))
        return candidate


def archive_names(entries: list[tuple[str, str]]) -> list[str]:
    """`ArchiveNames` for a known list of (folder, filename)."""
    names = ArchiveNames()
    return [names.entry(folder, filename) for folder, filename in entries]
