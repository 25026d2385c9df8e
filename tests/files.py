"""Small files of each kind a student may hand in, and hostile ones, built in code: no binary is
kept in the repository or downloaded. Each is a real file of its format (a reader opens it), only
as small as the format allows."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from pypdf import PdfWriter

# --- PDF ---------------------------------------------------------------------------------------


def _pdf(objects: list[bytes], *, root: int = 1, header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF of these objects (numbered from 1) with a correct cross-reference table."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pdf_with_text(text: str = "My answer to question 1") -> bytes:
    content = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            _stream(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def blank_pdf() -> bytes:
    """A PDF whose page holds no text: what a scan without OCR looks like to a reader."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(user_password: str = "secret", owner_password: str = "owner") -> bytes:
    """A PDF protected by a password (an empty `user_password`: restricted by its owner only, opens)."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf_with_text()))
    writer.encrypt(user_password, owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def inflate_bomb_pdf(inflated_bytes: int = 200 * 1024 * 1024) -> bytes:
    """A page whose content stream is small compressed and `inflated_bytes` inflated."""
    compressor = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    squeezed = b"".join(compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk))) + compressor.flush()
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            _stream(squeezed, b"/Filter /FlateDecode "),
        ]
    )


def nested_arrays_pdf(depth: int = 10_000) -> bytes:
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


def parent_loop_pdf() -> bytes:
    """A page tree whose node is its own kid: a reader walking it must not go round for ever."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


def truncated_pdf() -> bytes:
    return pdf_with_text()[:90]


# --- ZIP-based documents -----------------------------------------------------------------------

_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{main}"/></Types>'
)
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_EXCEL_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>'
)


def _zip(entries: list[tuple[str, str | bytes]], *, stored_first: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name, (2026, 12, 5, 10, 0, 0)), data, compress_type=method)
    return out.getvalue()


def docx(*, content_types_last: bool = False, padding: int = 0) -> bytes:
    """A Word document in Word's entry order ([Content_Types].xml first), or with it last behind
    `padding` bytes of incompressible media (a document with pictures)."""
    types = ("[Content_Types].xml", _DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN))
    body: list[tuple[str, str | bytes]] = [
        ("_rels/.rels", _RELS),
        ("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>Answer</w:t></w:r></w:p></w:body></w:document>"),
    ]
    if padding:
        # Incompressible bytes, made without a random generator (the file is the same each run).
        body.insert(0, ("media/image1.bin", _incompressible(padding)))
    return _zip([*body, types] if content_types_last else [types, *body])


def xlsx() -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", _DOCX_TYPES.format(part="xl/workbook.xml", main=_EXCEL_MAIN)),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", "<workbook/>"),
        ]
    )


_ODT_ENTRIES: tuple[tuple[str, str], ...] = (
    ("mimetype", "application/vnd.oasis.opendocument.text"),
    ("content.xml", "<office:document-content/>"),
    ("META-INF/manifest.xml", "<manifest:manifest/>"),
)


def odt() -> bytes:
    return _zip(list(_ODT_ENTRIES), stored_first=True)


def plain_zip() -> bytes:
    return _zip([("answers/q1.txt", "x = 42\n"), ("answers/q2.py", "print(42)\n")])


_WORD_MACROS_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
_VBA_DEFAULT = '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
_DOCUMENT_XML = "<w:document><w:body><w:p><w:r><w:t>Answer</w:t></w:r></w:p></w:body></w:document>"


def docm(*, declared_main: str = _WORD_MACROS_MAIN, content_types_last: bool = False, padding: int = 0) -> bytes:
    """A Word document with macros: its VBA project beside the document, as Word saves a .docm
    (`declared_main`: the main part's type its [Content_Types].xml gives)."""
    types = _DOCX_TYPES.format(part="word/document.xml", main=declared_main).replace(
        "</Types>", _VBA_DEFAULT + "</Types>"
    )
    body: list[tuple[str, str | bytes]] = [
        ("_rels/.rels", _RELS),
        ("word/document.xml", _DOCUMENT_XML),
        ("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504),
    ]
    if padding:
        body.insert(0, ("media/image1.bin", _incompressible(padding)))
    entries = [*body, ("[Content_Types].xml", types)] if content_types_last else [("[Content_Types].xml", types), *body]
    return _zip(entries)


def zip_of(*entries: tuple[str, str | bytes]) -> bytes:
    return _zip(list(entries))


def zip_naming_a_program_as_words_main_part() -> bytes:
    """A ZIP whose [Content_Types].xml gives a program as Word's main part."""
    types = _DOCX_TYPES.format(part="evil.exe", main=WORD_MAIN)
    return _zip([("[Content_Types].xml", types), ("evil.exe", windows_program())])


def zip_claiming_word(*entries: tuple[str, str | bytes]) -> bytes:
    """A ZIP whose [Content_Types].xml names Word's main part, holding only `entries`."""
    return _zip([("[Content_Types].xml", _DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)), *entries])


