"""What a message to a student says: one template per kind, rendered as plain text and as HTML.

A template is a tuple of blocks (a paragraph, a table of facts, a button, a code to type, small
print), and the same blocks make both parts, so that the text and the HTML cannot say different
things. The words come from catalogues in the pages' format (`messages/<language>.json`: flat keys,
`{name}` placeholders), in the exam's language; a key a catalogue lacks is said in English.

Nothing in a message is there to be tracked or flagged: one link, to the product's own pages, no
images, no remote resources, inline styles only; the upload code never appears in a subject (a
subject is shown in lists, notifications and lock screens).
"""

from __future__ import annotations

import functools
import html
import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from zoneinfo import ZoneInfo

from exam_depository.domain import codes
from exam_depository.domain.statuses import RejectionReason

LANGUAGES = ("en", "de", "fr")
FALLBACK_LANGUAGE = "en"
TEXT_WIDTH = 80
# RFC 7515's media type of a JWS in its compact form: what the attached receipt is.
RECEIPT_MEDIA_TYPE = "application/jose"

Catalogues = Mapping[str, Mapping[str, str]]


# What a message tells, as the sender's claim reads it from the database (apart from `domain.mail`,
# which every function that records or mails loads: only the sender defines these).
@dataclass(frozen=True)
class ExamFacts:
    title: str
    opens_at: datetime
    due_at: datetime
    cutoff_at: datetime
    timezone: str
    language: str


@dataclass(frozen=True)
class InvitationFacts:
    exam: ExamFacts
    first_name: str
    last_name: str
    upload_code: str


@dataclass(frozen=True)
class ReceiptFacts:
    exam: ExamFacts
    first_name: str
    filename: str
    size_bytes: int
    sha256: str
    submitted_at: datetime
    late: bool
    verification_code: str
    receipt: str
    attempt: int
    max_attempts: int
    replaces: tuple[str, datetime] | None  # the superseded file's name and when it was handed in


@dataclass(frozen=True)
class RejectionFacts:
    exam: ExamFacts
    first_name: str
    filename: str
    reason: RejectionReason
    found: str | None
    attempts_left: int


MessageFacts = InvitationFacts | ReceiptFacts | RejectionFacts


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str
    attachments: tuple[Attachment, ...] = ()


# --- the blocks a template is made of


@dataclass(frozen=True)
class Para:
    key: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    rows: tuple[tuple[str, str], ...]  # (label key, value as shown)


@dataclass(frozen=True)
class Button:
    label_key: str
    href: str


@dataclass(frozen=True)
class Code:
    value: str


@dataclass(frozen=True)
class Small:
    key: str
    values: Mapping[str, str] = field(default_factory=dict)


Block = Para | Facts | Button | Code | Small


def para(key: str, **values: str) -> Para:
    return Para(key, values)


def small(key: str, **values: str) -> Small:
    return Small(key, values)


# --- the catalogues


@functools.cache
def load_catalogues() -> Catalogues:
    """The messages' words, one catalogue per language, read once per execution environment."""
    folder = files("exam_depository") / "messages"
    return {language: json.loads((folder / f"{language}.json").read_text(encoding="utf-8")) for language in LANGUAGES}


class _Words:
    """One language's catalogue, English for what it lacks."""

    def __init__(self, catalogues: Catalogues, language: str) -> None:
        self.language = language if language in catalogues else FALLBACK_LANGUAGE
        self._own = catalogues.get(self.language, {})
        self._fallback = catalogues[FALLBACK_LANGUAGE]

    def __call__(self, key: str, values: Mapping[str, str] | None = None) -> str:
        template = self._own.get(key) or self._fallback[key]
        # The values are inserted as they are: a filename with braces is not a placeholder.
        return template.format_map(dict(values or {}))


# --- rendering


def upload_link(upload_page_url: str, code: str) -> str:
    """The student's link: the upload page with the code in the fragment, which no browser sends
    to a server (no log, no Referer holds it); the page reads it and removes it from the address
    bar."""
    return f"{upload_page_url.split('#', 1)[0]}#code={codes.display(codes.normalize(code) or code)}"


