"""Receipts: one for every recorded submission, verifiable by a standard JOSE library with the
published keys, refused when changed by one byte, chained to the student's previous receipt, and
checkable with no KMS call at all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from exam_depository import config
from exam_depository.adapters import signing
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from tests.integration.conftest import Api, Bucket

Record = Callable[..., dict[str, Any]]


def _hand_in(api: Api, bucket: Bucket, record: Record, code: str, content: bytes) -> dict[str, Any]:
    form = api.request_upload(code).body
    bucket.upload(form, content)
    record(bucket.notification(form["fields"]["key"], len(content)))
    return dict(api.call("get_upload_status", "by_code", path_params={"upload_code": code}).body)


def _jwks(api: Api) -> dict[str, Any]:
    response = api.call("get_jwks", "keys")
    assert response.status == 200, response.body
    return dict(response.body)


def _check(api: Api, receipt: str) -> dict[str, Any]:
    response = api.call("verify_receipt", "not_a_receipt", body={"receipt": receipt})
    assert response.status == 200, response.body
    return dict(response.body)


def test_every_recorded_submission_has_a_receipt_a_standard_library_verifies(
    api: Api, bucket: Bucket, record: Record
) -> None:
    student = api.create_student()
    content = b"%PDF-1.7 answers"
    progress = _hand_in(api, bucket, record, student["upload_code"], content)
    current = progress["current"]

    keys = jwk.KeySet.import_key_set(cast(Any, _jwks(api)))
    token = jwt.decode(current["receipt"], keys, algorithms=["ES256"])

    claims = token.claims
    assert token.header["alg"] == "ES256"
    assert claims == {
        "iss": "exam-depository-test",
        "iat": claims["iat"],
        "exam": "physics-2026-12",
        "nickname": "mobrien",
        "filename": "answers.pdf",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "sha256_checked_by_s3": False,
        "s3_version": bucket.latest[next(iter(bucket.latest))],
        "submitted_at": current["submitted_at"],
        "late": False,
        "started_at": None,  # an exam without a time limit
        "due_at": progress["exam"]["due_at"],
        "verification_code": current["verification_code"],
        "attempt": 1,
        "attempts": 5,
        "previous_receipt_sha256": None,
    }


def test_each_receipt_names_the_students_previous_one(api: Api, bucket: Bucket, record: Record) -> None:
    student, other = api.create_student("a"), api.create_student("b")
    receipts = [
        _hand_in(api, bucket, record, student["upload_code"], f"v{n}".encode())["current"]["receipt"] for n in range(3)
    ]
    theirs = _hand_in(api, bucket, record, other["upload_code"], b"theirs")["current"]["receipt"]

    chain = [json.loads(base64.urlsafe_b64decode(r.split(".")[1] + "==")) for r in receipts]

    assert chain[0]["previous_receipt_sha256"] is None
    for before, claims, after in zip(receipts, chain[1:], receipts[1:], strict=False):
        assert claims["previous_receipt_sha256"] == hashlib.sha256(before.encode()).hexdigest()
        assert after != before
    assert [claims["attempt"] for claims in chain] == [1, 2, 3]
    assert json.loads(base64.urlsafe_b64decode(theirs.split(".")[1] + "=="))["previous_receipt_sha256"] is None


def test_a_genuine_receipt_says_what_it_states_and_what_became_of_the_file(
    api: Api, bucket: Bucket, record: Record
) -> None:
    student = api.create_student()
    first = _hand_in(api, bucket, record, student["upload_code"], b"first")["current"]
    assert _check(api, first["receipt"]) | {"claims": None} == {
        "genuine": True,
        "reason": None,
        "claims": None,
        "status": "current",
        "scan": None,  # scanning is off here: the file was never scanned
    }

    _hand_in(api, bucket, record, student["upload_code"], b"second")

    checked = _check(api, first["receipt"])
    assert (checked["genuine"], checked["status"]) == (True, "superseded")
    assert checked["claims"]["verification_code"] == first["verification_code"]


def _changed(token: str, part: int, at: int) -> str:
    parts = token.split(".")
    text = parts[part]
    swapped = "A" if text[at] != "A" else "B"
    parts[part] = text[:at] + swapped + text[at + 1 :]
    return ".".join(parts)


@pytest.mark.parametrize(
    ("part", "where"), [(1, 10), (1, 40), (2, 5), (0, 8)], ids=["claims", "claims-2", "signature", "header"]
)
def test_a_receipt_changed_by_one_character_is_refused(
    api: Api, bucket: Bucket, record: Record, part: int, where: int
) -> None:
    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]
    forged = _changed(receipt, part, where)

    checked = _check(api, forged)

    assert checked["genuine"] is False
    assert checked["reason"]
    with pytest.raises((JoseError, ValueError)):
        jwt.decode(forged, jwk.KeySet.import_key_set(cast(Any, _jwks(api))), algorithms=["ES256"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not a receipt at all", "three parts"),
        ("a.b.c", "do not decode"),
        ("W10.W10.AAAA", "not JSON objects"),
        ("eyJhbGciOiJub25lIn0.e30.", "not signed with ES256"),
    ],
)
def test_text_that_is_not_a_receipt_is_told_so_plainly(api: Api, text: str, reason: str) -> None:
    checked = _check(api, text)

    assert checked["genuine"] is False
    assert reason in checked["reason"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_algorithm_confusion_an_unknown_key_and_oversize_text_are_refused(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given a genuine receipt and the published key
    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]
    published = _jwks(api)["keys"][0]
    _, claims, signature = receipt.split(".")

    def header(**fields: str) -> str:
        return _b64(json.dumps(fields).encode())

    # When the claims come with `alg: none`, with HS256 keyed by the public key, under a kid that
    # is not ours, or in text longer than any receipt
    hs256_input = f"{header(alg='HS256', kid=published['kid'], typ='JWT')}.{claims}"
    hs256 = hmac.new(json.dumps(published).encode(), hs256_input.encode(), hashlib.sha256).digest()
    refused = {
        f"{header(alg='none', kid=published['kid'])}.{claims}.": "not signed with ES256",
        f"{hs256_input}.{_b64(hs256)}": "not signed with ES256",
        f"{header(alg='ES256', kid='not-ours', typ='JWT')}.{claims}.{signature}": "No key of this deployment",
        f"{_b64(json.dumps(['alg', 'kid']).encode())}.{claims}.{signature}": "not JSON objects",
    }

    # Then each is refused with its reason
    for text, reason in refused.items():
        checked = _check(api, text)
        assert (checked["genuine"], checked["claims"]) == (False, None), text
        assert reason in checked["reason"], text
    oversize = api.call("verify_receipt", "not_a_receipt", body={"receipt": receipt + "A" * 8192})
    assert oversize.status == 422, oversize.body


def test_checking_receipts_and_the_published_keys_need_no_kms(
    api: Api, bucket: Bucket, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]

    # When KMS cannot be reached at all
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
    config.reset()
    signing.reset()

    # Then the keys are published and a receipt checked from the database's public keys
    assert len(_jwks(api)["keys"]) == 1
    assert _check(api, receipt)["genuine"] is True


def test_a_receipt_signed_by_another_key_is_not_genuine(api: Api, bucket: Bucket, record: Record) -> None:
    import boto3

    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]
    other = boto3.client("kms", region_name="eu-west-1").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    header, claims, _ = receipt.split(".")
    signed = f"{header}.{claims}".encode()
    forged_signature = boto3.client("kms", region_name="eu-west-1").sign(
        KeyId=other["KeyMetadata"]["KeyId"],
        Message=signed,
        MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256",
    )["Signature"]
    forged = (
        f"{header}.{claims}." + base64.urlsafe_b64encode(signing.raw_signature(forged_signature)).rstrip(b"=").decode()
    )

    checked = _check(api, forged)

    assert checked == {
        "genuine": False,
        "reason": "The signature does not match: the receipt was changed.",
        "claims": None,
        "status": None,
        "scan": None,
    }


def test_posting_a_recorded_form_again_leaves_the_receipt_unchanged(api: Api, bucket: Bucket, record: Record) -> None:
    student = api.create_student()
    form = api.request_upload(student["upload_code"]).body
    bucket.upload(form, b"handed in")
    record(bucket.notification(form["fields"]["key"], 9))
    before = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]

    reused = bucket.upload(form, b"swapped later")
    record(bucket.notification(form["fields"]["key"], 13, version_id=reused))

    after = api.call("get_upload_status", "by_code", path_params={"upload_code": student["upload_code"]}).body[
        "current"
    ]
    assert after["receipt"] == before["receipt"]


# The order of P-256's base point: for an ECDSA signature (r, s), (r, n - s) verifies as well.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _twin(token: str) -> str:
    """The same header and claims with the signature's other valid form, (r, n - s)."""
    header, claims, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    other = r + (P256_ORDER - s).to_bytes(32, "big")
    return f"{header}.{claims}." + base64.urlsafe_b64encode(other).rstrip(b"=").decode()


