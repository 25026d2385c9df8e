"""What characters a text a person sends may not hold: control characters and lone surrogates
(nothing can store them), and invisible format characters (a name would not show what it is).
Plain functions, no I/O; apart from `filenames` so that a function that checks names only loads
none of the file names' rules."""

import re
import unicodedata

# Format characters (Unicode category Cf) are invisible, and the bidi controls among them make a
# name show as another (U+202E turns "answers\u202Efdp.exe" into "answersexe.pdf"). Zero-width
# (non-)joiners are kept: Persian, Indic and emoji text need them.
KEPT_FORMAT = frozenset("\u200c\u200d")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def invisible_characters(text: str) -> list[str]:
    """The format characters of `text` that a reader would not see (U+202E...), as code points."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf" and c not in KEPT_FORMAT]


def unstorable(text: str) -> bool:
    """Whether `text` holds a control character or a lone surrogate (JSON can carry one; UTF-8
    cannot store it): no text a client sends (a name, a file name) may. Not one character
    class: with the surrogates' range it took about 0.4 ms to compile, at the cold start of every
    function that loads this module."""
    if _CONTROL.search(text):
        return True
    if text.isascii():
        return False
    try:
        text.encode()  # strict UTF-8 fails on a surrogate code point, and on nothing else
    except UnicodeEncodeError:
        return True
    return False
