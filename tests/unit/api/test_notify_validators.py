"""The validators of the notification API's bodies: escalation levels and e-mail addresses.
Whatever they are given, they accept it in its checked shape or refuse it with ValueError,
never with any other error; what they accept is what SMTP and the escalation worker can use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.schemas_notify import MAX_AFTER_MIN, email_address, parse_levels

PREFIX = st.from_regex(r"[0-9a-f]{8}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
LEVEL_LIKE = st.fixed_dictionaries(
    {
        "after_min": st.integers(-5, MAX_AFTER_MIN + 5) | JSON,
        "keys": st.lists(PREFIX | JSON, max_size=22),
    }
)


@given(st.lists(LEVEL_LIKE, max_size=12) | JSON)
def test_levels_are_accepted_in_their_checked_shape_or_refused_with_value_error(raw):
    try:
        levels = parse_levels(raw)
    except ValueError:
        return
    assert 1 <= len(levels) <= 10
    minutes = [level["after_min"] for level in levels]
    assert minutes == sorted(set(minutes)) and minutes[0] >= 0 and minutes[-1] <= MAX_AFTER_MIN
    for level in levels:
        assert 1 <= len(level["keys"]) == len(set(level["keys"])) <= 20


@given(st.lists(st.integers(0, MAX_AFTER_MIN), min_size=1, max_size=10, unique=True), PREFIX)
def test_rising_levels_with_keys_are_accepted_as_given(minutes, key):
    raw = [{"after_min": m, "keys": [key]} for m in sorted(minutes)]
    assert parse_levels(raw) == raw


@pytest.mark.parametrize(
    "raw, message",
    [
        pytest.param([], "1 to 10 levels", id="no level"),
        pytest.param(
            [{"after_min": 5, "keys": ["0a1b2c3d"]}, {"after_min": 5, "keys": ["0a1b2c3d"]}],
            "above the level before",
            id="two levels at one minute",
        ),
        pytest.param(
            [{"after_min": True, "keys": ["0a1b2c3d"]}],
            "whole number",
            id="a boolean is not minutes",
        ),
        pytest.param(
            [{"after_min": 0, "keys": ["cw_0a1b2c3d"]}],
            "8-hex-digit prefix",
            id="a whole key is not a prefix",
        ),
        pytest.param([{"after_min": 0, "keys": []}], "1 to 20", id="a level with nobody"),
    ],
)
def test_levels_that_cannot_work_are_refused_saying_why(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_levels(raw)


@given(st.text(max_size=80))
def test_an_address_is_accepted_unchanged_as_ascii_local_at_domain_or_refused(text):
    try:
        accepted = email_address(text)
    except ValueError:
        return
    local, _, domain = accepted.rpartition("@")
    assert accepted == text and text.isascii() and local and "." in domain
    assert not any(c.isspace() or c in "<>\r\n" for c in text)


@pytest.mark.parametrize(
    "address, accepted",
    [
        pytest.param("ops@example.com", True, id="a plain address"),
        pytest.param(
            "night.shift+reefer@ops.acme-logistics.co.uk", True, id="dots, plus and subdomains"
        ),
        pytest.param("Ops <ops@example.com>", False, id="a display name is not an address"),
        pytest.param("ops@example.com\r\nBcc: x@evil.example", False, id="a header injection"),
        pytest.param("ops@localhost", False, id="a domain without a dot"),
        pytest.param(".ops@example.com", False, id="a leading dot"),
        pytest.param("opérations@example.com", False, id="non-ASCII needs SMTPUTF8, refused"),
    ],
)
def test_addresses(address, accepted):
    if accepted:
        assert email_address(address) == address
    else:
        with pytest.raises(ValueError):
            email_address(address)
