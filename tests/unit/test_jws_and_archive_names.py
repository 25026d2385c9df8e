"""The plain parts of receipts and exports: JWS pieces, KMS's DER signatures, names in a ZIP."""

from __future__ import annotations

import unicodedata

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from exam_depository.adapters import signing
from exam_depository.domain import jws
from exam_depository.domain.filenames import MANIFEST, archive_names, archive_part
from hypothesis import given, settings
from hypothesis import strategies as st


def test_a_kms_der_signature_becomes_the_jws_r_and_s_and_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signed = jws.signing_input("kid", {"a": "é"})
    for _ in range(50):  # DER integers are 32 or 33 bytes, or shorter: each must come out as 32
        der = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        raw = signing.raw_signature(der)
        r, s = decode_dss_signature(der)
        assert raw == r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert jws.signature_holds(jws.jwk_from_spki(spki), signed, raw)
    assert not jws.signature_holds(jws.jwk_from_spki(spki), signed + b"x", raw)


def test_a_jwk_and_its_rfc_7638_thumbprint() -> None:
    # The example key of RFC 7638, section 3.1, is RSA; this one checks the EC member order.
    jwk = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "BBBB", "use": "sig"}
    assert jws.thumbprint(jwk) == jws.b64url(
        __import__("hashlib").sha256(b'{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}').digest()
    )
    with pytest.raises(ValueError, match="P-256"):
        jws.jwk_from_spki(b"\x30" * 91)


@given(st.text(max_size=200))
def test_anything_given_as_a_receipt_is_parsed_or_refused_plainly(text: str) -> None:
    if text.count(".") != 2:
        with pytest.raises(jws.NotGenuine, match="three parts"):
            jws.parse(text)
        return
    with pytest.raises(jws.NotGenuine, match=r"\w"):  # never anything but a sentence for people
        jws.parse(text)


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("answers.pdf", "answers.pdf"),
        ("what?: <a|b>.pdf", "what__ _a_b_.pdf"),
        ("trailing. ", "trailing"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1", "_com1"),
        ("..", "_"),
        ("Zoe\u0308.pdf", "Zoë.pdf"),
        ("CON .txt", "_CON .txt"),
        ("aux.tar.gz", "_aux.tar.gz"),
        ("COM\u00b9", "_COM\u00b9"),
        ("tab\there", "tab_here"),
    ],
)
def test_a_name_in_the_zip_is_accepted_by_windows_macos_and_linux(name: str, part: str) -> None:
    assert archive_part(name) == part


def test_names_in_the_zip_never_clash_even_where_case_does_not_count() -> None:
    names = archive_names(
        [("ann", "a.pdf"), ("ANN.", "A.PDF"), ("b", "manifest.csv"), ("b", "x"), ("c", "MANIFEST.CSV")]
    )
    assert names == ["ann/a.pdf", "ANN (2)/A.PDF", "b/manifest.csv", "b/x", "c/MANIFEST.CSV"]
    assert len({name.casefold() for name in names}) == len(names)
    assert "manifest.csv" not in names


def test_names_that_only_differ_in_case_or_composition_or_clash_with_the_manifest_are_numbered() -> None:
    names = archive_names(
        [("manifest.csv", "a.pdf"), ("Zoe\u0308", "a.pdf"), ("ZOË", "a.pdf"), ("straße", "a"), ("STRASSE", "a")]
    )
    assert names == ["manifest (2).csv/a.pdf", "Zoë/a.pdf", "ZOË (2)/a.pdf", "straße/a", "STRASSE (2)/a"]


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("字" * 196 + ".pdf", "字" * 83 + ".pdf"),  # 3 bytes each: 592 bytes before
        ("😀" * 196 + ".pdf", "😀" * 62 + ".pdf"),  # 4 bytes each: 788 bytes before
        ("👩\u200d💻" * 80 + ".pdf", "👩\u200d💻" * 22 + ".pdf"),  # never half an emoji
        ("🇫🇷" * 80, "🇫🇷" * 31),  # never half a flag
        ("e\u0301" * 200, "é" * 127),  # composed first, then 2 bytes each
        ("x." + "y" * 300, "x." + "y" * 253),  # a 300-character "extension" is none
    ],
    ids=["CJK", "emoji", "joined emoji", "flags", "decomposed", "long extension"],
)
def test_a_long_name_is_cut_to_255_bytes_on_a_character_boundary_keeping_its_extension(name: str, kept: str) -> None:
    assert archive_part(name) == kept
    numbered = archive_part(name, " (12)")
    assert len(numbered.encode()) <= 255
    assert numbered.endswith(" (12).pdf" if name.endswith(".pdf") else " (12)")


def _caseless(name: str) -> str:
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}


# Names made of what breaks names: wide characters, combining marks, joined emoji, dots, spaces,
# device names, the manifest's name, reserved and control characters; and anything else.
_PIECES = ["字", "😀", "e\u0301", "👩\u200d💻", "🇫🇷", " ", ".", "A", "a", "CON", "manifest.csv", ":", "\x01", "ß"]
_NAMES = st.lists(st.sampled_from(_PIECES) | st.characters(exclude_categories=["Cs"]), min_size=1, max_size=120).map(
    "".join
)


@settings(max_examples=300)
@given(st.lists(st.tuples(_NAMES, _NAMES), max_size=8))
def test_every_name_in_the_zip_can_be_extracted_on_windows_macos_and_linux(entries: list[tuple[str, str]]) -> None:
    names = archive_names(entries)

    folders = {name.split("/")[0] for name in names}
    assert len({_caseless(name) for name in names}) == len(names)
    assert len({_caseless(folder) for folder in folders}) == len({folder for folder, _ in entries})
    assert _caseless(MANIFEST) not in {_caseless(folder) for folder in folders}
    for name in names:
        parts = name.split("/")
        assert len(parts) == 2
        for part in parts:
            assert 0 < len(part.encode()) <= 255
            assert len(unicodedata.normalize("NFD", part).encode("utf-16-le")) <= 2 * 255
            assert part == unicodedata.normalize("NFC", part)
            assert not part.endswith((" ", "."))
            assert not any(c in '<>:"\\|?*' or ord(c) < 32 for c in part)
            assert part.split(".")[0].rstrip(" ").upper() not in _RESERVED
