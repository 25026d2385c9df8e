"""Response models more than one audience's functions answer, and the base of all: a
problem (every route's error), a student's name (a student's page and a reviewer's
verification). A submission, which an examiner's roster and a student's page share, is
`submissions`: the exam team's other functions load none of its fields."""

# Annotations evaluated as written (no `from __future__ import annotations`): pydantic would
# otherwise compile each field's annotation from its text at import, a fifth of the models'
# cost to a cold start.

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from exam_depository.domain.instants import shown_time_zone

ShownTimeZone = Annotated[str, AfterValidator(shown_time_zone)]


class ApiModel(BaseModel):
    """Frozen, refusing unknown fields; its validator is built on first use (defer_build), not at
    import: a function validates only the few models of its own routes."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class StudentName(ApiModel):
    first_name: str
    last_name: str


class Problem(ApiModel):
    """RFC 9457 problem details, the one error shape of every route."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, object]] | None = None
