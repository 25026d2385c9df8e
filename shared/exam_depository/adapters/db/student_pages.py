"""The roster's page: one statement per page, each row's JSON written by the database. Apart from
`students` so that only the function that lists a roster builds its statement's text and row
type (its app.py imports this module at init; the roster's other functions never load it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from exam_depository.adapters.db import audit, windows
from exam_depository.adapters.db.exams import ExamRow
from exam_depository.adapters.db.students import EMAIL_SHARED, FROM_LMS, LEFT_COURSE_AT
from exam_depository.adapters.db.submissions import LATEST, downloadable, earlier_file_kept
from exam_depository.adapters.db.transactions import Connection, rows_of
from exam_depository.domain.audit import Event
from exam_depository.domain.disclosure import Disclosure

# The roster's filters: who handed in, who handed in late, who has not handed in yet.
_STUDENT_FILTERS = {
    None: "true",
    "handed_in": "latest.id IS NOT NULL",
    "late": "latest.late",
    "none": "latest.id IS NULL",
}

# The roster's page is written by PostgreSQL, each row as the JSON text of a `StudentSummary`:
# making 500 rows into Python values, applying the rules to each and serialising them again took
# longer than the query. The view joins the texts. These expressions are the Python's, in SQL:
# an instant as `instants.rfc3339` and pydantic write it (no fraction when it has none, else six
# digits), a code grouped as `codes.display` groups it.
_INSTANT = """CASE WHEN {t} = date_trunc('second', {t})
    THEN to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    ELSE to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
# Groups of four of up to 40 symbols (twice a code's length), without a regular expression: one
# per code took PostgreSQL 6 µs, as long as the rest of the row.
_GROUPED = "concat_ws('-', " + ", ".join(f"NULLIF(substr({{t}}, {start}, 4), '')" for start in range(1, 41, 4)) + ")"


def _json_object(fields: dict[str, str]) -> str:
    """The JSON object of these (name, SQL expression) pairs, in their order: row_to_json writes
    it compact (`{"a":1}`) as pydantic does, where json_build_object spaces every member."""
    columns = ", ".join(f'{expression} AS "{name}"' for name, expression in fields.items())
    return f"(SELECT row_to_json(o) FROM (SELECT {columns}) o)"


_STATUS_NOW = (
    "(CASE WHEN latest.status = 'current' AND exam.now >= latest.expires_at THEN 'expired'"
    " ELSE latest.status::text END)"
)
# `personal_window` (`windows`, in the page's `personal` join), `attempts_left` and `status_at`
# as of the caller's `now`; the fields in the models' order.
_SUBMISSION = _json_object(
    {
        "upload_id": "latest.upload_id",
        "verification_code": "CASE WHEN %(show_verification)s THEN "
        + _GROUPED.format(t="latest.verification_code")
        + " END",
        "filename": "latest.filename",
        "content_type": "latest.content_type",
        "size_bytes": "latest.size_bytes",
        "sha256": "latest.sha256",
        "submitted_at": _INSTANT.format(t="latest.submitted_at"),
        "expires_at": _INSTANT.format(t="latest.expires_at"),
        "status": _STATUS_NOW,
        "late": "latest.late",
        "due_at": _INSTANT.format(t="latest.due_at"),
        "receipt": "CASE WHEN %(show_verification)s THEN latest.receipt END",
        "scan": "latest.scan",
        "scan_detail": "latest.scan_detail",
        "scan_released_at": _INSTANT.format(t="latest.scan_released_at"),
        "downloadable": downloadable("latest", _STATUS_NOW),
        "found_type": "latest.found_type",
        "warnings": "latest.warnings",
        "stands_in": "false",  # the latest handed-in file is never superseded
        "earlier_file_kept": f"COALESCE({earlier_file_kept('latest')}, false)",
    }
)
_EXTENSION = _json_object(
    {
        "due_at": _INSTANT.format(t="s.extension_due_at"),
        "cutoff_at": _INSTANT.format(t="s.extension_cutoff_at"),
        "extra_attempts": "s.extra_attempts",
    }
)
_SUMMARY_JSON = (
    _json_object(
        {
            "nickname": "CASE WHEN %(show_names)s THEN s.nickname END",
            "pseudonym": "CASE WHEN %(show_pseudonym)s THEN s.pseudonym END",
            "first_name": "CASE WHEN %(show_names)s THEN s.first_name END",
            "last_name": "CASE WHEN %(show_names)s THEN s.last_name END",
            "email": "CASE WHEN %(show_names)s THEN s.email END",
            "upload_code": f"CASE WHEN %(show_codes)s THEN {_GROUPED.format(t='s.upload_code')} END",
            "created_at": _INSTANT.format(t="s.created_at"),
            "email_state": "CASE WHEN %(show_names)s THEN s.email_state END",
            "email_state_at": "CASE WHEN %(show_names)s THEN " + _INSTANT.format(t="s.email_state_at") + " END",
            "email_shared": f"CASE WHEN %(show_names)s THEN {EMAIL_SHARED} END",
            "from_lms": FROM_LMS,
            "left_course_at": _INSTANT.format(t=LEFT_COURSE_AT),
            "attempts_used": "attempts.used",
            "attempts_left": "greatest(0, exam.max_attempts + s.extra_attempts - attempts.used)",
            "max_attempts": "exam.max_attempts + s.extra_attempts",
            "due_at": _INSTANT.format(t="personal.due_at"),
            "cutoff_at": _INSTANT.format(t="personal.cutoff_at"),
            "extension": "CASE WHEN s.extension_due_at IS NOT NULL AND s.extension_cutoff_at IS NOT NULL"
            f" THEN {_EXTENSION} END",
            "started_at": _INSTANT.format(t="s.started_at"),
            "extra_time_percent": "s.extra_time_percent",
            "extra_time_minutes": "s.extra_time_minutes",
            "time_allowed_seconds": windows.time_allowed_seconds("exam"),
            "current": f"CASE WHEN latest.id IS NOT NULL THEN {_SUBMISSION} END",
        }
    )
    + "::text"
)


