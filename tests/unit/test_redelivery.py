"""When a message the recorder could not record comes back: `retry_delay_s` by a table of cases."""

from __future__ import annotations

import pytest
from exam_depository.domain.redelivery import LONGEST_RETRY_S, retry_delay_s

LOWEST, HIGHEST = 0.0, 0.999999  # the ends of what random.random() draws
QUEUE_TIMEOUT_S = 180  # the template's queue


@pytest.mark.parametrize(
    ("receive_count", "shortest", "longest"),
    [
        (1, 1, 2),  # the first failure: back in a second or two
        (2, 4, 8),
        (3, 16, 32),
        (4, 60, 120),  # capped from here on
        (5, 60, 120),
        (1_000, 60, 120),  # a count SQS kept raising (a redriven message) stays capped
        (0, 1, 2),  # "approximate": a count below 1 is taken as the first
    ],
)
def test_the_delay_grows_fourfold_with_each_receipt_and_keeps_its_upper_half(
    receive_count: int, shortest: int, longest: int
) -> None:
    assert retry_delay_s(receive_count, LOWEST, QUEUE_TIMEOUT_S) == shortest
    assert retry_delay_s(receive_count, HIGHEST, QUEUE_TIMEOUT_S) == longest
    assert shortest <= retry_delay_s(receive_count, 0.5, QUEUE_TIMEOUT_S) <= longest


def test_the_draw_spreads_a_batch_over_the_upper_half() -> None:
    # Given ten messages that failed together at their third receipt, with draws across [0, 1)
    delays = [retry_delay_s(3, n / 10, QUEUE_TIMEOUT_S) for n in range(10)]

    # Then they come back at different moments, none sooner than half the nominal 32 s
    assert delays == sorted(delays)
    assert len(set(delays)) == 10
    assert min(delays) == 16


def test_every_delay_is_whole_seconds_within_the_cap() -> None:
    # The cap is held well below the queue's visibility timeout by tests/unit/test_template.py
    delays = [retry_delay_s(count, n / 7, QUEUE_TIMEOUT_S) for count in range(1, 12) for n in range(7)]
    assert all(isinstance(delay, int) and 1 <= delay <= LONGEST_RETRY_S for delay in delays)


def test_before_the_dead_letter_queue_a_message_is_tried_for_minutes_not_seconds() -> None:
    # After its 5 receipts (maxReceiveCount) a failing message goes to the dead-letter queue: the
    # delays between them must outlast a database's restart or resume, not a blip only.
    shortest_total = sum(retry_delay_s(count, LOWEST, QUEUE_TIMEOUT_S) for count in range(1, 6))
    longest_total = sum(retry_delay_s(count, HIGHEST, QUEUE_TIMEOUT_S) for count in range(1, 6))
    assert (shortest_total, longest_total) == (141, 282)


@pytest.mark.parametrize("receive_count", [1, 2, 5])
def test_no_delay_is_longer_than_the_queue_would_wait_itself(receive_count: int) -> None:
    # A queue that redelivers after a second (the local stack's, for its tests) is never slowed
    assert retry_delay_s(receive_count, HIGHEST, 1) == 1
    assert retry_delay_s(receive_count, HIGHEST, 10) <= 10
