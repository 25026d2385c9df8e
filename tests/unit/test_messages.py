"""The messages to students: each kind in each language, the same facts in the text and the HTML,
the upload link in the fragment, no code in a subject, escaping, and complete catalogues."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import get_args

import pytest
from exam_depository.domain.content_types import FOUND_NAMES
from exam_depository.domain.messages import (
    LANGUAGES,
    RECEIPT_MEDIA_TYPE,
    ExamFacts,
    InvitationFacts,
    MessageFacts,
    ReceiptFacts,
    RejectionFacts,
    Rendered,
    load_catalogues,
    render,
    upload_link,
)
from exam_depository.domain.statuses import RejectionReason

UPLOAD_PAGE = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/"
VERIFY_PAGE = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/verify"
CODE = "7K3MQ9TXABCDEFGH1234"
SHOWN_CODE = "7K3M-Q9TX-ABCD-EFGH-1234"
VERIFICATION = "VX9K-2M4N-P6Q8-R1S3-T5W7"
TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJleGFtIjoicGh5c2ljcyJ9.c2lnbmF0dXJl"


def exam(language: str = "en", **changes: object) -> ExamFacts:
    facts = ExamFacts(
        title="Physics, December 2026",
        opens_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        due_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        cutoff_at=datetime(2026, 12, 7, 10, 15, tzinfo=UTC),
        timezone="Europe/Berlin",
        language=language,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def invitation(language: str = "en") -> InvitationFacts:
    return InvitationFacts(exam(language), first_name="Mary-Ann", last_name="O'Brien", upload_code=CODE)


def receipt(language: str = "en") -> ReceiptFacts:
    return ReceiptFacts(
        exam(language),
        first_name="Mary-Ann",
        filename="answers final.pdf",
        size_bytes=180_224,
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        submitted_at=datetime(2026, 12, 7, 9, 58, tzinfo=UTC),
        late=False,
        verification_code=VERIFICATION,
        receipt=TOKEN,
        attempt=2,
        max_attempts=3,
        replaces=("draft.pdf", datetime(2026, 12, 7, 9, 30, tzinfo=UTC)),
    )


def rejection(language: str = "en", reason: RejectionReason = "wrong-type") -> RejectionFacts:
    return RejectionFacts(
        exam(language),
        first_name="Mary-Ann",
        filename="setup.exe",
        reason=reason,
        found="windows-program",
        attempts_left=2,
    )


def rendered(facts: MessageFacts) -> Rendered:
    return render(facts, upload_page_url=UPLOAD_PAGE, verify_page_url=VERIFY_PAGE, catalogues=load_catalogues())


KINDS: dict[str, Callable[[str], MessageFacts]] = {"invitation": invitation, "receipt": receipt, "rejection": rejection}


class _Visible(HTMLParser):
    """What a reader sees of the HTML, in order, with each link's target after its text; the
    <title> left out (it is the subject)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hrefs: list[str] = []
        self._pending_href: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"
        if tag == "a":
            self._pending_href = dict(attrs)["href"]
            self.hrefs.append(self._pending_href or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._pending_href is not None:
            self.parts.append(self._pending_href)
            self._pending_href = None
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if not self._in_title:
            self.parts.append(data)


def visible(html: str) -> _Visible:
    parser = _Visible()
    parser.feed(html)
    return parser


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_in_each_language_with_the_same_words_in_text_and_html(kind: str, language: str) -> None:
    message = rendered(KINDS[kind](language))

    assert message.language == language
    assert f'<html lang="{language}">' in message.html
    assert "Physics, December 2026" in message.subject
    assert "Mary-Ann" in message.text
    # One set of blocks makes both parts: a reader of either gets the same words in the same order.
    assert words(message.text) == words(" ".join(visible(message.html).parts))
    # Prose wraps at 80 columns; only a line holding a long token (a link, a SHA-256) is longer.
    assert all(len(line) <= 80 or max(map(len, line.split())) > 40 for line in message.text.splitlines())
    if language != "en":
        assert message.text != rendered(KINDS[kind]("en")).text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_no_subject_holds_a_code(kind: str, language: str) -> None:
    subject = rendered(KINDS[kind](language)).subject

    for code in (CODE, SHOWN_CODE, VERIFICATION, VERIFICATION.replace("-", "")):
        assert code not in subject
    assert not re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", subject)


def test_the_invitation_links_to_the_upload_page_with_the_code_in_the_fragment() -> None:
    message = rendered(invitation())
    link = f"{UPLOAD_PAGE}#code={SHOWN_CODE}"

    assert upload_link(UPLOAD_PAGE, CODE) == link
    assert upload_link(UPLOAD_PAGE, SHOWN_CODE.lower()) == link  # as typed: the code as shown
    assert upload_link(UPLOAD_PAGE + "#old", CODE) == link
    # The link alone on its line in the text, the one link of the HTML.
    assert link in message.text.splitlines()
    assert visible(message.html).hrefs == [link]
    assert f"    {SHOWN_CODE}" in message.text.splitlines()  # the code to type, on its own line
    assert "Open my upload page" in message.text
    assert "The exam opens Monday 7 December 2026, 09:00; hand in by Monday 7 December 2026, 11:00; late uploads" in (
        " ".join(message.text.split())
    )
    assert "(Europe/Berlin)" in message.text


def test_an_exam_without_a_late_period_says_no_late_uploads() -> None:
    facts = replace(invitation(), exam=exam(cutoff_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC)))

    text = " ".join(rendered(facts).text.split())

    assert "hand in by Monday 7 December 2026, 11:00 (Europe/Berlin)." in text
    assert "late uploads" not in text


