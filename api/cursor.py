"""Opaque page cursors for keyset pagination: where the last page ended, as a short URL-safe token.

A cursor is the base64url text of a small JSON array ``[1, scope, number, text]``: a format
version, which listing it belongs to (``alerts``, ``shipments``), and the sort key of the last
row served (for alerts the microseconds of ``opened_at`` and the alert id). Keyset pagination
(rows strictly after that key) serves every row exactly once across pages even while rows are
added, which offsets cannot. Cursors are validated field by field rather than signed: a forged
cursor can only move where a listing starts, never widen what the caller may see, because every
query applies the caller's filters and visibility afresh; and a signature would need a secret
shared by every API process. `decode` turns any input into a `Cursor` or `CursorInvalid`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Final

VERSION: Final = 1
MAX_TEXT: Final = 200
#: The longest cursor this module writes: the array's frame and number (under 64 bytes) and
#: a key of MAX_TEXT characters of up to 4 UTF-8 bytes each, in base64 (4 characters per 3).
MAX_LENGTH: Final = -(-(64 + 4 * MAX_TEXT) // 3) * 4
#: Microseconds since the epoch fit comfortably; larger numbers are no key of ours.
MAX_NUMBER: Final = 2**62
_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class CursorInvalid(ValueError):
    """The cursor is not one this API wrote for this listing; the client starts over."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The sort key of the last row of a page: an integer and a text, in one listing."""

    scope: str
    number: int
    text: str


def encode(cursor: Cursor) -> str:
    """The opaque token for `cursor`.

    >>> encode(Cursor("alerts", 1_763_800_000_000_000, "al_0123456789abcdef"))
    'WzEsImFsZXJ0cyIsMTc2MzgwMDAwMDAwMDAwMCwiYWxfMDEyMzQ1Njc4OWFiY2RlZiJd'
    """
    # As UTF-8, not \u escapes: an escaped astral character takes 12 bytes, not 4.
    raw = json.dumps(
        [VERSION, cursor.scope, cursor.number, cursor.text],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, scope: str) -> Cursor:
    """The cursor `token` stands for in listing `scope`, or `CursorInvalid` saying why.

    >>> decode(encode(Cursor("alerts", 5, "a")), "alerts")
    Cursor(scope='alerts', number=5, text='a')
    >>> decode("not a cursor!", "alerts")
    Traceback (most recent call last):
    ...
    api.cursor.CursorInvalid: a cursor is base64url text of at most 1152 characters
    """
    if not 0 < len(token) <= MAX_LENGTH or not _ALPHABET.fullmatch(token):
        raise CursorInvalid(f"a cursor is base64url text of at most {MAX_LENGTH} characters")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise CursorInvalid("the cursor is not one this API wrote") from None
    if not (isinstance(value, list) and len(value) == 4 and value[0] == VERSION):
        raise CursorInvalid("the cursor is not one this API wrote")
    _, found_scope, number, text = value
    if found_scope != scope:
        raise CursorInvalid(f"the cursor belongs to another listing, not {scope}")
    if type(number) is not int or not -MAX_NUMBER <= number <= MAX_NUMBER:
        raise CursorInvalid("the cursor's position is out of range")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT or _CONTROL.search(text):
        raise CursorInvalid("the cursor's key is not a valid id")
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, written as a JSON escape
        raise CursorInvalid("the cursor's key is not a valid id") from None
    return Cursor(scope, number, text)