def odt_without(entry: str) -> bytes:
    """An OpenDocument text lacking one of the entries it must have."""
    return _zip([pair for pair in _ODT_ENTRIES if pair[0] != entry], stored_first=True)


def odt_with_mimetype_compressed() -> bytes:
    return _zip(list(_ODT_ENTRIES))


def odt_with_mimetype_later() -> bytes:
    return _zip([_ODT_ENTRIES[1], _ODT_ENTRIES[0], _ODT_ENTRIES[2]])


def docx_before_another_zip(*entries: tuple[str, str | bytes], padding: int = 0) -> bytes:
    """A whole Word document and then a ZIP of `entries` (and `padding` incompressible bytes):
    what a reader opens is the second (its directory ends the file), while the first bytes show
    the Word document's local headers."""
    return docx() + _zip([*entries, *([("media.bin", _incompressible(padding))] if padding else [])])


def docx_with_many_entries(count: int) -> bytes:
    """A Word document with `count` more small entries, each with a long name: a central
    directory larger than the end of the file the recorder reads."""
    extra = [(f"customXml/item-{index:05d}-{'x' * 80}.xml", "<x/>") for index in range(count)]
    return _zip(
        [
            ("[Content_Types].xml", _DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)),
            ("word/document.xml", _DOCUMENT_XML),
            *extra,
        ]
    )


def libreoffice_docx(*, paragraphs: int = 30, picture: int = 270_000) -> bytes:
    """A Word document laid out as LibreOffice 7.4 writes one (`soffice --convert-to docx`, seen on
    a 289 KB answer with a photo): the parts of word/ first, the text past the first 8 KiB once
    deflated, then [Content_Types].xml, then the picture, whose bytes fill the last 64 KiB read.
    Its text is words of letters taken from fixed bytes, deflated to about 13 KiB (the real
    file's: 12 KiB), so [Content_Types].xml lies about where LibreOffice put it; the file is the
    same each run."""
    letters = _incompressible(paragraphs * 120 * 9)
    text = "".join(
        "<w:p><w:r><w:t>"
        + " ".join(
            "".join(chr(97 + letters[at + i] % 26) for i in range(2 + letters[at + 8] % 7))
            for at in range(p * 1080, (p + 1) * 1080, 9)
        )
        + "</w:t></w:r></w:p>"
        for p in range(paragraphs)
    )
    return _zip(
        [
            ("_rels/.rels", _RELS),
            ("docProps/core.xml", "<cp:coreProperties/>"),
            ("word/_rels/document.xml.rels", _RELS),
            ("word/document.xml", f"<w:document><w:body>{text}</w:body></w:document>"),
            ("word/styles.xml", "<w:styles/>"),
            ("[Content_Types].xml", _DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)),
            ("word/media/image1.png", _incompressible(picture)),
        ]
    )


def _incompressible(size: int) -> bytes:
    out, counter = bytearray(), 0
    while len(out) < size:
        out += zlib.crc32(counter.to_bytes(8, "little")).to_bytes(4, "little") * 1
        out += bytes(((counter * 2654435761) >> shift) & 0xFF for shift in (0, 8, 16, 24))
        counter += 1
    return bytes(out[:size])


# --- images ------------------------------------------------------------------------------------


def png() -> bytes:
    """A 1×1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """The start of a baseline JFIF JPEG (SOI, APP0, a quantisation table, SOF0) and its end."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 1, 1, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + dqt + sof0 + b"\xff\xd9"


def heic() -> bytes:
    """An ISO-BMFF file of brand heic (the ftyp and meta boxes an iPhone's photo starts with)."""
    ftyp = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    meta = b"meta" + b"\x00" * 12
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(meta) + 4) + meta


def webp() -> bytes:
    vp8 = b"VP8 " + struct.pack("<I", 10) + b"\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(vp8)) + b"WEBP" + vp8


# --- text --------------------------------------------------------------------------------------


def utf8_text() -> bytes:
    return "Réponse à la question 1 : l'énergie se conserve.\n\tΔE = 0\n".encode()


def utf16_text() -> bytes:
    return "Antwort: Die Energie bleibt erhalten.\r\n".encode("utf-16")


def html() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>Answer</title></head><body><p>42</p></body></html>\n"


# --- programs ----------------------------------------------------------------------------------


def windows_program() -> bytes:
    """The headers of a PE executable: the DOS stub pointing at the PE signature and its COFF header."""
    dos = bytearray(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44)
    dos += struct.pack("<I", 0x80)
    dos += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    dos = dos.ljust(0x80, b"\x00")
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    return bytes(dos + coff + b"\x00" * 512)


def linux_program() -> bytes:
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    header = struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    return ident + header + b"\x00" * 256
