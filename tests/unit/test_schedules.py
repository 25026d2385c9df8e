"""The local stack runs the template's scheduled functions, on the template's rates."""

from __future__ import annotations

import pytest

from local_stack.functions import read_template
from local_stack.schedules import _period, schedules


def test_every_scheduled_function_of_the_template_is_run_at_its_parameters_rate() -> None:
    assert {(s.function, s.period_s) for s in schedules(read_template())} == {
        ("expire_submissions", 6 * 3600),
        ("reconcile_storage", 6 * 3600),
        # The mail's daily sweep: the backstop for a hand-off SQS refused whole (the sweeps
        # mail needs otherwise are asked for through the mail queue).
        ("send_messages", 24 * 3600),
        # LTI's tick: the scores' sweep and the class lists due, as often as the jobs.
        ("lti_worker", 6 * 3600),
    }


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(1 minute)", 60), ("rate(6 hours)", 21600), ("rate(2 days)", 172800)]
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert _period(expression) == seconds


def test_a_cron_expression_is_refused_rather_than_never_run() -> None:
    with pytest.raises(ValueError, match="rate"):
        _period("cron(0 6 * * ? *)")