def test_times_are_written_in_the_exam_zone_in_the_exam_language() -> None:
    de = " ".join(rendered(invitation("de")).text.split())
    fr = " ".join(rendered(invitation("fr")).text.split())

    assert "am Montag, 7. Dezember 2026, 09:00 Uhr" in de
    assert "lundi 7 décembre 2026 à 09 h 00" in fr
    summer = replace(
        invitation(), exam=exam(timezone="America/New_York", due_at=datetime(2026, 7, 1, 16, 5, tzinfo=UTC))
    )
    assert "Wednesday 1 July 2026, 12:05" in " ".join(rendered(summer).text.split())


def test_the_receipt_states_the_file_and_attaches_the_signed_receipt() -> None:
    message = rendered(receipt())
    text = " ".join(message.text.split())

    assert message.subject == "Physics, December 2026: received answers final.pdf"
    assert "Handed in on time." in text
    for fact in (
        "answers final.pdf",
        "176 KiB",
        receipt().sha256,
        "Monday 7 December 2026, 10:58 (Europe/Berlin)",
        "2 of 3",
        VERIFICATION,
    ):
        assert fact in text
        assert fact in " ".join(visible(message.html).parts)
    assert "This replaces draft.pdf handed in at Monday 7 December 2026, 10:30; only this file counts." in text
    assert f"receipt-{VERIFICATION}.jwt" in text
    assert VERIFY_PAGE in text
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.media_type, attachment.data) == (
        f"receipt-{VERIFICATION}.jwt",
        RECEIPT_MEDIA_TYPE,
        TOKEN.encode("ascii"),
    )
    late = rendered(replace(receipt(), late=True, replaces=None))
    assert "Handed in late." in late.text
    assert "replaces" not in late.text


@pytest.mark.parametrize(
    ("size", "language", "shown"),
    [(500, "en", "500 bytes"), (180_224, "en", "176 KiB"), (2_621_440, "en", "2.5 MiB"), (2_621_440, "de", "2,5 MiB")],
)
def test_sizes_in_words(size: int, language: str, shown: str) -> None:
    assert shown in rendered(replace(receipt(language), size_bytes=size)).text