@dataclass(frozen=True)
class StudentPageRow:
    """A row of the roster's page: the student's id (for the cursor), its pseudonym (what the
    audit log names a student by) and its JSON text."""

    id: int
    pseudonym: str
    item: str


# A search: every term is part of the nickname, a name or the email, once both sides are folded
# alike by PostgreSQL (`unaccent`, then `lower`: "Müller" is found by "MULL"). The fields are
# joined by a line break, which no field and no term holds, so a term never spans two fields. A
# member shown no names (a grader of an anonymous exam) searches the pseudonyms alone: a search
# must not tell them whom a pseudonym is.
_SEARCH = """NOT EXISTS (
    SELECT 1 FROM unnest(%(terms)s::text[]) AS term
    WHERE strpos(lower(unaccent(CASE WHEN %(show_names)s
                                     THEN concat_ws(E'\\n', s.nickname, s.first_name, s.last_name, s.email)
                                     ELSE s.pseudonym END)),
                 lower(unaccent(term))) = 0)"""


def student_page(
    conn: Connection,
    exam: ExamRow,
    after_id: int,
    limit: int,
    *,
    status: str | None,
    terms: list[str] | None = None,
    now: datetime,
    shown: Disclosure,
    disclosures: Sequence[Event] = (),
    disclosed_rows: int = 0,
) -> list[StudentPageRow]:
    """One statement per page, whatever its size: attempts and latest submission inline, each
    row's JSON written by the database with the exam's window and the submissions' status as of
    `now`, and null for what `shown` hides; only the students of `status` and matching every
    search term, if given. `disclosures` are the events that showing the page's first
    `disclosed_rows` rows is recorded by: the same statement appends them to the exam's audit log
    (`audit.counted_append`), each counting those rows and naming them, and none when there are
    none (an event would be a third round trip for every page)."""
    search = _SEARCH if terms else "true"
    # A member shown no names (a grader of an anonymous exam) reads the roster in pseudonym order,
    # as an anonymous exam's export lists it: the order students were added in (often a class
    # list's, by name) would tell whom each pseudonym is. The cursor is the last row's id either way.
    after, order = (
        ("s.id > %(after_id)s", "id")
        if shown.names
        else (
            """s.pseudonym > coalesce((SELECT a.pseudonym FROM student a
                                       WHERE a.id = %(after_id)s AND a.exam_id = %(exam_pk)s), '')""",
            "pseudonym",
        )
    )
    parameters: dict[str, object] = {
        "due_at": exam.due_at,
        "cutoff_at": exam.cutoff_at,
        "max_attempts": exam.max_attempts,
        "duration_minutes": exam.duration_minutes,
        "now": now,
        "exam_pk": exam.exam_pk,
        "after_id": after_id,
        "limit": limit,
        "terms": terms,
        "show_names": shown.names,
        "show_pseudonym": shown.pseudonym,
        "show_codes": shown.upload_codes,
        "show_verification": shown.verification,
    }
    page = f"""SELECT s.id, s.pseudonym, {_SUMMARY_JSON} AS item
                FROM student s
                CROSS JOIN (SELECT %(due_at)s::timestamptz AS due_at, %(cutoff_at)s::timestamptz AS cutoff_at,
                                   %(max_attempts)s::int AS max_attempts, %(duration_minutes)s::int AS duration_minutes,
                                   %(now)s::timestamptz AS now) exam
                CROSS JOIN LATERAL (SELECT count(*) AS used FROM submission c WHERE c.student_id = s.id) attempts
                CROSS JOIN LATERAL (SELECT {windows.personal_due("exam")} AS due_at,
                                           {windows.personal_cutoff("exam")} AS cutoff_at) personal
                {LATEST}
                WHERE s.exam_id = %(exam_pk)s AND {after} AND {_STUDENT_FILTERS[status]} AND {search}
                ORDER BY s.{order} LIMIT %(limit)s"""
    if disclosures:
        appended, audit_parameters = audit.counted_append(
            f"SELECT pseudonym, {order} AS position FROM page ORDER BY {order} LIMIT %(disclosed_rows)s",
            exam.exam_pk,
            disclosures,
        )
        page = f"WITH RECURSIVE page AS ({page}){appended}SELECT id, pseudonym, item FROM page ORDER BY {order}"
        parameters |= audit_parameters | {"disclosed_rows": disclosed_rows}
    with conn.cursor(row_factory=rows_of(StudentPageRow)) as cur:
        return cur.execute(page, parameters).fetchall()
