"""How long a run of readings lasted, judged against a rule's duration despite clock jitter.

A tracker reads on a schedule, but its timestamps wander by a second or more around it: two
readings five minutes apart by schedule are 4:59.7 or 5:00.4 apart by their stamps. A rule
that asks for readings spanning a duration ("out of range for 5 min", "the same fix for
30 min") would then decide by that fraction of a second whether it speaks at one reading or
a whole reporting interval later, wherever the duration is a multiple of the interval. A span
short of the duration by no more than `SPAN_SLACK` of it counts as lasting it.
"""

from __future__ import annotations

from typing import Final

#: The share of a duration a span of readings may fall short of it and still count: 1 %, 3 s
#: of 5 min and 18 s of 30 min, more than a scheduled tracker's jitter and far less than any
#: reporting interval that could divide the duration.
SPAN_SLACK: Final = 0.01


def lasted(span: float, duration: float) -> bool:
    """Whether a span of readings counts as lasting `duration`, in the same unit (see the
    module doc)."""
    return span >= duration * (1.0 - SPAN_SLACK)
