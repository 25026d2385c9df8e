"""Upload and verification codes: 100 random bits, Crockford base32, shown in groups of four.

Input is tolerant: case, hyphens and spaces are ignored and the letters Crockford treats as
look-alikes (I, L -> 1; O -> 0) are accepted.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20  # 20 symbols x 5 bits = 100 bits
GROUP = 4
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALID = frozenset(ALPHABET)


def new_code() -> str:
    """A fresh code in canonical form (no separators): 100 random bits, 5 to a symbol (one call
    for randomness, not one per symbol: a roster of 5,000 makes 5,000 codes)."""
    bits = secrets.randbits(CODE_LENGTH * 5)
    return "".join(ALPHABET[(bits >> (5 * place)) & 31] for place in range(CODE_LENGTH))


PSEUDONYM_PREFIX = "anon-"
PSEUDONYM_LENGTH = 6  # 30 bits: short enough to read out; unique per exam by a constraint


def new_pseudonym() -> str:
    """A student's name in an anonymous exam (`anon-7K3QX2`): random, so that it tells nothing of
    the student; two students of an exam may draw the same one, which the database refuses (the
    student is then drawn another)."""
    bits = secrets.randbits(PSEUDONYM_LENGTH * 5)
    return PSEUDONYM_PREFIX + "".join(ALPHABET[(bits >> (5 * place)) & 31] for place in range(PSEUDONYM_LENGTH))


def normalize(text: str) -> str | None:
    """The canonical form of what a person typed, or None when it cannot be a code."""
    if len(text) > 2 * CODE_LENGTH:
        return None
    canonical = text.replace("-", "").replace(" ", "").upper().translate(_LOOKALIKES)
    if len(canonical) != CODE_LENGTH or not set(canonical) <= _VALID:
        return None
    return canonical


def display(code: str) -> str:
    """`7K3MQ9TX...` -> `7K3M-Q9TX-...`."""
    # A list, not a generator: a page of 500 students shows 1,000 codes, and this is faster.
    return "-".join([code[i : i + GROUP] for i in range(0, len(code), GROUP)])


def redact(code: str) -> str:
    """What the logs may show of a code: enough to tell two apart, never enough to use."""
    return f"{code[:4]}…"
