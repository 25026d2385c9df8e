"""Parsing a CSV roster into students, all or nothing: every bad row is reported by line."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from pydantic import ValidationError

from exam_depository.errors import InvalidInput, PayloadTooLarge
from exam_depository.models import StudentIn

MAX_ROWS = 5000
REQUIRED_COLUMNS = ("nickname", "first_name", "last_name")
OPTIONAL_COLUMNS = ("email",)


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
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The roster must be UTF-8 text; byte {exc.start} is not valid UTF-8.") from exc


def _columns(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    allowed = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in allowed]
    if missing or unknown or len(set(columns)) != len(columns):
        raise InvalidInput(
            "The header row must be nickname,first_name,last_name[,email]"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + "."
        )
    return columns


@dataclass
class _RosterCheck:
    """Rows checked so far: the valid ones, every error, and who already used a nickname/email."""

    columns: list[str]
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)
    nickname_lines: dict[str, int] = field(default_factory=dict)
    email_lines: dict[str, int] = field(default_factory=dict)

    def add(self, line: int, record: list[str]) -> None:
        if len(record) != len(self.columns):
            self.errors.append({"line": line, "message": f"expected {len(self.columns)} fields, found {len(record)}"})
            return
        values = dict(zip(self.columns, record, strict=True))
        if not values.get("email", "").strip():
            values.pop("email", None)
        try:
            student = StudentIn.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors(include_url=False, include_input=False):
                self.errors.append({"line": line, "field": str(problem["loc"][0]), "message": problem["msg"]})
            return
        nickname = student.nickname.lower()
        email = student.email.lower() if student.email is not None else None
        if nickname in self.nickname_lines:
            self._duplicate(line, "nickname", self.nickname_lines[nickname])
        elif email is not None and email in self.email_lines:
            self._duplicate(line, "email", self.email_lines[email])
        else:
            self.nickname_lines[nickname] = line
            if email is not None:
                self.email_lines[email] = line
            self.rows.append(RosterRow(line, student))

    def _duplicate(self, line: int, column: str, first_line: int) -> None:
        self.errors.append({"line": line, "field": column, "message": f"duplicate of line {first_line}"})
