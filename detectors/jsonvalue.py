"""Bounded descriptions of untrusted JSON values, for error messages that name what was wrong.

Payloads and manifests come from devices and API clients that may send anything,
including arrays nested deeper than the interpreter's stack and integers thousands
of digits long. `repr` of such a value raises or takes quadratic time; these
helpers name the value's kind and size instead and never recurse.
"""

from __future__ import annotations


def describe(value: object) -> str:
    """A short, bounded description of any decoded JSON value, for a reject's detail.

    Never formats a value whole: a nested array is named, not printed (printing one a
    thousand levels deep recurses past the stack), and a huge integer is measured, not
    converted.

    >>> describe("x" * 100), describe([[[]]]), describe(10**400), describe(2.5)
    ("'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'...", 'an array', 'an integer of 1329 bits', '2.5')
    """
    t = type(value)
    if t is str:
        text: str = value  # type: ignore[assignment]
        return repr(text[:40]) + ("..." if len(text) > 40 else "")
    if t is int:
        n: int = value  # type: ignore[assignment]
        return str(n) if n.bit_length() <= 64 else f"an integer of {n.bit_length()} bits"
    if t is list:
        return "an array"
    if t is dict:
        return "an object"
    if value is None or t is bool or t is float:
        return repr(value)
    return t.__name__