def render(facts: MessageFacts, *, upload_page_url: str, verify_page_url: str, catalogues: Catalogues) -> Rendered:
    words = _Words(catalogues, facts.exam.language)
    attachments: tuple[Attachment, ...] = ()
    if isinstance(facts, InvitationFacts):
        subject, blocks = _invitation(facts, words, upload_page_url)
    elif isinstance(facts, ReceiptFacts):
        subject, blocks = _receipt(facts, words, verify_page_url)
        token = facts.receipt.encode("ascii")  # a compact JWS is ASCII
        attachments = (Attachment(receipt_filename(facts.verification_code), RECEIPT_MEDIA_TYPE, token),)
    else:
        subject, blocks = _rejection(facts, words)
    subject = _one_line(subject)
    return Rendered(
        subject=subject,
        text=_text(blocks, words),
        html=_html(blocks, words, subject),
        language=words.language,
        attachments=attachments,
    )


def receipt_filename(verification_code: str) -> str:
    return f"receipt-{verification_code}.jwt"


def _greeting(first_name: str) -> Para:
    return para("mail.greeting", first_name=first_name) if first_name.strip() else para("mail.greeting-plain")


def _invitation(facts: InvitationFacts, words: _Words, upload_page_url: str) -> tuple[str, tuple[Block, ...]]:
    exam = facts.exam
    zone = ZoneInfo(exam.timezone)
    window = {
        "opens_at": _instant(exam.opens_at, zone, words),
        "due_at": _instant(exam.due_at, zone, words),
        "cutoff_at": _instant(exam.cutoff_at, zone, words),
        "timezone": exam.timezone,
    }
    code = codes.display(codes.normalize(facts.upload_code) or facts.upload_code)
    blocks: tuple[Block, ...] = (
        _greeting(facts.first_name),
        para("mail.invitation.intro", exam=exam.title),
        Button("mail.invitation.button", upload_link(upload_page_url, facts.upload_code)),
        Para("mail.invitation.window" if exam.cutoff_at > exam.due_at else "mail.invitation.window-no-late", window),
        para("mail.invitation.fallback", page=upload_page_url.split("#", 1)[0]),
        Code(code),
        para("mail.invitation.keep"),
        small("mail.footer", exam=exam.title),
    )
    return words("mail.invitation.subject", {"exam": exam.title}), blocks


def _receipt(facts: ReceiptFacts, words: _Words, verify_page_url: str) -> tuple[str, tuple[Block, ...]]:
    exam = facts.exam
    zone = ZoneInfo(exam.timezone)
    replaces: tuple[Block, ...] = ()
    if facts.replaces is not None:
        old, old_at = facts.replaces
        replaces = (para("mail.receipt.replaces", old=old, time=_instant(old_at, zone, words)),)
    blocks: tuple[Block, ...] = (
        _greeting(facts.first_name),
        para("mail.receipt.intro", exam=exam.title),
        para("mail.receipt.late" if facts.late else "mail.receipt.on-time"),
        Facts(
            (
                ("mail.receipt.file", facts.filename),
                ("mail.receipt.size", _size(facts.size_bytes, words)),
                ("mail.receipt.sha256", facts.sha256),
                ("mail.receipt.received", f"{_instant(facts.submitted_at, zone, words)} ({exam.timezone})"),
                (
                    "mail.receipt.attempt",
                    words("mail.receipt.attempt-of", {"count": str(facts.attempt), "max": str(facts.max_attempts)}),
                ),
                ("mail.receipt.verification-code", facts.verification_code),
            )
        ),
        *replaces,
        para("mail.receipt.attached", filename=receipt_filename(facts.verification_code), page=verify_page_url),
        small("mail.footer", exam=exam.title),
    )
    return words("mail.receipt.subject", {"exam": exam.title, "filename": facts.filename}), blocks


def _rejection(facts: RejectionFacts, words: _Words) -> tuple[str, tuple[Block, ...]]:
    exam = facts.exam
    found = words(f"mail.found.{facts.found}") if facts.found else words("mail.found.unknown")
    if facts.attempts_left <= 0:
        left = para("mail.rejection.none-left")
    elif facts.attempts_left == 1:
        left = para("mail.rejection.left-one")
    else:
        left = para("mail.rejection.left", count=str(facts.attempts_left))
    blocks: tuple[Block, ...] = (
        _greeting(facts.first_name),
        para("mail.rejection.intro", filename=facts.filename, exam=exam.title),
        para(f"mail.rejected.{facts.reason}", found=found),
        left,
        small("mail.footer", exam=exam.title),
    )
    return words("mail.rejection.subject", {"exam": exam.title, "filename": facts.filename}), blocks


