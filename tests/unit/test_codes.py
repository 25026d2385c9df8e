from __future__ import annotations

import math

from exam_depository.domain import codes
from hypothesis import given
from hypothesis import strategies as st


def test_a_code_carries_at_least_100_bits_from_a_32_symbol_alphabet() -> None:
    assert len(set(codes.ALPHABET)) == 32
    assert codes.CODE_LENGTH * math.log2(len(codes.ALPHABET)) >= 100


def test_new_codes_are_canonical_and_distinct() -> None:
    generated = {codes.new_code() for _ in range(2000)}
    assert len(generated) == 2000
    assert all(codes.normalize(code) == code for code in generated)


@given(st.text(alphabet=codes.ALPHABET, min_size=20, max_size=20))
def test_typing_a_code_loosely_finds_the_same_code(code: str) -> None:
    shown = codes.display(code)
    assert codes.normalize(shown) == code
    assert codes.normalize(shown.lower()) == code
    assert codes.normalize(" " + shown.replace("-", " ") + " ") == code


def test_lookalike_letters_are_read_as_digits() -> None:
    assert codes.normalize("O1IL-0000-0000-0000-0000") == "0111" + "0" * 16


@given(st.text(max_size=60))
def test_anything_else_is_not_a_code(text: str) -> None:
    result = codes.normalize(text)
    assert result is None or (len(result) == 20 and set(result) <= set(codes.ALPHABET))


def test_display_groups_by_four_and_redaction_hides_the_code() -> None:
    code = "7K3MQ9TX2WFD8HNBC4RZ"
    assert codes.display(code) == "7K3M-Q9TX-2WFD-8HNB-C4RZ"
    assert codes.redact(code) == "7K3M…"


def test_the_local_access_log_never_shows_a_whole_code() -> None:
    from local_stack.gateway import redact_codes

    line = '127.0.0.1 "GET /verifications/Q2RB-M7TZ-3KXD-9WFA-H5NP/download_url HTTP/1.1" 200 -'
    assert redact_codes(line) == '127.0.0.1 "GET /verifications/Q2RB…/download_url HTTP/1.1" 200 -'
    assert redact_codes('"POST /submissions/7k3m%20q9tx HTTP/1.1"') == '"POST /submissions/7k3m… HTTP/1.1"'
    assert redact_codes('"GET /students?limit=5 HTTP/1.1"') == '"GET /students?limit=5 HTTP/1.1"'


def test_every_symbol_can_appear_at_every_place() -> None:
    """The bits are cut 5 to a symbol: a slip (4 bits, a shifted window) leaves symbols unused."""
    generated = [codes.new_code() for _ in range(2000)]
    for place in range(codes.CODE_LENGTH):
        assert {code[place] for code in generated} == set(codes.ALPHABET)
