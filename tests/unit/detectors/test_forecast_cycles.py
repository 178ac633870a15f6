"""The cycle memory of the breach warning: which rises are a thermostat's swing and which not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from detectors.forecast_cycles import TURN_C, Turns

MIN = 60_000


def cycled(levels: list[float]) -> Turns:
    turns = Turns(window_ms=6 * 60 * MIN)
    for i, level in enumerate(levels):
        turns.add(i * 10 * MIN, level)
    return turns


def test_a_rise_under_the_top_of_a_rise_that_turned_back_is_the_cycle_again() -> None:
    turns = cycled([6.8, 7.2, 7.6, 7.0, 6.8, 7.2])
    assert turns.within(7.6, rising=True)
    assert not turns.within(7.8, rising=True)


def test_after_the_range_is_left_upwards_no_earlier_top_stands_for_the_cycles_reach() -> None:
    turns = cycled([6.8, 7.2, 7.6, 7.0, 6.8, 7.2, 7.7])
    turns.left_range(rising=True)
    assert not turns.within(7.0, rising=True)


def test_the_fall_back_from_an_excursion_is_no_peak_of_a_cycle() -> None:
    # Back in range at 7.9 and falling: the excursion's top is not remembered as a cycle's.
    turns = cycled([6.8, 7.4, 7.9])
    turns.left_range(rising=True)
    for i, level in enumerate([7.9, 7.5, 7.0, 6.6, 7.0, 7.4]):
        turns.add((10 + i) * 10 * MIN, level)
    assert not turns.within(7.4, rising=True)


def test_leaving_the_range_downwards_forgets_the_troughs_and_keeps_the_peaks() -> None:
    turns = cycled([4.0, 3.6, 3.2, 3.8, 4.2, 3.9])
    assert turns.within(3.3, rising=False) and turns.within(4.1, rising=True)
    turns.left_range(rising=False)
    assert not turns.within(3.3, rising=False)
    assert turns.within(4.1, rising=True)


@given(st.lists(st.floats(-5.0, 12.0), max_size=40), st.booleans())
def test_after_leaving_the_range_the_memory_rebuilds_from_the_next_turn(
    levels: list[float], rising: bool
) -> None:
    turns = cycled(levels)
    turns.left_range(rising=rising)
    assert not turns.within(100.0 if not rising else -100.0, rising=rising)
    # A full turn after the excursion is remembered again.
    base = 7.0
    later = [base, base + 2 * TURN_C, base] if rising else [base, base - 2 * TURN_C, base]
    for i, level in enumerate(later):
        turns.add((100 + i) * 10 * MIN, level)
    assert turns.within(base + TURN_C if rising else base - TURN_C, rising=rising)