def _instant(at: datetime, zone: ZoneInfo, words: _Words) -> str:
    """A moment in the exam's zone, in the language's words (no Babel: months and weekdays come
    from the catalogue)."""
    local = at.astimezone(zone)
    time = words("mail.time", {"hour": f"{local.hour:02d}", "minute": f"{local.minute:02d}"})
    return words(
        "mail.date",
        {
            "weekday": words(f"mail.weekday.{local.weekday()}"),
            "day": str(local.day),
            "month": words(f"mail.month.{local.month}"),
            "year": str(local.year),
            "time": time,
        },
    )


def _size(size_bytes: int, words: _Words) -> str:
    if size_bytes < 1024:
        return words("mail.size.bytes", {"count": str(size_bytes)})
    if size_bytes < 1024 * 1024:
        return words("mail.size.kib", {"count": str(round(size_bytes / 1024))})
    mib = f"{size_bytes / (1024 * 1024):.1f}".replace(".", words("mail.decimal-separator"))
    return words("mail.size.mib", {"count": mib})


def _one_line(text: str) -> str:
    """A subject is one line: a control character in a title or a filename becomes a space."""
    return " ".join("".join(" " if ord(char) < 0x20 or ord(char) == 0x7F else char for char in text).split())


# --- the two parts


def _text(blocks: tuple[Block, ...], words: _Words) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Para | Small):
            parts.append(_wrap(words(block.key, block.values)))
        elif isinstance(block, Facts):
            labels = [words(label) for label, _ in block.rows]
            width = max(len(label) for label in labels) + 2
            parts.append(
                "\n".join(
                    f"{label + ':':<{width}}{value}" for label, (_, value) in zip(labels, block.rows, strict=True)
                )
            )
        elif isinstance(block, Button):
            # The link alone on its line: mail programs make it clickable only when nothing is glued to it.
            parts.append(f"{words(block.label_key)}:\n{block.href}")
        else:
            parts.append(f"    {block.value}")
    return "\n\n".join(parts) + "\n"


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)


_BODY = (
    "margin:0;padding:24px;background:#ffffff;color:#1a1a1a;"
    "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5"
)
_P = "margin:0 0 16px"
_TH = "text-align:left;vertical-align:top;padding:4px 16px 4px 0;font-weight:bold;white-space:nowrap"
_TD = "vertical-align:top;padding:4px 0;word-break:break-all"
_BUTTON = (
    "display:inline-block;padding:12px 20px;background:#1d4ed8;color:#ffffff;text-decoration:none;"
    "border-radius:4px;font-weight:bold"
)
_CODE = "margin:0 0 16px;font-family:Consolas,Menlo,monospace;font-size:20px;letter-spacing:2px"
_SMALL = "margin:24px 0 0;font-size:13px;color:#555555"


def _html(blocks: tuple[Block, ...], words: _Words, subject: str) -> str:
    e = html.escape
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Para):
            parts.append(f'<p style="{_P}">{e(words(block.key, block.values))}</p>')
        elif isinstance(block, Small):
            parts.append(f'<p style="{_SMALL}">{e(words(block.key, block.values))}</p>')
        elif isinstance(block, Facts):
            rows = "".join(
                f'<tr><th scope="row" style="{_TH}">{e(words(label))}</th><td style="{_TD}">{e(value)}</td></tr>'
                for label, value in block.rows
            )
            parts.append(f'<table style="border-collapse:collapse;margin:0 0 16px">{rows}</table>')
        elif isinstance(block, Button):
            parts.append(
                f'<p style="{_P}"><a href="{e(block.href)}" style="{_BUTTON}">{e(words(block.label_key))}</a></p>'
            )
        else:
            parts.append(f'<p style="{_CODE}">{e(block.value)}</p>')
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="{e(words.language)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(subject)}</title>\n</head>\n'
        f'<body style="{_BODY}">\n<div style="max-width:600px;margin:0 auto">\n{body}\n</div>\n</body>\n</html>\n'
    )
