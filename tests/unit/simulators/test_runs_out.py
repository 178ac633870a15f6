"""`RunsOut` finds the same runs of out-of-range readings however a series is cut in stretches.

The generator hands it one stretch of readings at a time, so a run that crosses a stretch's
end must come out whole: its first reading from one stretch, its last from a later one.
"""

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulators.breach_truth import RunsOut


def runs_in_one_go(out: list[bool]) -> list[tuple[float, float]]:
    """Maximal runs of True as (first, last) indices, by the plainest loop there is."""
    found, first = [], None
    for i, o in enumerate(out):
        if o and first is None:
            first = i
        if not o and first is not None:
            found.append((float(first), float(i - 1)))
            first = None
    if first is not None:
        found.append((float(first), float(len(out) - 1)))
    return found


@given(
    st.lists(st.booleans(), max_size=60),
    st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_runs_are_the_same_whatever_the_stretches(out, cuts):
    edges = sorted({0, len(out), *(c for c in cuts if c <= len(out))})
    runs, found = RunsOut(), {}
    for a, b in itertools.pairwise(edges):
        times = np.arange(a, b, dtype=float)
        for first, last in runs.runs(times, np.array(out[a:b], dtype=bool)):
            # A run still under way is reported again, longer, by the next stretch.
            found[first] = max(found.get(first, last), last)
    assert sorted(found.items()) == runs_in_one_go(out)


def test_a_run_ending_on_a_stretch_boundary_keeps_its_last_reading():
    runs = RunsOut()
    assert runs.runs(np.array([0.0, 60.0]), np.array([False, True])) == [(60.0, 60.0)]
    assert runs.runs(np.array([120.0, 180.0]), np.array([False, False])) == [(60.0, 60.0)]
    assert runs.runs(np.array([240.0]), np.array([True])) == [(240.0, 240.0)]
