"""Page cursors round-trip exactly, and any input at all decodes to a valid cursor or a clean
`CursorInvalid`: never another exception, never a cursor with a key the store cannot hold."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.cursor import MAX_LENGTH, MAX_NUMBER, MAX_TEXT, Cursor, CursorInvalid, decode, encode

KEY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=MAX_TEXT
)


@given(
    scope=st.sampled_from(["alerts", "shipments"]),
    number=st.integers(-MAX_NUMBER, MAX_NUMBER),
    text=KEY_TEXT,
)
def test_every_cursor_this_api_writes_decodes_to_itself(scope, number, text):
    cursor = Cursor(scope, number, text)
    assert decode(encode(cursor), scope) == cursor


def check(token: str) -> None:
    try:
        cursor = decode(token, "alerts")
    except CursorInvalid:
        return
    assert cursor.scope == "alerts"
    assert type(cursor.number) is int and abs(cursor.number) <= MAX_NUMBER
    assert 0 < len(cursor.text) <= MAX_TEXT
    cursor.text.encode()  # storable: no lone surrogate
    assert "\x00" not in cursor.text


@given(st.binary(max_size=600))
def test_any_bytes_base64_encoded_decode_to_a_cursor_or_a_clean_error(raw):
    check(base64.urlsafe_b64encode(raw).decode().rstrip("="))


@given(st.text(max_size=600))
def test_any_text_decodes_to_a_cursor_or_a_clean_error(token):
    check(token)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@given(st.lists(JSON, min_size=0, max_size=6))
def test_any_json_array_behind_valid_base64_decodes_or_fails_cleanly(value):
    check(base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("="))


@pytest.mark.parametrize(
    "token, reason",
    [
        pytest.param(
            encode(Cursor("shipments", 1, "S")),
            "another listing",
            id="another listing's cursor is refused",
        ),
        pytest.param(
            "A" * (MAX_LENGTH + 1),
            f"at most {MAX_LENGTH}",
            id="an overlong cursor is refused before decoding",
        ),
        pytest.param(
            encode(Cursor("alerts", 1, "S")) + "!",
            "base64url",
            id="a character outside base64url is refused",
        ),
        pytest.param(
            base64.urlsafe_b64encode(b'[1,"alerts",1,"a\\u0000"]').decode(),
            "not a valid id",
            id="a NUL in the key is refused",
        ),
        pytest.param(
            base64.urlsafe_b64encode(b'[1,"alerts",true,"a"]').decode(),
            "out of range",
            id="a boolean position is refused",
        ),
    ],
)
def test_a_refused_cursor_says_why(token, reason):
    with pytest.raises(CursorInvalid, match=reason):
        decode(token, "alerts")
