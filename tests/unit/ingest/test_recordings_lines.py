"""Lines of a recording: a byte order mark is ignored, and every reject names its own reason.

A recording's line carries no topic; each is judged as if published by the device it
names, so the reason a line or element is refused is the one the live decoder would give.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decode import REASONS
from ingest.recordings import read_jsonl

T0 = 1_793_714_400_000  # 2026-11-03T14:00:00Z
BOM = b"\xef\xbb\xbf"


def read(tmp_path, *lines: bytes) -> tuple[list[tuple[str, int]], dict[str, int]]:
    path = tmp_path / "readings.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rejected: dict[str, int] = {}
    readings = [(r.device_id, r.ts_ms) for r in read_jsonl(path, rejected)]
    return readings, rejected


def line(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_a_file_that_starts_with_a_byte_order_mark_loses_nothing(tmp_path):
    readings, rejected = read(
        tmp_path,
        BOM + line({"device_id": "x1", "ts": T0, "temp_c": 5}),
        line({"device_id": "x1", "ts": T0 + 60_000, "temp_c": 5}),
    )
    assert readings == [("x1", T0), ("x1", T0 + 60_000)]
    assert rejected == {}


def test_an_upload_after_a_byte_order_mark_keeps_every_reading(tmp_path):
    upload = [{"device_id": "x1", "ts": T0 + k * 60_000} for k in range(3)]
    readings, rejected = read(tmp_path, BOM + line(upload))
    assert readings == [("x1", T0), ("x1", T0 + 60_000), ("x1", T0 + 120_000)]
    assert rejected == {}


def test_a_line_holding_only_a_byte_order_mark_is_blank(tmp_path):
    readings, rejected = read(tmp_path, BOM, BOM + b"  ", line({"device_id": "x1", "ts": T0}))
    assert readings == [("x1", T0)]
    assert rejected == {}


def test_an_invalid_device_id_is_rejected_as_one_not_as_a_bad_topic(tmp_path):
    readings, rejected = read(
        tmp_path,
        line({"device_id": "has space", "ts": T0}),
        line({"device_id": "a/b", "ts": T0}),
        line({"device_id": 7, "ts": T0}),
    )
    assert readings == []
    assert rejected == {"invalid_device_id": 3}


def test_an_upload_is_published_by_the_first_device_it_validly_names(tmp_path):
    readings, rejected = read(
        tmp_path,
        line(
            [
                {"ts": T0},
                {"device_id": "bad id", "ts": T0},
                {"device_id": "x1", "ts": T0 + 1000},
                {"device_id": "x2", "ts": T0 + 2000},
                {"device_id": "x1", "ts": T0 + 3000},
            ]
        ),
    )
    assert readings == [("x1", T0 + 1000), ("x1", T0 + 3000)]
    assert rejected == {"missing_device_id": 1, "invalid_device_id": 1, "device_mismatch": 1}


def test_a_line_only_the_standard_parser_reads_is_judged_on_its_content(tmp_path):
    # orjson refuses a number past a double's range and a lone surrogate; the decoder's
    # second parser reads both, and the values are what is wrong, not the device.
    readings, rejected = read(
        tmp_path,
        b'{"device_id": "x1", "ts": %d, "temp_c": 1e400}' % T0,
        b'{"device_id": "x1", "ts": %d, "seal_id": "\\ud800"}' % T0,
    )
    assert readings == []
    assert rejected == {"non_finite": 1, "invalid_value": 1}


def test_every_reject_of_a_hostile_upload_is_counted(tmp_path):
    readings, rejected = read(tmp_path, line(list(range(15))))
    assert readings == []
    assert rejected == {"not_an_object": 15}


def message() -> st.SearchStrategy[bytes]:
    """Bytes of any kind, or near-valid messages."""
    return st.one_of(
        st.binary(max_size=120),
        st.builds(
            line,
            st.fixed_dictionaries(
                {},
                optional={
                    "device_id": st.one_of(st.sampled_from(["x1", "x2", "", "a b"]), st.integers()),
                    "ts": st.one_of(st.integers(min_value=0, max_value=2**66), st.text(max_size=8)),
                    "temp_c": st.one_of(st.floats(), st.none(), st.text(max_size=3)),
                },
            ),
        ),
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.booleans(), message()), min_size=1, max_size=6))
def test_any_bytes_give_readings_or_named_rejects_and_a_bom_changes_nothing(tmp_path, lines):
    bare = [body for _, body in lines]
    # One mark is ignored; a second one is the message's first character, and no JSON.
    marked = [BOM + body if mark and not body.startswith(BOM) else body for mark, body in lines]
    readings, rejected = read(tmp_path, *marked)
    assert (readings, rejected) == read(tmp_path, *bare)
    assert set(rejected) <= set(REASONS)
    # A line is one message or blank: a message with content yields a reading or a reason.
    messages = [m for m in b"\n".join(marked).split(b"\n") if m.removeprefix(BOM).strip()]
    assert len(readings) + sum(rejected.values()) >= len(messages)
