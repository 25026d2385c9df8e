"""A student's extension and extra time (accommodation): the statements that change them, each
returning what it replaced with what it wrote, for the audit log.

Apart from `students` because only the functions that change them use these rows: each of those
imports this module in its app.py, so that it loads at init; the roster's other functions do not
define the two row types (frozen dataclasses, about 0.4 ms each of a cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from exam_depository.adapters.db import windows
from exam_depository.adapters.db.transactions import Connection, Row, rows_of


@dataclass(frozen=True)
class ExtensionChange:
    """A student's extension as it was and as it is (None times: none), for the audit log."""

    pseudonym: str
    was_due_at: datetime | None
    was_cutoff_at: datetime | None
    was_extra_attempts: int
    due_at: datetime | None
    cutoff_at: datetime | None
    extra_attempts: int


# An UPDATE joined to its own table reads the joined row as it was before the statement: what a
# change replaced, returned with what it wrote (the audit log records both). Every writer of
# these columns holds the exam's lock (`exam_of(..., lock=True)`): none changes them in between.
_EXTENSION_RETURNING = """RETURNING s.pseudonym, o.extension_due_at AS was_due_at,
    o.extension_cutoff_at AS was_cutoff_at, o.extra_attempts AS was_extra_attempts,
    s.extension_due_at AS due_at, s.extension_cutoff_at AS cutoff_at, s.extra_attempts"""


def set_extensions(conn: Connection, exam_pk: int, extensions: list[Row]) -> list[ExtensionChange]:
    """Give students of the exam (by nickname) their extension: due, cut-off, extra attempts;
    None times remove it. Returns what changed for each student found."""
    with conn.cursor(row_factory=rows_of(ExtensionChange)) as cur:
        cur.executemany(
            f"""UPDATE student s SET extension_due_at = %(due_at)s, extension_cutoff_at = %(cutoff_at)s,
                                    extra_attempts = %(extra_attempts)s
                FROM student o
                WHERE o.id = s.id AND s.exam_id = %(exam_id)s AND lower(s.nickname) = lower(%(nickname)s)
                {_EXTENSION_RETURNING}""",
            [{**extension, "exam_id": exam_pk} for extension in extensions],
            returning=True,
        )
        return _all_results(cur)


def remove_extension(conn: Connection, exam_pk: int, nickname: str) -> ExtensionChange | None:
    """Remove a student's extension now (its times, its extra attempts), noting until when what
    S3 accepted under it stays in: the earlier of now and the cut-off it gave (SET reads the row
    as it was), so that a removal after the exam closed reopens nothing. None when the exam has
    no such student."""
    with conn.cursor(row_factory=rows_of(ExtensionChange)) as cur:
        return cur.execute(
            f"""UPDATE student s SET extension_due_at = NULL, extension_cutoff_at = NULL, extra_attempts = 0,
                                    extension_removed_at = greatest(s.extension_removed_at,
                                                                    least(now(), {windows.personal_cutoff()}))
                FROM exam e, student o
                WHERE e.id = s.exam_id AND o.id = s.id AND s.exam_id = %s AND lower(s.nickname) = lower(%s)
                {_EXTENSION_RETURNING}""",
            (exam_pk, nickname),
        ).fetchone()


@dataclass(frozen=True)
class AccommodationChange:
    """A student's extra time as it was and as it is, for the audit log."""

    pseudonym: str
    was_extra_time_percent: int
    was_extra_time_minutes: int
    extra_time_percent: int
    extra_time_minutes: int


def set_accommodations(conn: Connection, exam_pk: int, accommodations: list[Row]) -> list[AccommodationChange]:
    """Give students of the exam (by nickname) their extra time: percent and minutes, zeros for
    none. A change notes until when what S3 accepted stays in (a reduction must not lose it): the
    earlier of now and the cut-off in force before the change (SET reads the row as it was), so
    that a change after the exam closed reopens nothing. The same values again change nothing.
    Returns what changed for each student found (as `set_extensions`)."""
    with conn.cursor(row_factory=rows_of(AccommodationChange)) as cur:
        cur.executemany(
            f"""UPDATE student s SET extra_time_percent = %(extra_time_percent)s,
                                    extra_time_minutes = %(extra_time_minutes)s,
                                    extra_time_accepted_until = CASE
                                        WHEN (s.extra_time_percent, s.extra_time_minutes)
                                             IS DISTINCT FROM (%(extra_time_percent)s, %(extra_time_minutes)s)
                                        THEN greatest(s.extra_time_accepted_until,
                                                      least(now(), {windows.personal_cutoff()}))
                                        ELSE s.extra_time_accepted_until END
                FROM exam e, student o
                WHERE e.id = s.exam_id AND o.id = s.id AND s.exam_id = %(exam_id)s
                  AND lower(s.nickname) = lower(%(nickname)s)
                RETURNING s.pseudonym, o.extra_time_percent AS was_extra_time_percent,
                          o.extra_time_minutes AS was_extra_time_minutes, s.extra_time_percent, s.extra_time_minutes""",
            [{**accommodation, "exam_id": exam_pk} for accommodation in accommodations],
            returning=True,
        )
        return _all_results(cur)


def _all_results[Found](cur: psycopg.Cursor[Found]) -> list[Found]:
    """Every row an executemany(..., returning=True) returned, one result set per parameter set."""
    rows: list[Found] = []
    while True:
        rows.extend(cur.fetchall())
        if not cur.nextset():
            break
    return rows
