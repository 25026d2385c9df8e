"""A change of students' attempt limits (the exam's `max_attempts`, an extension's extra attempts)
checked against what they used. Apart from `rules` (which every exam and member route loads) so
that only the functions that change a limit define its value type."""

from dataclasses import dataclass

from exam_depository.domain.errors import LimitBelowUsed


@dataclass(frozen=True)
class LimitChange:
    """A student's attempt limit before and after a change of the exam's or of their extension."""

    nickname: str
    attempts_used: int
    limit_before: int
    limit_after: int


def limit_refusal(changes: list[LimitChange]) -> LimitBelowUsed | None:
    """Why a change of attempt limits cannot be made, or None. It is refused when it lowers a
    student's limit below what they already used (rule 1 would no longer hold for them); a
    raise is never refused, whatever was used."""
    below = [
        change
        for change in changes
        if change.limit_after < change.limit_before and change.limit_after < change.attempts_used
    ]
    if not below:
        return None
    names = ", ".join(f"{change.nickname} ({change.attempts_used})" for change in below[:10])
    more = f" and {len(below) - 10} more" if len(below) > 10 else ""
    return LimitBelowUsed(
        f"{len(below)} student(s) already used more attempts than the new limit allows: {names}{more}. "
        "A limit cannot go below what a student used.",
        extra={"students": len(below), "nicknames": [change.nickname for change in below]},
    )