@pytest.mark.parametrize("reason", get_args(RejectionReason))
def test_each_rejection_says_why_in_each_language(reason: RejectionReason) -> None:
    catalogues = load_catalogues()
    for language in LANGUAGES:
        message = rendered(rejection(language, reason))
        said = catalogues[language][f"mail.rejected.{reason}"].format(
            found=catalogues[language]["mail.found.windows-program"]
        )
        assert said in " ".join(message.text.split())
    assert rendered(rejection("en", "too_large")).subject == "Physics, December 2026: setup.exe was not handed in"


def test_a_wrong_type_names_what_was_found_and_what_is_left() -> None:
    assert "This file is a Windows program" in rendered(rejection()).text
    assert "You have 2 uploads left." in rendered(rejection()).text
    assert "You have 1 upload left." in rendered(replace(rejection(), attempts_left=1)).text
    assert "You have no uploads left." in rendered(replace(rejection(), attempts_left=0)).text
    unknown = rendered(replace(rejection(), found=None)).text
    assert "a file of a type we do not recognise" in " ".join(unknown.split())


def test_html_escapes_every_value() -> None:
    hostile = replace(
        invitation(),
        first_name="<script>alert(1)</script>",
        exam=exam(title='Physics & "Chemistry" <b>'),
    )
    message = rendered(hostile)

    assert "<script>" not in message.html
    assert "<b>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "Physics &amp; &quot;Chemistry&quot; &lt;b&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text  # the text part is text: nothing to escape
    hostile_link = render(
        invitation(),
        upload_page_url='https://x.test/"onmouseover="x',
        verify_page_url=VERIFY_PAGE,
        catalogues=load_catalogues(),
    )
    assert 'href="https://x.test/&quot;onmouseover=&quot;x#code=' in hostile_link.html


def test_a_subject_is_one_line() -> None:
    message = rendered(replace(receipt(), filename="a\r\nBcc: x@example.org.pdf"))

    assert message.subject == "Physics, December 2026: received a Bcc: x@example.org.pdf"


def test_nothing_in_the_html_loads_from_elsewhere() -> None:
    for kind in KINDS.values():
        html = rendered(kind("en")).html
        for remote_or_active in ("<img", "<link", "<script", "url(", "<style"):  # inline styles only
            assert remote_or_active not in html


def test_a_missing_key_is_said_in_english() -> None:
    catalogues = load_catalogues()
    german = {key: value for key, value in catalogues["de"].items() if key != "mail.invitation.keep"}

    message = render(
        invitation("de"),
        upload_page_url=UPLOAD_PAGE,
        verify_page_url=VERIFY_PAGE,
        catalogues={"en": catalogues["en"], "de": german},
    )

    assert catalogues["en"]["mail.invitation.keep"] in message.text
    assert "Guten Tag Mary-Ann," in message.text
    assert rendered(replace(invitation(), exam=exam(language="xx"))).language == "en"


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_catalogues_are_complete_and_agree_on_placeholders() -> None:
    catalogues = load_catalogues()
    english = catalogues["en"]

    for language in LANGUAGES:
        assert set(catalogues[language]) == set(english), language
        for key, template in catalogues[language].items():
            assert template.strip(), (language, key)
            assert _placeholders(template) == _placeholders(english[key]), (language, key)
    assert {f"mail.found.{code}" for code in FOUND_NAMES} <= set(english)
    assert {f"mail.rejected.{reason}" for reason in get_args(RejectionReason)} <= set(english)
    assert {f"mail.weekday.{day}" for day in range(7)} | {f"mail.month.{month}" for month in range(1, 13)} <= set(
        english
    )


def test_a_greeting_without_a_first_name() -> None:
    assert rendered(replace(invitation(), first_name=" ")).text.startswith("Hello,\n")


def test_a_time_past_midnight_in_the_exam_zone_is_the_next_day() -> None:
    facts = replace(invitation(), exam=exam(due_at=datetime(2026, 12, 7, 23, 30, tzinfo=UTC)))

    assert "hand in by Tuesday 8 December 2026, 00:30" in " ".join(rendered(facts).text.split())