def test_only_the_issued_text_is_genuine_not_its_twin_with_the_other_signature_form(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given a receipt as issued, and its twin: the same claims, the signature (r, n - s)
    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]
    twin = _twin(receipt)
    assert twin != receipt
    # ... which a standard library accepts: ECDSA alone cannot tell the two apart
    keys = jwk.KeySet.import_key_set(cast(Any, _jwks(api)))
    assert jwt.decode(twin, keys, algorithms=["ES256"]).claims == jwt.decode(receipt, keys, algorithms=["ES256"]).claims

    # When both are checked
    original, forged = _check(api, receipt), _check(api, twin)

    # Then only the text that was issued (the one the chain names by its SHA-256) is genuine
    assert (original["genuine"], original["status"]) == (True, "current")
    assert forged == {
        "genuine": False,
        "reason": "The signature holds, but this is not the text that was issued for its verification code: "
        "only the receipt exactly as issued is genuine.",
        "claims": None,
        "status": None,
        "scan": None,
    }


def test_a_receipt_whose_submission_was_deleted_can_no_longer_be_confirmed(
    api: Api, bucket: Bucket, record: Record
) -> None:
    # Given a receipt, and then its student deleted by the examiner (with every submission)
    student = api.create_student()
    receipt = _hand_in(api, bucket, record, student["upload_code"], b"%PDF")["current"]["receipt"]
    deleted = api.call("delete_student", "by_nickname", path_params={"nickname": student["nickname"]})
    assert deleted.status == 204, deleted.body

    # When it is checked
    checked = _check(api, receipt)

    # Then the service says why it cannot confirm it; the signature still holds offline
    assert checked["genuine"] is False
    assert "was deleted" in checked["reason"]
    assert "signature holds" in checked["reason"]
    keys = jwk.KeySet.import_key_set(cast(Any, _jwks(api)))
    assert jwt.decode(receipt, keys, algorithms=["ES256"]).claims["nickname"] == student["nickname"]
