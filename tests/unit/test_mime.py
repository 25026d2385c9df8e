"""A message as SES receives it, read back by the standard library's parser as a mail program
would: its parts, the attachment, the headers SES reads (and strips), the encoded subject."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from uuid import UUID

from exam_depository.adapters.mail import mime
from exam_depository.domain.messages import InvitationFacts, Rendered
from exam_depository.domain.statuses import MessageKind

from tests.unit.test_messages import TOKEN, VERIFICATION, exam, invitation, receipt, rendered

MESSAGE_ID = UUID("3f6c1e2a-8b4d-4c7e-9a1f-2d5b7e9c0a13")
SENDER = "exams@exam-depository.test"


def raw_of(message: Rendered, *, kind: MessageKind = "invitation", configuration_set: str = "exam-depository") -> bytes:
    return mime(
        message,
        sender=SENDER,
        sender_name="Exam Depository",
        to="mary-ann@example.org",
        message_id=MESSAGE_ID,
        kind=kind,
        configuration_set=configuration_set,
    )


def parsed(raw: bytes) -> EmailMessage:
    return BytesParser(policy=default).parsebytes(raw)


def test_an_invitation_is_text_and_html_as_alternatives() -> None:
    message = rendered(invitation())
    mail = parsed(raw_of(message))

    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n") == message.html
    assert list(mail.iter_attachments()) == []


def test_a_receipt_carries_its_signed_receipt_as_an_attachment() -> None:
    mail = parsed(raw_of(rendered(receipt()), kind="receipt"))

    assert mail.get_content_type() == "multipart/mixed"
    body, attachment = mail.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert attachment.get_content_type() == "application/jose"
    assert attachment.get_filename() == f"receipt-{VERIFICATION}.jwt"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content() == TOKEN.encode("ascii")
    assert mail.get_body(("plain",)) is not None


def test_the_headers_ses_reads_name_the_set_and_tag_the_message() -> None:
    mail = parsed(raw_of(rendered(receipt()), kind="receipt", configuration_set="exam-depository-prod"))

    assert mail["X-SES-CONFIGURATION-SET"] == "exam-depository-prod"
    assert mail["X-SES-MESSAGE-TAGS"] == f"message={MESSAGE_ID}, kind=receipt"
    # SES's tag syntax: name=value pairs, each of letters, digits, _ and -.
    pairs = [pair.strip().split("=") for pair in str(mail["X-SES-MESSAGE-TAGS"]).split(",")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for pair in pairs for part in pair)
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Content-Language"] == "en"
    assert mail["To"] == "mary-ann@example.org"
    assert mail["From"].addresses[0].display_name == "Exam Depository"
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert mail["Date"] is not None
    assert mail["Message-ID"] is None  # SES gives each message its own


def test_without_a_configuration_set_no_header_names_one() -> None:
    assert parsed(raw_of(rendered(invitation()), configuration_set=""))["X-SES-CONFIGURATION-SET"] is None


def test_a_subject_with_umlauts_is_encoded_and_reads_back() -> None:
    facts = InvitationFacts(
        exam("de", title="Prüfung Mathematik für Ärztinnen"), "Jürgen", "Groß", "7K3MQ9TXABCDEFGH1234"
    )
    message = rendered(facts)
    raw = raw_of(message)

    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0].lower()
    mail = parsed(raw)
    assert mail["Subject"] == "Prüfung Mathematik für Ärztinnen: Ihr Link zum Hochladen"
    text = mail.get_body(("plain",))
    assert text is not None
    assert "Guten Tag Jürgen," in text.get_content()


def test_the_bytes_are_ascii_with_crlf_and_short_lines() -> None:
    raw = raw_of(rendered(receipt("fr")), kind="receipt")

    raw.decode("ascii")  # quoted-printable and base64: nothing 8-bit for a relay to mangle
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 78


def test_a_sender_name_with_umlauts_is_encoded() -> None:
    raw = mime(
        rendered(invitation()),
        sender=SENDER,
        sender_name="Prüfungsamt",
        to="mary-ann@example.org",
        message_id=MESSAGE_ID,
        kind="invitation",
        configuration_set="",
    )

    assert parsed(raw)["From"].addresses[0].display_name == "Prüfungsamt"
    raw.decode("ascii")
