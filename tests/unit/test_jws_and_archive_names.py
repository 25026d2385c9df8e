"""The plain parts of receipts and exports: JWS pieces, KMS's DER signatures, names in a ZIP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from exam_depository.adapters import signing
from exam_depository.domain import jws
from exam_depository.domain.filenames import MANIFEST, archive_names, archive_part
from hypothesis import given, settings
from hypothesis import strategies as st


def _key() -> tuple[ec.EllipticCurvePrivateKey, jws.PublicKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, jws.public_key(spki)


def _signer(private: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    """What signing.sign does with KMS's answer, with a local key: DER, then r || s."""
    return lambda message: signing.raw_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))


def _b64(value: object) -> str:
    """base64url without padding, of bytes or of a value's JSON."""
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_kms_der_signature_becomes_the_jws_r_and_s_and_verifies() -> None:
    private, key = _key()
    signed: list[bytes] = []

    def signer(message: bytes) -> bytes:
        signed.append(message)
        return _signer(private)(message)

    for _ in range(50):  # DER integers are 32 or 33 bytes, or shorter: each must come out as 32
        token = jws.sign(key, {"a": "é"}, signer)
        der = private.sign(signed[-1], ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        assert signing.raw_signature(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert jws.verify(jws.parse(token), {key.kid: key.jwk}) == {"a": "é"}
    # The signing input is the receipts' as ever: this header, the claims' compact UTF-8 JSON.
    header, claims, _ = token.split(".")
    assert signed[-1] == f"{header}.{claims}".encode()
    assert base64.urlsafe_b64decode(header + "==") == f'{{"alg":"ES256","kid":"{key.kid}","typ":"JWT"}}'.encode()
    assert base64.urlsafe_b64decode(claims + "==") == '{"a":"é"}'.encode()


def test_a_jwk_and_its_rfc_7638_thumbprint_are_what_the_published_keys_were_named_by() -> None:
    private, key = _key()
    numbers = private.public_key().public_numbers()
    x, y = (_b64(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))

    assert key.jwk == {"kty": "EC", "crv": "P-256", "x": x, "y": y}
    # RFC 7638: SHA-256 of the required members, in this order, without white space.
    members = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'.encode()
    assert key.kid == _b64(hashlib.sha256(members).digest())
    with pytest.raises(ValueError, match="Could not deserialize"):
        jws.public_key(b"\x30" * 91)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="P-256"):
        jws.public_key(p384.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


@given(st.text(max_size=200))
def test_anything_given_as_a_receipt_is_parsed_or_refused_plainly(text: str) -> None:
    if text.count(".") != 2:
        with pytest.raises(jws.NotGenuine, match="three parts"):
            jws.parse(text)
        return
    with pytest.raises(jws.NotGenuine, match=r"\w"):  # never anything but a sentence for people
        jws.parse(text)


# The order of P-256's base point: for an ECDSA signature (r, s), (r, n - s) verifies as well.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _forgeries(token: str, key: jws.PublicKey) -> dict[str, str]:
    """Texts made from a genuine receipt, each of which must be refused."""
    header, claims, signature = token.split(".")
    public_secret = json.dumps(key.jwk).encode()  # algorithm confusion: the public key as an HMAC secret
    hs256_input = f"{_b64({'alg': 'HS256', 'kid': key.kid, 'typ': 'JWT'})}.{claims}"
    hs256 = hmac.new(public_secret, hs256_input.encode(), hashlib.sha256).digest()
    other_private, _ = _key()
    other = _signer(other_private)(f"{header}.{claims}".encode())
    return {
        "claims changed": f"{header}.{_b64({'verification_code': 'K7QX-2M4Q'})}.{signature}",
        "signed by another key under our kid": f"{header}.{claims}.{_b64(other)}",
        "alg none": f"{_b64({'alg': 'none', 'kid': key.kid})}.{claims}.",
        "HS256 with the public key": f"{hs256_input}.{_b64(hs256)}",
        "unknown kid": f"{_b64({'alg': 'ES256', 'kid': 'not-ours', 'typ': 'JWT'})}.{claims}.{signature}",
        "a header parameter added": f"{_b64({'alg': 'ES256', 'kid': key.kid, 'jku': 'https://x'})}.{claims}."
        + signature,
        "signature cut short": f"{header}.{claims}.{signature[:-4]}",
        "oversize": f"{header}.{claims}{'A' * 8192}.{signature}",
        "a header that is a list": f"{_b64(['alg', 'kid'])}.{claims}.{signature}",
        "claims that are a list": f"{header}.{_b64(['a'])}.{signature}",
        "not base64url": f"{header}.{claims}+/.{signature}",
        "four parts": f"{token}.{signature}",
    }


REFUSED = {
    "claims changed": "The signature does not match: the receipt was changed.",
    "signed by another key under our kid": "The signature does not match: the receipt was changed.",
    "alg none": "This is not a receipt of ours: it is not signed with ES256.",
    "HS256 with the public key": "This is not a receipt of ours: it is not signed with ES256.",
    "unknown kid": "No key of this deployment signed it.",
    "a header parameter added": "The signature does not match: the receipt was changed.",
    "signature cut short": "The signature does not match: the receipt was changed.",
    "oversize": "This is far longer than a receipt.",
    "a header that is a list": "This is not a receipt: its parts are not JSON objects.",
    "claims that are a list": "This is not a receipt: its parts are not JSON objects.",
    "not base64url": "This is not a receipt: its parts do not decode.",
    "four parts": "This is not a receipt: a receipt has three parts separated by dots.",
}


@pytest.mark.parametrize("forgery", list(REFUSED))
def test_a_forged_or_malformed_receipt_is_refused_with_its_reason(forgery: str) -> None:
    private, key = _key()
    token = jws.sign(key, {"verification_code": "K7QX-2M4P"}, _signer(private))
    text = _forgeries(token, key)[forgery]

    with pytest.raises(jws.NotGenuine) as refused:
        jws.verify(jws.parse(text), {key.kid: key.jwk})

    assert str(refused.value) == REFUSED[forgery]


@pytest.mark.parametrize("forgery", ["alg none", "HS256 with the public key"])
def test_the_library_refuses_algorithm_confusion_even_where_the_shape_check_is_skipped(forgery: str) -> None:
    private, key = _key()
    token = jws.sign(key, {"a": 1}, _signer(private))

    with pytest.raises(jws.NotGenuine, match="signature does not match"):
        jws.verify(jws.Unverified(_forgeries(token, key)[forgery], key.kid), {key.kid: key.jwk})


def test_the_twin_with_the_other_signature_form_verifies_so_only_the_stored_text_can_tell() -> None:
    # receipts.check compares a receipt with the text issued for its code: this is why.
    private, key = _key()
    token = jws.sign(key, {"a": 1}, _signer(private))
    header, claims, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    twin_signature = raw[:32] + (P256_ORDER - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    twin = f"{header}.{claims}.{_b64(twin_signature)}"

    assert twin != token
    assert jws.verify(jws.parse(twin), {key.kid: key.jwk}) == jws.verify(jws.parse(token), {key.kid: key.jwk})


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
