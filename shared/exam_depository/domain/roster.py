"""Rosters, extensions and accommodations as CSV: parsed all or nothing (every bad row reported
by line), and the roster written for a mail merge, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from exam_depository.domain.addresses import normalized_address
from exam_depository.domain.cells import neutralized, restored
from exam_depository.domain.errors import InvalidInput, PayloadTooLarge
from exam_depository.domain.input_model import readable
from exam_depository.domain.inputs import AccommodationIn, ExtensionIn, StudentIn

MAX_ROWS = 5000
REQUIRED_COLUMNS = ("nickname", "first_name", "last_name")
# What the roster download adds to a student's names: a download imports back as it is (these
# columns are read and ignored), and the new exam's students get codes and pseudonyms of their own
# (always made by the server), no mail yet, and no clock or accommodation (given by their own routes).
DOWNLOAD_COLUMNS = (
    "email_state",
    "upload_code",
    "pseudonym",
    "started_at",
    "due_at",
    "cutoff_at",
    "extra_time_percent",
    "extra_time_minutes",
    "from_lms",
    "left_course_at",
)
OPTIONAL_COLUMNS = ("email", *DOWNLOAD_COLUMNS)
EXPORT_COLUMNS = ("nickname", "first_name", "last_name", "email", *DOWNLOAD_COLUMNS)


@dataclass(frozen=True)
class RosterRow:
    line: int
    student: StudentIn


def parse_roster(body: bytes) -> list[RosterRow]:
    """The students of a roster, or InvalidInput listing every bad row; nothing partial."""
    text = _decode(body)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.") from exc
    if header is None:
        raise InvalidInput("The roster is empty: expected a header row and at least one student.")
    columns = _columns(header)

    check = _RosterCheck(columns)
    line = reader.line_num + 1
    rows = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            check.errors.append({"line": line, "message": f"malformed CSV: {exc}"})
            break
        if any(cell.strip() for cell in record):
            rows += 1
            if rows > MAX_ROWS:
                raise PayloadTooLarge(f"A roster may hold at most {MAX_ROWS} rows; split it.")
            check.add(line, record)
        line = reader.line_num + 1

    if check.errors:
        bad_rows = len({error["line"] for error in check.errors})
        raise InvalidInput(f"{bad_rows} row(s) are invalid; nothing was created.", check.errors)
    if not check.rows:
        raise InvalidInput("The roster has a header but no students.")
    return check.rows


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The file must be UTF-8 text; byte {exc.start} is not valid UTF-8.") from exc
    if "\x00" in text:  # valid UTF-8, but no PostgreSQL text may hold it
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidInput(f"The file must be text; line {line} holds a NUL byte.")
    return text


def _columns(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    allowed = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in allowed]
    if missing or unknown or len(set(columns)) != len(columns):
        raise InvalidInput(
            "The header row must be nickname,first_name,last_name[,email] (a roster download's other columns"
            " may stay: they are ignored)"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + "."
        )
    return columns


@dataclass
class _RosterCheck:
    """Rows checked so far: the valid ones, every error, and who already used a nickname."""

    columns: list[str]
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)
    nickname_lines: dict[str, int] = field(default_factory=dict)

    def add(self, line: int, record: list[str]) -> None:
        if len(record) != len(self.columns):
            self.errors.append({"line": line, "message": f"expected {len(self.columns)} fields, found {len(record)}"})
            return
        values = {
            column: restored(cell)
            for column, cell in zip(self.columns, record, strict=True)
            if column not in DOWNLOAD_COLUMNS
        }
        if not values.get("email", "").strip():
            values.pop("email", None)
        try:
            student = StudentIn.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors(include_url=False, include_input=False):
                self.errors.append({"line": line, "field": str(problem["loc"][0]), "message": readable(problem)})
            return
        nickname = student.nickname.lower()
        if nickname in self.nickname_lines:
            first_line = self.nickname_lines[nickname]
            self.errors.append({"line": line, "field": "nickname", "message": f"duplicate of line {first_line}"})
        else:
            self.nickname_lines[nickname] = line
            self.rows.append(RosterRow(line, student))


def shared_address_warnings(rows: list[RosterRow], in_exam: Mapping[str, str]) -> list[dict[str, object]]:
    """The rows whose address another student has: allowed (a family's shared mailbox), and
    shown, by line, beside what the import did. Addresses compare as mail goes to them
    (`normalized_address`: Ana@Example.org is ana@example.org). `in_exam` holds the exam's students
    already there, by address (normalized) to nickname; a row of one of them (an import again) is
    not a warning about itself."""
    warnings: list[dict[str, object]] = []
    first: dict[str, RosterRow] = {}
    for row in rows:
        if row.student.email is None:
            continue
        address = normalized_address(row.student.email)
        holder = in_exam.get(address)
        earlier = first.setdefault(address, row)
        if earlier is not row:
            message = f"same address as line {earlier.line} ({earlier.student.nickname})"
        elif holder is not None and holder.lower() != row.student.nickname.lower():
            message = f"same address as {holder}, already in the exam"
        else:
            continue
        warnings.append({"line": row.line, "field": "email", "message": message})
    return warnings


def roster_csv(students: list[dict[str, str | None]]) -> str:
    """The roster for a mail merge: UTF-8 with a BOM (spreadsheets then read names right), CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for student in students:
        writer.writerow([neutralized(student.get(column) or "") for column in EXPORT_COLUMNS])
    return "\ufeff" + out.getvalue()


# --- extensions -------------------------------------------------------------------------------

EXTENSION_COLUMNS = ("nickname", "due_at")
OPTIONAL_EXTENSION_COLUMNS = ("cutoff_at", "extra_attempts")


@dataclass(frozen=True)
class ExtensionRow:
    line: int
    nickname: str
    extension: ExtensionIn


def parse_extensions(body: bytes) -> tuple[list[ExtensionRow], list[dict[str, object]]]:
    """Extensions by nickname (nickname,due_at[,cutoff_at][,extra_attempts]; times in RFC 3339):
    the good rows and every bad row's errors, so that the caller reports them together with what
    only the database knows (does the student exist?). A bad header is InvalidInput at once."""
    rows: list[ExtensionRow] = []
    errors: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    header, records = _rows_by_nickname(
        body, EXTENSION_COLUMNS, OPTIONAL_EXTENSION_COLUMNS, what="extensions", errors=errors
    )
    for line, record in records:
        _extension_row(line, header=header, record=record, rows=rows, errors=errors, seen=seen)
    if not rows and not errors:
        raise InvalidInput("The file has a header but no extensions.")
    return rows, errors


def _rows_by_nickname(
    body: bytes, required: tuple[str, ...], optional: tuple[str, ...], *, what: str, errors: list[dict[str, object]]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV of changes by nickname (its columns in any order and case; anything
    else is InvalidInput at once), and its rows that are not blank, each with its line: malformed
    CSV ends them with an error; more than MAX_ROWS is PayloadTooLarge."""
    reader = csv.reader(io.StringIO(_decode(body), newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.") from exc
    if not set(required) <= set(header) or not set(header) <= {*required, *optional} or len(set(header)) != len(header):
        raise InvalidInput(f"The header row must be {','.join(required)}{''.join(f'[,{name}]' for name in optional)}.")

    def rows() -> Iterator[tuple[int, list[str]]]:
        count = 0
        line = reader.line_num + 1
        for record in _records(reader, errors):
            if any(cell.strip() for cell in record):
                count += 1
                if count > MAX_ROWS:
                    raise PayloadTooLarge(f"At most {MAX_ROWS} {what} at once; split the file.")
                yield line, record
            line = reader.line_num + 1

    return header, rows()


def _records(reader: Iterator[list[str]], errors: list[dict[str, object]]) -> Iterator[list[str]]:
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append({"line": getattr(reader, "line_num", 0), "message": f"malformed CSV: {exc}"})
            return


def _extension_row(
    line: int,
    *,
    header: list[str],
    record: list[str],
    rows: list[ExtensionRow],
    errors: list[dict[str, object]],
    seen: dict[str, int],
) -> None:
    if len(record) != len(header):
        errors.append({"line": line, "message": f"expected {len(header)} fields, found {len(record)}"})
        return
    values = {name: cell.strip() for name, cell in zip(header, record, strict=True) if cell.strip()}
    nickname = values.pop("nickname", "")
    try:
        extension = ExtensionIn.model_validate(values)
    except ValidationError as exc:
        for problem in exc.errors(include_url=False, include_input=False):
            field_name = str(problem["loc"][0]) if problem["loc"] else "due_at"
            errors.append({"line": line, "field": field_name, "message": readable(problem)})
        return
    if nickname.lower() in seen:
        errors.append({"line": line, "field": "nickname", "message": f"duplicate of line {seen[nickname.lower()]}"})
        return
    seen[nickname.lower()] = line
    rows.append(ExtensionRow(line, nickname, extension))


# --- accommodations ---------------------------------------------------------------------------

ACCOMMODATION_COLUMNS = ("nickname", "extra_time_percent")
OPTIONAL_ACCOMMODATION_COLUMNS = ("extra_time_minutes",)


@dataclass(frozen=True)
class AccommodationRow:
    line: int
    nickname: str
    accommodation: AccommodationIn


def parse_accommodations(body: bytes) -> tuple[list[AccommodationRow], list[dict[str, object]]]:
    """Extra time by nickname (nickname,extra_time_percent[,extra_time_minutes]): the good rows
    and every bad row's errors, for the caller to report with the nicknames no student has. An
    empty extra_time_minutes is none; an empty extra_time_percent is a mistake (0 is written 0)."""
    rows: list[AccommodationRow] = []
    errors: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    header, records = _rows_by_nickname(
        body, ACCOMMODATION_COLUMNS, OPTIONAL_ACCOMMODATION_COLUMNS, what="accommodations", errors=errors
    )
    for line, record in records:
        if len(record) != len(header):
            errors.append({"line": line, "message": f"expected {len(header)} fields, found {len(record)}"})
            continue
        values = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
        nickname = values.pop("nickname")
        if not values.get("extra_time_minutes", "0"):
            del values["extra_time_minutes"]
        if not values["extra_time_percent"]:
            errors.append({"line": line, "field": "extra_time_percent", "message": "is required"})
            continue
        try:
            accommodation = AccommodationIn.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors(include_url=False, include_input=False):
                errors.append({"line": line, "field": str(problem["loc"][0]), "message": readable(problem)})
            continue
        if nickname.lower() in seen:
            errors.append({"line": line, "field": "nickname", "message": f"duplicate of line {seen[nickname.lower()]}"})
            continue
        seen[nickname.lower()] = line
        rows.append(AccommodationRow(line, nickname, accommodation))
    if not rows and not errors:
        raise InvalidInput("The file has a header but no accommodations.")
    return rows, errors
