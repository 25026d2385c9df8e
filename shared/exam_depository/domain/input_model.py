"""What every request model shares: its base (frozen, no field it does not know), the check a
name people read goes through, an instant, the patterns of a nickname and an exam id, and a
validation error in words. A module of its own so that a function taking one audience's input
loads that audience's models alone (`domain.exam_inputs`, `domain.inputs` for rosters,
`domain.member_inputs`). No I/O."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from exam_depository.domain.characters import invisible_characters, unstorable


def shown_as_written(value: str) -> str:
    """A name people read must show what it is: no control characters, and no invisible
    formatting ones (bidi controls can make a name read as another)."""
    if unstorable(value):
        raise ValueError("must not contain control characters")
    invisible = invisible_characters(value)
    if invisible:
        raise ValueError(f"must not contain invisible formatting characters ({', '.join(invisible)})")
    return value


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


NICKNAME_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
EXAM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

_EARLIEST, _LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2999, 12, 31, tzinfo=UTC)


def _in_utc(value: datetime) -> datetime:
    """Every instant is stored and sent in UTC; the exam's time zone is for display only. The
    range keeps every sum made later (a cut-off from a due time) far from datetime's limits."""
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must be between 1970 and 2999")
    return value.astimezone(UTC)


# An instant a client gives must carry its offset (RFC 3339): a bare local time is ambiguous.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


# What a pattern means, for the person whose value did not match it.
_PATTERN_MEANINGS = {
    NICKNAME_PATTERN: "use 1 to 32 letters, digits, '.', '_' or '-' (no spaces)",
    EXAM_ID_PATTERN: "use lowercase letters, digits and '-', at most 63, starting with a letter or digit",
}


def readable(error: Mapping[str, Any]) -> str:
    """A validation error of pydantic's in words a person fixing a form or a CSV row acts on."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind == "string_pattern_mismatch" and context.get("pattern") in _PATTERN_MEANINGS:
        return _PATTERN_MEANINGS[context["pattern"]]
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if kind == "missing":
        return "is required"
    return str(error.get("msg", "invalid"))
