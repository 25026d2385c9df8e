"""The malware scan's results: every result of every object version (`object_scan`, kept whether
or not the version is recorded yet: a result may arrive before the recording), and the scan state
they give a submission (`submission.scan`), which gates every download.

`state_of` is the rule of `domain.scans.STATE_OF` in SQL, for the recorder's INSERT, which takes
up a result that came first."""

from __future__ import annotations

from exam_depository.domain.scans import RANK, STATE_OF


def state_of(result_sql: str) -> str:
    """A CASE expression giving the scan state of the result `result_sql` (an SQL expression)."""
    whens = " ".join(f"WHEN '{status}' THEN '{state}'" for status, state in STATE_OF.items())
    return f"(CASE {result_sql} {whens} END)"


def rank(result_sql: str) -> str:
    """The result's place in `domain.scans.RANK` (1-based), in SQL."""
    return f"array_position(ARRAY[{', '.join(repr(status) for status in RANK)}]::text[], {result_sql})"
