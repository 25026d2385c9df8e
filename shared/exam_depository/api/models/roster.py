"""An examiner's roster: students, their extensions, imports."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from exam_depository.api.models.common import ApiModel, Submission


class Extension(ApiModel):
    due_at: datetime
    cutoff_at: datetime
    extra_attempts: int


class Student(ApiModel):
    nickname: str
    pseudonym: str = Field(
        description="Its name in an anonymous exam's receipts and exports (anon-7K3QX2): random, unique in the exam."
    )
    first_name: str
    last_name: str
    email: str | None
    upload_code: str
    created_at: datetime


class StudentSummary(Student):
    attempts_used: int
    attempts_left: int
    max_attempts: int = Field(description="The exam's, plus what an extension grants.")
    due_at: datetime = Field(description="This student's: the exam's, or a later one of an extension.")
    cutoff_at: datetime
    extension: Extension | None
    current: Submission | None


class StudentDetail(StudentSummary):
    submissions: list[Submission]


class StudentPage(ApiModel):
    items: list[StudentSummary]
    next_cursor: str | None


class ImportResult(ApiModel):
    created: list[Student]
    existing: list[Student]


class ExtensionImportResult(ApiModel):
    extended: list[StudentSummary]
