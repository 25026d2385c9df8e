"""A student's submissions as the statements of other aggregates inline them: the latest handed-in
one (`LATEST`) and one as a JSON object (`SUBMISSION_JSON`, read as `SubmissionJson`). Apart from
`uploads` and `forms`, whose row types (frozen dataclasses) an examiner's functions, which read
submissions through `exams` and `students`, need not load."""

from __future__ import annotations

from typing import TypedDict

from exam_depository.domain.statuses import ScanState, SubmissionStatus, SubmissionWarning

# A student's latest handed-in submission: the current one, else the newest one that expired.
LATEST = """LEFT JOIN LATERAL (
    SELECT x.* FROM submission x WHERE x.student_id = s.id AND x.status <> 'superseded'
    ORDER BY (x.status = 'current') DESC, x.issue_seq DESC LIMIT 1) latest ON true"""


class SubmissionJson(TypedDict):
    """A submission as the statements that inline one send it (`SUBMISSION_JSON`, a JSON object
    of its columns): the roster's current file and history, a student's own. The upload id and
    the instants arrive as JSON text (ISO 8601 with the offset)."""

    upload_id: str
    verification_code: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    submitted_at: str
    expires_at: str
    status: SubmissionStatus
    late: bool
    due_at: str | None  # what `late` was measured against; null when recorded before it was kept
    receipt: str | None
    scan: ScanState | None  # null: not scanned (recorded before scanning, or scanning off)
    scan_detail: str | None
    scan_released_at: str | None
    found_type: str | None
    warnings: list[SubmissionWarning]
    stands_in: bool  # superseded, and kept and served in place of a current file not downloadable
    earlier_file_kept: bool  # current, not downloadable, and an earlier file stands in for it


def scan_allows(t: str) -> str:
    """Whether the scan of the submission `{t}` lets it be downloaded: `domain.scans.download_refusal`'s
    rule, in SQL (not scanned, clean, or released by the exam's owner; a threat never)."""
    return f"({t}.scan IS NULL OR {t}.scan = 'clean' OR ({t}.scan <> 'threat' AND {t}.scan_released_at IS NOT NULL))"


def found_clean(t: str) -> str:
    """Whether the submission `{t}` was found free of malware, or is not scanned. A file the exam's
    owner released (not scannable, or its result overdue) can be downloaded, but a result or a
    rescan may yet find a threat in it, so the files kept for it stay (`kept_in_place`)."""
    return f"({t}.scan IS NULL OR {t}.scan = 'clean')"


def kept_in_place(t: str) -> str:
    """Whether the superseded submission `{t}`'s file is kept (not deleted) for its student's
    current one, not `found_clean` (still being scanned, not scannable, released, or malware
    found): every superseded file that is no threat and is later than the student's newest stored
    superseded file found clean, that one included. A file still being scanned may turn out clean,
    and the newest of them that can be downloaded `stands_in`: so a student who hands in again
    within the minutes a scan takes never loses the answer before it to a threat found in the
    later one (a false positive too). Once the current file is found clean, none is kept and their
    versions are deleted (`domain.recording.must_not_exist`)."""
    return f"""({t}.status = 'superseded' AND {t}.scan IS DISTINCT FROM 'threat'
        AND EXISTS (SELECT 1 FROM submission c
                    WHERE c.student_id = {t}.student_id AND c.status = 'current' AND NOT {found_clean("c")})
        AND NOT EXISTS (SELECT 1 FROM submission l JOIN upload lk ON lk.id = l.upload_id
                        WHERE l.student_id = {t}.student_id AND l.status = 'superseded' AND l.issue_seq > {t}.issue_seq
                          AND lk.object_deleted_at IS NULL AND {found_clean("l")}))"""


def stands_in(t: str) -> str:
    """Whether the superseded submission `{t}` is served, and exported, in place of its student's
    current one, which its scan does not let be downloaded (still being scanned, or malware found):
    `{t}` is the latest of the student's superseded files that can be, still stored. It is one of
    the files `kept_in_place`; once the current file can be downloaded, `{t}` no longer stands in."""
    return f"""({t}.status = 'superseded' AND {scan_allows(t)}
        AND EXISTS (SELECT 1 FROM upload k WHERE k.id = {t}.upload_id AND k.object_deleted_at IS NULL)
        AND EXISTS (SELECT 1 FROM submission c
                    WHERE c.student_id = {t}.student_id AND c.status = 'current' AND NOT {scan_allows("c")})
        AND NOT EXISTS (SELECT 1 FROM submission l JOIN upload lk ON lk.id = l.upload_id
                        WHERE l.student_id = {t}.student_id AND l.status = 'superseded'
                          AND l.issue_seq > {t}.issue_seq AND lk.object_deleted_at IS NULL AND {scan_allows("l")}))"""


def earlier_file_kept(t: str) -> str:
    """Whether the current submission `{t}`, which cannot be downloaded, has an earlier file
    standing in for it (`stands_in`)."""
    return f"""({t}.status = 'current' AND NOT {scan_allows(t)}
        AND EXISTS (SELECT 1 FROM submission e WHERE e.student_id = {t}.student_id AND {stands_in("e")}))"""


# Made from SubmissionJson's fields, so the statements and the views name them once: the object of
# the submission `{t}` (an alias the statement gives it); the last two computed from its student's.
_COMPUTED = {"stands_in": stands_in, "earlier_file_kept": earlier_file_kept}
SUBMISSION_JSON = (
    "jsonb_build_object("
    + ", ".join(
        f"'{name}', " + (f"COALESCE({_COMPUTED[name]('{t}')}, false)" if name in _COMPUTED else f"{{t}}.{name}")
        for name in SubmissionJson.__annotations__
    )
    + ")"
)


def downloadable(t: str, status: str) -> str:
    """Whether the submission `{t}`, whose status as of now is the SQL `status`, may be downloaded:
    `domain.scans.download_refusal`'s rule, in SQL (the roster's page writes its JSON here)."""
    return f"({status} = 'current' AND {scan_allows(t)})"
