"""Whatever a reading holds is what a real InfluxDB gives back: strings, tags, floats, integers."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.reading import Reading
from ingest.influx_client import InfluxClient
from ingest.line_protocol import REJECTS, point_line, telemetry_line

pytestmark = pytest.mark.integration

# InfluxDB 1.x stores text as UTF-8; lone surrogates cannot be encoded at all.
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=128)
floats = st.floats(allow_nan=False, allow_infinity=False)
tag_texts = texts.filter(lambda t: "\n" not in t and "\r" not in t and not t.endswith("\\"))


@pytest.fixture
def client(influx_db):
    server, db = influx_db
    c = InfluxClient(server.url, db)
    c.create_database()
    yield c, server, db
    c.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(texts, floats, st.integers(0, 2**63 - 1)), min_size=1, max_size=40))
def test_string_float_and_integer_fields_read_back_unchanged(client, values):
    c, server, db = client
    device = "rt-" + str(abs(hash(tuple(values))) % 10**12)
    readings = [
        Reading(device, 1_700_000_000_000 + i, seq=seq, temp_c=f, seal_id=s)
        for i, (s, f, seq) in enumerate(values)
    ]
    c.write("\n".join(telemetry_line(r) for r in readings).encode())
    rows = server.query(
        "SELECT seal_id, temp_c, seq FROM telemetry WHERE device_id = $d", db, params={"d": device}
    )
    got = [(row["seal_id"], row["temp_c"], row["seq"]) for row in rows]
    # JSON cannot tell 5.0 from 5, so compare floats numerically and exactly.
    assert len(got) == len(values)
    for (s, f, seq), (s2, f2, seq2) in zip(values, got, strict=True):
        assert s2 == s and seq2 == seq
        assert float(f2) == f and math.copysign(1, float(f2) or 1) == math.copysign(1, f or 1)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tag_texts, texts)
def test_tag_values_and_string_fields_of_generic_points_read_back_unchanged(client, tag, text):
    c, server, db = client
    c.write(point_line(REJECTS, {"reason": tag}, {"payload": text}, 1_000).encode())
    rows = server.query(
        f"SELECT payload, reason FROM {REJECTS} WHERE reason = $r", db, params={"r": tag}
    )
    assert [(r["reason"], r["payload"]) for r in rows] == [(tag, text)]
