"""The words of the student's and the reviewer's pages: every catalogue has exactly the keys of
English, with the same placeholders; every key the pages use is in English, and every English key
is used; the English the HTML carries before its catalogue arrives is the catalogue's own. The
console reads English, but the words of its team parts (roles, members, invitations, the audit
log; the accepted types of file, the malware checks and the release) are catalogued too: its scripts
keep them by key, as the catalogue's English."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import get_args

import pytest
from exam_depository.domain.access import Role
from exam_depository.domain.audit import AuditAction
from exam_depository.domain.content_types import FOUND_NAMES, KINDS
from exam_depository.domain.mail import SkipReason
from exam_depository.domain.statuses import MessageKind, MessageState, ScanState

from tests.conftest import ROOT

STATIC = ROOT / "functions" / "serve_pages" / "static"
CATALOGUES = STATIC / "i18n"
PAGES = ("upload.html", "verify.html")
# The scripts whose words come from the catalogues (retry.js speaks on both pages).
SCRIPTS = ("upload.js", "verify.js", "i18n.js", "retry.js")
# The console's scripts that keep their words by key (team.js: members, invitations, the audit log;
# files.js: accepted types, malware checks, release; mail.js: codes by email, addresses, the emails' states;
# lti.js: a teacher's landing from their course, the deep-link picker, an exam's courses, LMS connections).
CONSOLE_SCRIPTS = ("examiner.js", "team.js", "files.js", "mail.js", "lti.js")
# The console's HTML buttons that open the team parts, by their keys.
CONSOLE_BUTTONS = {"join-exam": "team.join.open", "open-members": "team.members.open", "open-audit": "team.audit.open"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(language: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((CATALOGUES / f"{language}.json").read_text())
    return loaded


def languages() -> list[str]:
    return sorted(path.stem for path in CATALOGUES.glob("*.json"))


def catalogue_problems(english: dict[str, str], other: dict[str, str]) -> list[str]:
    """What is wrong with a translation of `english`: a key missing or extra, an empty text, a
    placeholder missing or extra."""
    problems = [f"missing {key}" for key in english.keys() - other.keys()]
    problems += [f"extra {key}" for key in other.keys() - english.keys()]
    for key in english.keys() & other.keys():
        if not isinstance(other[key], str) or not other[key].strip():
            problems.append(f"empty {key}")
        elif set(PLACEHOLDER.findall(other[key])) != set(PLACEHOLDER.findall(english[key])):
            problems.append(f"placeholders of {key}")
    return sorted(problems)


def test_the_check_finds_a_missing_an_extra_an_empty_key_and_a_lost_placeholder() -> None:
    english = {"a": "One {count}", "b": "Two", "c": "Three"}
    translated = {"a": "Eins", "b": " ", "d": "Vier"}

    assert catalogue_problems(english, translated) == ["empty b", "extra d", "missing c", "placeholders of a"]


def test_there_are_english_german_and_french() -> None:
    assert languages() == ["de", "en", "fr"]


@pytest.mark.parametrize("language", ["de", "fr"])
def test_each_catalogue_has_exactly_the_keys_of_english_with_the_same_placeholders(language: str) -> None:
    assert catalogue_problems(catalogue("en"), catalogue(language)) == []


# --- the keys the pages use ---------------------------------------------------------------------


def namespaces() -> set[str]:
    return {key.split(".")[0] for key in catalogue("en")}


def keys_in_scripts() -> set[str]:
    """Every string literal of the scripts that names a key (`"upload.done"`): keys are passed as
    literals, never put together, so that this finds each of them."""
    prefixes = "|".join(sorted(namespaces()))
    literal = re.compile(rf"""["'`]((?:{prefixes})\.[a-z0-9._-]+)["'`]""")
    return {key for name in (*SCRIPTS, *CONSOLE_SCRIPTS) for key in literal.findall((STATIC / name).read_text())}


def plurals_in_scripts() -> set[str]:
    return {key for name in SCRIPTS for key in re.findall(r"""plural\(\s*"([^"]+)\"""", (STATIC / name).read_text())}


class _Words(HTMLParser):
    """Each `data-i18n` element's key and its English as the HTML writes it (a `data-slot` child as
    its `{name}`)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None, list[str]]] = []  # (tag, key, text so far)
        self._slot_depth: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "meta", "link", "br", "img"):
            return
        if found.get("data-slot") and self._open and self._slot_depth is None:
            self._open[-1][2].append(f"{{{found['data-slot']}}}")
            self._slot_depth = len(self._open)
        self._open.append((tag, found.get("data-i18n"), []))

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            return
        _, key, text = self._open.pop()
        if self._slot_depth is not None and len(self._open) == self._slot_depth:
            self._slot_depth = None
            return
        if key:
            self.texts.setdefault(key, []).append(" ".join("".join(text).split()))
        elif self._open and self._slot_depth is None:
            self._open[-1][2].extend(text)

    def handle_data(self, data: str) -> None:
        if self._open and self._slot_depth is None:
            self._open[-1][2].append(data)


def words_of(page: str) -> _Words:
    parser = _Words()
    parser.feed((STATIC / page).read_text())
    return parser


def test_every_key_the_pages_use_is_in_english() -> None:
    english = catalogue("en")
    used = keys_in_scripts() | {key for page in PAGES for key in words_of(page).texts}

    assert sorted(key for key in used if key not in english and f"{key}.other" not in english) == []
    assert plurals_in_scripts(), "the pages count in plurals"
    assert all(f"{key}.other" in english for key in plurals_in_scripts())


def test_every_english_key_is_used() -> None:
    used = keys_in_scripts() | {key for page in PAGES for key in words_of(page).texts} | set(CONSOLE_BUTTONS.values())
    plural_forms = {
        f"{base}.{form}" for base in plurals_in_scripts() for form in ("zero", "one", "two", "few", "many", "other")
    }

    assert sorted(set(catalogue("en")) - used - plural_forms) == []


@pytest.mark.parametrize("page", PAGES)
def test_the_english_a_page_carries_before_its_catalogue_arrives_is_the_catalogues(page: str) -> None:
    english = catalogue("en")
    texts = words_of(page).texts

    assert texts, "the page names its keys"
    assert {key: sorted(set(found)) for key, found in texts.items()} == {key: [english[key]] for key in texts}


def test_the_retry_words_the_console_reads_are_the_english_catalogues() -> None:
    script = (STATIC / "retry.js").read_text()
    table = dict(re.findall(r'^\s*"(retry\.[a-z.-]+)": "([^"]*)",$', script, flags=re.MULTILINE))

    assert table, "retry.js keeps its English by key"
    english = catalogue("en")
    assert table == {key: english[key] for key in english if key.startswith("retry.")}


def console_team_words() -> dict[str, str]:
    """The team words the console keeps by key (`"team.you": "You"` in its scripts' tables), and
    the English of the HTML buttons that open them."""
    pair = re.compile(r'"(team\.[a-z0-9._-]+)": "([^"]*)"')
    found = {key: text for name in CONSOLE_SCRIPTS for key, text in pair.findall((STATIC / name).read_text())}
    html = (STATIC / "examiner.html").read_text()
    for element, key in CONSOLE_BUTTONS.items():
        button = re.search(rf'id="{element}"[^>]*>([^<]*)</button>', html)
        assert button is not None, element
        found[key] = button.group(1)
    return found


def test_the_consoles_team_words_are_the_english_catalogues() -> None:
    english = catalogue("en")
    words = console_team_words()

    assert len(words) > 100, "the console keeps its team words by key"
    assert words == {key: text for key, text in english.items() if key.startswith("team.")}


def test_the_console_names_every_role_and_says_every_audit_action_in_words() -> None:
    english = catalogue("en")

    assert sorted(key.removeprefix("team.role.") for key in english if key.startswith("team.role.")) == sorted(Role)
    said = sorted(key.removeprefix("team.action.") for key in english if key.startswith("team.action."))
    assert said == sorted(AuditAction)


def test_the_language_switch_offers_every_catalogue() -> None:
    offered = re.search(r"const LANGUAGES = \{([^}]*)\}", (STATIC / "i18n.js").read_text())
    assert offered is not None
    assert sorted(re.findall(r"(\w+):", offered.group(1))) == languages()


def test_no_catalogue_holds_html() -> None:
    for language in languages():
        assert [key for key, text in catalogue(language).items() if re.search(r"<\w|&\w+;", text)] == []


def test_the_consoles_file_words_are_the_english_catalogues() -> None:
    pair = re.compile(r'"(files\.[a-z0-9._-]+)": "([^"]*)"')
    words = dict(pair.findall((STATIC / "files.js").read_text()))

    assert words, "files.js keeps its words by key"
    assert words == {key: text for key, text in catalogue("en").items() if key.startswith("files.")}


def test_the_consoles_mail_words_are_the_english_catalogues_and_name_every_state() -> None:
    pair = re.compile(r'"(mail\.[a-z0-9._-]+)": "([^"]*)"')
    words = dict(pair.findall((STATIC / "mail.js").read_text()))

    assert words, "mail.js keeps its words by key"
    assert words == {key: text for key, text in catalogue("en").items() if key.startswith("mail.")}
    assert sorted(key.removeprefix("mail.state.") for key in words if key.startswith("mail.state.")) == sorted(
        [*get_args(MessageState), "none"]
    )
    assert sorted(key.removeprefix("mail.kind.") for key in words if key.startswith("mail.kind.")) == sorted(
        get_args(MessageKind)
    )
    skipped = sorted(key.removeprefix("mail.skipped.") for key in words if key.startswith("mail.skipped."))
    assert skipped == sorted(reason for reason in get_args(SkipReason) if reason != "receipts_off")


def test_every_kind_every_found_type_and_every_scan_state_is_said_in_words() -> None:
    english = catalogue("en")
    upload = (STATIC / "upload.js").read_text()
    files = (STATIC / "files.js").read_text()

    # The student's page names what a file was found to be, and each kind, in a sentence
    assert sorted(key.removeprefix("upload.found.") for key in english if key.startswith("upload.found.")) == sorted(
        FOUND_NAMES
    )
    assert all(f'"upload.found.{code}"' in upload for code in FOUND_NAMES)
    assert sorted(key.removeprefix("kind.") for key in english if key.startswith("kind.")) == sorted(KINDS)
    # The console offers every kind, and names every scan state
    assert sorted(key.removeprefix("files.kind.") for key in english if key.startswith("files.kind.")) == sorted(KINDS)
    assert all(f'"files.scan.{state}"' in files for state in get_args(ScanState))
    assert all(f"scan.{state}" in english for state in get_args(ScanState))


def test_the_consoles_lms_words_are_the_english_catalogues_and_the_upload_pages_are_its_own() -> None:
    pair = re.compile(r'"(lti\.[a-z0-9._-]+)": "([^"]*)"')
    words = dict(pair.findall((STATIC / "lti.js").read_text()))
    english = catalogue("en")

    assert words, "lti.js keeps its words by key"
    assert words == {key: text for key, text in english.items() if key.startswith("lti.") and ".upload." not in key}
    # The upload page reads its LMS words from the catalogues, in the student's language.
    upload = keys_in_scripts() | set(words_of("upload.html").texts)
    assert sorted(key for key in english if key.startswith("lti.upload.")) == sorted(
        key for key in upload if key.startswith("lti.upload.")
    )
