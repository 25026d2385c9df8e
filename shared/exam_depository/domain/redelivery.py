"""When a notification the recorder could not record comes back.

SQS makes a message its consumer did not delete visible again after the queue's visibility
timeout: 180 s, six times the recorder's timeout, so that a slow batch is never delivered twice
while it runs. A failure of the recorder is almost always a passing one (a KMS throttle, a
database restarting or resuming, a read timeout under load), and its student waits for the
verification code meanwhile: the recorder sets each failed message's visibility itself, to a delay
that starts at a couple of seconds and grows with every receipt of the message.

The growth keeps the dead-letter queue for what does not pass: after its 5th receipt
(maxReceiveCount) a message goes there, and five retries a few seconds apart would send it there
within a minute of any longer outage. Multiplied by 4 and capped at 120 s, the delays after the
five receipts add up to about 2 to 5 minutes (the jitter draws each in the upper half of its
value), plus the tries themselves.
"""

from __future__ import annotations

import math

FIRST_RETRY_S = 2
GROWTH = 4
# Well below the queue's visibility timeout (180 s; tests/unit/test_template.py holds it below):
# a delay as long as the timeout is what SQS does without being asked.
LONGEST_RETRY_S = 120


def retry_delay_s(receive_count: int, draw: float, queue_timeout_s: int) -> int:
    """Seconds until the message is delivered again, after its `receive_count`-th receipt failed
    (SQS's ApproximateReceiveCount, 1 at the first): FIRST_RETRY_S × GROWTH^(n-1), at most
    LONGEST_RETRY_S and never more than the queue's own visibility timeout `queue_timeout_s` (a
    delay is to bring a message back sooner than the queue would, never later). Of that, the
    upper half is kept and the lower half drawn at random ("equal jitter"): `draw` in [0, 1)
    picks the point, so that the messages of a batch that failed together do not all come back
    in the same instant. Whole seconds, as SQS takes them, and at least 1."""
    count = max(receive_count, 1)  # "approximate": never trusted to be at least 1
    # The exponent is bounded: the cap is reached at the 4th receipt, and a huge count stays cheap.
    nominal: int = min(LONGEST_RETRY_S, queue_timeout_s, FIRST_RETRY_S * GROWTH ** min(count - 1, 8))
    return max(1, math.ceil(nominal / 2 + nominal / 2 * min(max(draw, 0.0), 1.0)))
