"""Filenames as students' browsers send them, and as downloads serve them."""

from __future__ import annotations

import uuid

import pytest
from exam_depository.domain.characters import invisible_characters
from exam_depository.domain.filenames import (
    MAX_FILENAME,
    attachment_disposition,
    client_filename,
    object_key,
    served_content_type,
    upload_folder,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C:\\fakepath\\answer.pdf", "answer.pdf"),
        ("../../etc/passwd", "passwd"),
        ("a/", "answer"),
        (".", "answer"),
        ("..", "answer"),
        ("...", "answer"),
        ("Zoe\u0308.txt", "Zoë.txt"),
        ("answers\u202efdp.exe", "answersfdp.exe"),
        ("\u2066hidden\u2069.pdf", "hidden.pdf"),
        ("نامه\u200cها.pdf", "نامه\u200cها.pdf"),
    ],
    ids=["windows path", "traversal", "trailing slash", "dot", "dot dot", "dots", "NFC", "RLO", "isolates", "ZWNJ"],
)
def test_client_filenames_lose_paths_invisible_controls_and_bare_dots(raw: str, expected: str) -> None:
    assert client_filename(raw) == expected


def test_a_long_filename_is_shortened_keeping_its_extension() -> None:
    shortened = client_filename("Réponse " * 40 + ".docx")
    assert len(shortened) == MAX_FILENAME
    assert shortened.startswith("Réponse Réponse")
    assert shortened.endswith("Rép.docx")
    assert client_filename("x" * 300) == "x" * MAX_FILENAME
    assert client_filename("a" * 199 + ".pdf") == "a" * 196 + ".pdf"


def test_invisible_characters_are_named_by_code_point() -> None:
    assert invisible_characters("Ann\u202eLee") == ["U+202E"]
    assert invisible_characters("Zoë Łukasiewicz") == []
    assert invisible_characters("نامه\u200cها") == []


def test_object_keys_are_chosen_by_the_server_and_unique_per_upload() -> None:
    upload_id = uuid.UUID("0f8e2a4c-3b1d-4e5f-9a6b-7c8d9e0f1a2b")
    key = object_key("submissions/", upload_id, "my answers.pdf")
    assert key == f"submissions/{upload_id}/my answers.pdf"
    assert object_key("submissions/", upload_id, "a\\b\x01") == f"submissions/{upload_id}/a_b_"
    assert upload_folder(key) == f"submissions/{upload_id}/"


@pytest.mark.parametrize(
    ("filename", "fallback"),
    [
        ('Réponses "finales"; v2.pdf', "Reponses _finales__ v2.pdf"),
        ("名前.pdf", "answer.pdf"),
        ("名前 final.pdf", "__ final.pdf"),
        ("50%20off.pdf", "50_20off.pdf"),
        ("answer", "answer"),
    ],
)
def test_the_ascii_fallback_of_content_disposition_is_meaningful(filename: str, fallback: str) -> None:
    header = attachment_disposition(filename)
    assert header.startswith(f'attachment; filename="{fallback}"; ')
    assert header.isascii()


def test_content_disposition_carries_the_exact_name_in_rfc_5987_form() -> None:
    header = attachment_disposition('Réponses "finales"; v2.pdf')
    assert header.endswith("filename*=UTF-8''R%C3%A9ponses%20%22finales%22%3B%20v2.pdf")


@pytest.mark.parametrize(
    ("recorded", "served"),
    [
        ("application/pdf", "application/pdf"),
        ("text/plain", "text/plain"),
        ("application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-word.document.macroenabled.12"),
        ("text/html", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/xml", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
    ],
)
def test_types_a_browser_would_render_or_run_are_served_as_bytes(recorded: str, served: str) -> None:
    assert served_content_type(recorded) == served
