"""Taking back the pickled state of a slotted class, also one an older release wrote.

Detectors, their helpers and the alert book are pickled into engine snapshots, and a release
that adds a slot must still load a snapshot written before it. Each such class sets defaults
for the slots an older release lacked, then lets the pickled ones overwrite them with
`restore_slots`, which accepts both shapes `pickle` gives a slotted class's state (a
`(None, slots)` pair, or the plain dictionary of a class with a `__dict__`).
"""

from __future__ import annotations

from typing import TypeAlias

#: What `pickle` hands to `__setstate__` of a class with `__slots__` and no `__getstate__`.
SlotState: TypeAlias = tuple[None, dict[str, object]] | dict[str, object]


def restore_slots(obj: object, state: SlotState) -> dict[str, object]:
    """Set every pickled slot on `obj` and return them, to tell which an older release lacked.

    >>> class P:
    ...     __slots__ = ("a", "b")
    >>> p = P.__new__(P)
    >>> p.b = 2  # the default for a slot the snapshot lacks
    >>> sorted(restore_slots(p, (None, {"a": 1})))
    ['a']
    >>> (p.a, p.b)
    (1, 2)
    """
    slots = state[1] if isinstance(state, tuple) else state
    for name, value in slots.items():
        setattr(obj, name, value)
    return slots
