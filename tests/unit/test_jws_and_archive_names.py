"""The plain parts of receipts and exports: JWS pieces, KMS's DER signatures, names in a ZIP."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from exam_depository import jws, signing
from exam_depository.filenames import archive_names, archive_part
from hypothesis import given
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
