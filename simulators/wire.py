"""The tracker wire format as the simulator writes it: topics, payloads and messages.

This is the only place that knows the contract in docs/wire-format.md: topic
``cargo/v1/{device_id}/telemetry``, one compact JSON object per reading (an array for a
store-and-forward upload), ``ts`` in epoch milliseconds, ``seq`` counting readings. Payloads
are built with one %-format per reading from columns already rounded to their resolution,
which is several times cheaper than building and serialising a dict per reading. It also makes the
deliberately malformed payloads of the negative-test scenario, each with the reason the
ingester must reject it for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Final, NamedTuple

import numpy as np
import orjson

#: Every field a simulated reading may carry, in the order it is written.
FIELDS: Final = (
    "lat",
    "lon",
    "temp_c",
    "ambient_c",
    "humidity_pct",
    "door",
    "seal",
    "seal_id",
    "light_lux",
    "shock_g",
    "battery_v",
)
_TEXT: Final = frozenset({"door", "seal", "seal_id"})
#: Largest number of readings sent in one store-and-forward array (stays far below 256 KiB).
MAX_UPLOAD_READINGS: Final = 200


def topic(device_id: str) -> str:
    return f"cargo/v1/{device_id}/telemetry"


class Message(NamedTuple):
    """One MQTT message: when it arrives, whose it is, and what it carries.

    Messages order by (arrival_ms, device, order), which is unique, so sorting a fleet's
    messages is deterministic.
    """

    arrival_ms: int
    device: int
    order: int
    topic: str
    #: One JSON object, or the objects of a store-and-forward upload (sent as an array).
    body: bytes | tuple[bytes, ...]
    #: Well-formed readings carried (0 for a malformed payload).
    readings: int

    @property
    def payload(self) -> bytes:
        body = self.body
        return body if isinstance(body, bytes) else b"[" + b",".join(body) + b"]"

    @property
    def lines(self) -> tuple[bytes, ...]:
        """The message as ``--out`` lines: one per reading of an upload, else the payload."""
        body = self.body
        return (body,) if isinstance(body, bytes) else body


@cache
def _format(device_id: str, fields: tuple[str, ...]) -> bytes:
    parts = [f'{{"device_id":"{device_id}","ts":%b,"seq":%b']
    for name in fields:
        parts.append(f',"{name}":"%b"' if name in _TEXT else f',"{name}":%b')
    parts.append("}")
    return "".join(parts).encode()


def _texts(column: np.ndarray) -> list[bytes]:
    """Each value's JSON text: numbers through orjson (shortest round-trip form), bytes as is."""
    if column.dtype.kind == "S":
        return column.tolist()  # type: ignore[no-any-return]
    if not len(column):
        return []
    return orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def encode(
    device_id: str,
    fields: tuple[str, ...],
    ts: np.ndarray,
    seq: np.ndarray,
    columns: Sequence[np.ndarray],
) -> list[bytes]:
    """Encode readings; ``columns`` holds one array per name in ``fields``.

    Numbers must already be rounded to their resolution; text columns are byte strings.
    Formatting a whole column at once in orjson and joining with one %-format per reading
    costs about half of formatting each float in Python.

    >>> encode("trk-1", ("temp_c", "door"), np.array([1700000000000]), np.array([0]),
    ...        [np.array([4.5]), np.array([b"closed"])])
    [b'{"device_id":"trk-1","ts":1700000000000,"seq":0,"temp_c":4.5,"door":"closed"}']
    """
    fmt = _format(device_id, fields)
    texts = [_texts(ts), _texts(seq), *(_texts(c) for c in columns)]
    return [fmt % row for row in zip(*texts, strict=True)]


#: Reasons the ingest decoder gives, in the order the malformed scenario cycles through them.
MALFORMED_REASONS: Final = (
    "invalid_json",
    "invalid_encoding",
    "not_an_object",
    "empty_payload",
    "missing_device_id",
    "invalid_device_id",
    "device_mismatch",
    "missing_ts",
    "invalid_ts",
    "future_ts",
    "invalid_type",
    "non_finite",
    "out_of_range",
    "invalid_value",
    "payload_too_large",
)
#: 2100-01-01T00:00:00Z: ahead of any clock this will meet, so always a future_ts.
_FAR_FUTURE_MS: Final = 4_102_444_800_000


def _head(device: str, ts: int) -> str:
    return f'{{"device_id":"{device}","ts":{ts}'


_MAKERS: Final[dict[str, Callable[[str, int], bytes]]] = {
    "invalid_json": lambda d, ts: (_head(d, ts) + ',"temp_c":4.').encode(),
    "invalid_encoding": lambda d, ts: _head(d, ts).encode() + b',"note":"\xff\xfe"}',
    "not_an_object": lambda d, ts: b'"temp_c=4.1"',
    "empty_payload": lambda d, ts: b"[]",
    "missing_device_id": lambda d, ts: f'{{"ts":{ts},"temp_c":4.1}}'.encode(),
    "invalid_device_id": lambda d, ts: f'{{"device_id":"{d} !","ts":{ts}}}'.encode(),
    "device_mismatch": lambda d, ts: f'{{"device_id":"{d}-x","ts":{ts}}}'.encode(),
    "missing_ts": lambda d, ts: f'{{"device_id":"{d}","temp_c":4.1}}'.encode(),
    "invalid_ts": lambda d, ts: f'{{"device_id":"{d}","ts":"yesterday"}}'.encode(),
    "future_ts": lambda d, ts: (_head(d, _FAR_FUTURE_MS) + "}").encode(),
    "invalid_type": lambda d, ts: (_head(d, ts) + ',"temp_c":"warm"}').encode(),
    "non_finite": lambda d, ts: (_head(d, ts) + ',"temp_c":NaN}').encode(),
    "out_of_range": lambda d, ts: (_head(d, ts) + ',"lat":123.0,"lon":10.0}').encode(),
    "invalid_value": lambda d, ts: (_head(d, ts) + ',"seal":"broken"}').encode(),
    "payload_too_large": lambda d, ts: (
        _head(d, ts) + ',"note":"' + "x" * (256 * 1024) + '"}'
    ).encode(),
}


def malformed(device_id: str, ts_ms: int, reason: str) -> bytes:
    """A payload from ``device_id`` that the ingester must reject for ``reason``.

    None holds a line break, so each stays one line of a ``--out`` file.
    """
    try:
        return _MAKERS[reason](device_id, ts_ms)
    except KeyError:
        raise ValueError(f"no malformed payload for reason {reason!r}") from None
