"""Wire-format decoding: MQTT topic and payload bytes to readings or named rejects.

This is the only place that knows the tracker wire format of docs/wire-format.md.
It is pure (the clock comes in as `now_ms`) and never raises on input: every
structural fault becomes a `Reject` with a stable `reason` that metrics,
`ingest_rejects` and tests rely on. Physically implausible but well-formed
values are kept; judging them is the detectors' job. An array payload is a
store-and-forward upload, so each element stands or falls on its own. Any
device can send any bytes, so nothing here is unbounded: details describe
values without formatting them whole (no recursion into nested arrays, no
arithmetic on integers thousands of digits long), and one message yields at
most `MAX_REJECTS_PER_MESSAGE` detailed rejects, the rest only counted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from detectors.jsonvalue import describe
from detectors.reading import DEVICE_ID_RE, DOOR_STATES, FLOAT_CHANNELS, SEAL_STATES, Reading

MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_FUTURE_MS: Final = 10 * 60 * 1000
#: Earliest accepted event time (2000-01-01): a tracker whose clock was never
#: set reports 1970, which would silently land decades away from its shipment.
MIN_TS_MS: Final = 946_684_800_000
MAX_SEAL_ID_LEN: Final = 128
#: How much of a rejected payload is kept as evidence.
EXCERPT_BYTES: Final = 1024
#: Detailed rejects kept from one message; the rest of a hostile upload is only counted, so
#: a 256 KiB array of bare numbers costs ten reject points, not 131,000.
MAX_REJECTS_PER_MESSAGE: Final = 10
#: Default bound on a reading's age: every week a write spans opens an InfluxDB shard.
DEFAULT_MAX_AGE_MS: Final = 30 * 86_400_000
#: A UTF-8 byte order mark, which a message (or a recording line) may start with and is ignored.
UTF8_BOM: Final = b"\xef\xbb\xbf"
TOPIC_PREFIX: Final = "cargo/v1/"
TOPIC_SUFFIX: Final = "/telemetry"
_INT64_MAX: Final = 2**63 - 1
_TWO_63: Final = float(2**63)
_TEN_YEARS_MS: Final = 10 * 366 * 86_400_000
#: Unknown field names are kept this long for the counters.
MAX_FIELD_NAME_CHARS: Final = 64

#: Every reason a payload or element can be rejected for.
REASONS: Final = (
    "payload_too_large",
    "invalid_topic",
    "invalid_encoding",
    "invalid_json",
    "empty_payload",
    "not_an_object",
    "missing_device_id",
    "invalid_device_id",
    "device_mismatch",
    "missing_ts",
    "invalid_ts",
    "future_ts",
    "too_old",
    "invalid_type",
    "non_finite",
    "out_of_range",
    "invalid_value",
)


@dataclass(frozen=True, slots=True)
class Reject:
    """Why (part of) a payload was refused, with enough context to find its sender."""

    reason: str
    detail: str
    device_id: str
    excerpt: bytes


@dataclass(slots=True)
class Decoded:
    """Everything one MQTT message turned into."""

    readings: list[Reading] = field(default_factory=list)
    #: At most `MAX_REJECTS_PER_MESSAGE` rejects with their detail and excerpt.
    rejects: list[Reject] = field(default_factory=list)
    #: Rejects past that bound, counted by reason (a plain dict: it is made per message).
    more_rejects: dict[str, int] = field(default_factory=dict)
    unknown_fields: list[str] = field(default_factory=list)

    def add_reject(self, reject: Reject) -> None:
        if len(self.rejects) < MAX_REJECTS_PER_MESSAGE:
            self.rejects.append(reject)
        else:
            self.more_rejects[reject.reason] = self.more_rejects.get(reject.reason, 0) + 1

    @property
    def reject_count(self) -> int:
        return len(self.rejects) + sum(self.more_rejects.values())


class _Invalid(Exception):
    """Internal: one element failed validation; carries the reason out of the checks."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def _no_constants(name: str) -> Any:
    raise _Invalid("non_finite", f"{name} is not a number JSON allows")


def device_from_topic(topic: str) -> str | None:
    """The device id a telemetry topic names, or None when the topic is not one.

    >>> device_from_topic("cargo/v1/trk-7/telemetry"), device_from_topic("cargo/v1/a/b/telemetry")
    ('trk-7', None)
    """
    if not (topic.startswith(TOPIC_PREFIX) and topic.endswith(TOPIC_SUFFIX)):
        return None
    device = topic[len(TOPIC_PREFIX) : -len(TOPIC_SUFFIX)]
    return device if DEVICE_ID_RE.fullmatch(device) else None


def decode(
    topic: str, payload: bytes, now_ms: int, max_age_ms: int | None = DEFAULT_MAX_AGE_MS
) -> Decoded:
    """Decode one MQTT message; never raises, whatever the bytes.

    `max_age_ms` bounds how far behind `now_ms` a reading may be (None: no bound, for
    replaying recordings).

    >>> d = decode("cargo/v1/t1/telemetry", b'{"device_id":"t1","ts":1700000000000,"temp_c":4}',
    ...            now_ms=1_700_000_000_000)
    >>> d.readings[0].temp_c, d.rejects
    (4.0, [])
    >>> decode("cargo/v1/t1/telemetry", b"{oops", now_ms=0).rejects[0].reason
    'invalid_json'
    """
    out = Decoded()
    device = device_from_topic(topic)
    if device is None:
        out.add_reject(
            _reject("invalid_topic", f"not a telemetry topic: {topic[:200]!r}", "", payload)
        )
        return out
    return _decode_payload(out, device, payload, now_ms, max_age_ms)


def decode_unrouted(
    payload: bytes, now_ms: int, max_age_ms: int | None = DEFAULT_MAX_AGE_MS
) -> Decoded:
    """Decode a message that comes without its topic (a line of a recording); never raises.

    The topic it was published on is taken to be that of the first element naming a valid
    device id, so every element is judged as it was live: one naming no device, or an
    invalid one, is rejected for that, and one naming another device is a mismatch.

    >>> d = decode_unrouted(b'\\xef\\xbb\\xbf[{"ts": 1700000000000}, {"device_id": "t1",'
    ...                     b' "ts": 1700000000000}]', now_ms=1_700_000_000_000)
    >>> [r.device_id for r in d.readings], [j.reason for j in d.rejects]
    (['t1'], ['missing_device_id'])
    """
    return _decode_payload(Decoded(), None, payload, now_ms, max_age_ms)


def _decode_payload(
    out: Decoded, device: str | None, payload: bytes, now_ms: int, max_age_ms: int | None
) -> Decoded:
    """Decode a payload published by `device` (None: the one its elements name) into `out`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        detail = f"{len(payload)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit"
        out.add_reject(_reject("payload_too_large", detail, device or "", payload))
        return out
    if payload.startswith(UTF8_BOM):
        # RFC 8259 lets a parser ignore a byte order mark; some firmware JSON writers add one.
        payload = payload[len(UTF8_BOM) :]
    if not payload.strip():
        # What a client publishes to clear a retained message: no reading, and no JSON error.
        out.add_reject(
            _reject("empty_payload", "an empty message carries no reading", device or "", b"")
        )
        return out
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        # The fast parser only says "no"; the standard one says why (and accepts
        # the few valid documents orjson refuses, such as integers past 64 bits).
        parsed = _parse_slowly(payload, device or "")
        if isinstance(parsed, Reject):
            out.add_reject(parsed)
            return out
        doc = parsed

    elements = doc if type(doc) is list else [doc]
    if device is None:
        # No element can match "": each is then rejected for its own missing or invalid id.
        device = next(
            (
                d
                for e in elements
                if type(e) is dict
                and type(d := e.get("device_id")) is str
                and DEVICE_ID_RE.fullmatch(d)
            ),
            "",
        )
    if not elements:
        out.add_reject(
            _reject("empty_payload", "an empty array carries no reading", device, payload)
        )
        return out
    oldest_ms = None if max_age_ms is None else now_ms - max_age_ms
    for element in elements:
        try:
            out.readings.append(_reading(element, device, now_ms, oldest_ms, out.unknown_fields))
        except _Invalid as exc:
            if len(out.rejects) >= MAX_REJECTS_PER_MESSAGE:
                out.more_rejects[exc.reason] = out.more_rejects.get(exc.reason, 0) + 1
                continue
            excerpt = payload if len(elements) == 1 else _element_bytes(element)
            out.add_reject(_reject(exc.reason, exc.detail, device, excerpt))
    return out


def _parse_slowly(payload: bytes, device: str) -> object:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject("invalid_encoding", f"not UTF-8: {exc.reason}", device, payload)
    try:
        return json.loads(text, parse_constant=_no_constants)
    except _Invalid as exc:
        return _reject(exc.reason, exc.detail, device, payload)
    except (ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        return _reject("invalid_json", detail, device, payload)


def _reject(reason: str, detail: str, device: str, payload: bytes) -> Reject:
    return Reject(reason, detail, device, payload[:EXCERPT_BYTES])


def _element_bytes(element: object) -> bytes:
    """The element as JSON for evidence, or a description when it cannot be written back."""
    try:
        # orjson refuses (rather than recurses into) nesting past its limit and big integers.
        return orjson.dumps(element)[:EXCERPT_BYTES]
    except (orjson.JSONEncodeError, TypeError):
        return f"<{describe(element)}>".encode()


def _reading(
    obj: object, topic_device: str, now_ms: int, oldest_ms: int | None, unknown: list[str]
) -> Reading:
    if type(obj) is not dict:
        raise _Invalid("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    device = obj.get("device_id")
    if device != topic_device:
        if device is None:
            raise _Invalid("missing_device_id", "device_id is required")
        if type(device) is not str or not DEVICE_ID_RE.fullmatch(device):
            raise _Invalid(
                "invalid_device_id",
                f"device_id must match [A-Za-z0-9._-]{{1,64}}, got {describe(device)}",
            )
        raise _Invalid(
            "device_mismatch", f"device_id {device!r} differs from the topic's {topic_device!r}"
        )
    ts_ms = _ts_ms(obj.get("ts"), now_ms)
    if oldest_ms is not None and ts_ms < oldest_ms:
        raise _Invalid(
            "too_old",
            f"ts is {(now_ms - ts_ms) / 86_400_000:.1f} days old, past the"
            f" {(now_ms - oldest_ms) / 86_400_000:g}-day bound (CARGOWATCH_MAX_READING_AGE_DAYS)",
        )

    # One pass over what was sent, rather than a probe for every channel that might be.
    values: dict[str, Any] = {}
    extra: list[str] = []
    for name, v in obj.items():
        kind = _FIELD_KIND.get(name)
        if kind is None:
            extra.append(name)
        elif v is None or kind is _ID:
            continue
        elif kind is _FLOAT:
            t = type(v)
            if t is float:
                if v - v != 0.0:  # NaN or ±inf
                    raise _Invalid("non_finite", f"{name} must be finite")
                values[name] = v
            else:
                values[name] = _float(name, v)
        elif kind is _SEQ:
            if type(v) is not int:
                if type(v) is float and not -_TWO_63 < v < _TWO_63:
                    # orjson reads an integer literal past 64 bits as a float: it was an
                    # integer that is too large, not a float.
                    raise _Invalid("out_of_range", "seq must be between 0 and 2^63-1")
                raise _Invalid("invalid_type", f"seq must be an integer, got {type(v).__name__}")
            if not 0 <= v <= _INT64_MAX:
                raise _Invalid("out_of_range", "seq must be between 0 and 2^63-1")
            values[name] = v
        else:
            values[name] = _text(name, v, _TEXT_ALLOWED[name])
    lat = values.get("lat")
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise _Invalid("out_of_range", f"lat {lat} is outside ±90 degrees")
    lon = values.get("lon")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise _Invalid("out_of_range", f"lon {lon} is outside ±180 degrees")
    if extra:
        # Names are counted in the service's metrics: a hostile one must not be huge.
        unknown.extend(name[:MAX_FIELD_NAME_CHARS] for name in extra)
    return Reading(device_id=device, ts_ms=ts_ms, **values)


_ID, _FLOAT, _SEQ, _TEXT = object(), object(), object(), object()
_FIELD_KIND: Final = {
    "device_id": _ID,
    "ts": _ID,
    "seq": _SEQ,
    "seal": _TEXT,
    "door": _TEXT,
    "seal_id": _TEXT,
    **{name: _FLOAT for name in FLOAT_CHANNELS},
}
_TEXT_ALLOWED: Final[dict[str, frozenset[str] | None]] = {
    "seal": SEAL_STATES,
    "door": DOOR_STATES,
    "seal_id": None,
}


def _float(name: str, v: object) -> float:
    if type(v) is int:
        try:
            f = float(v)
        except OverflowError:
            raise _Invalid("non_finite", f"{name} is too large for a float") from None
        if math.isfinite(f):
            return f
        raise _Invalid("non_finite", f"{name} must be finite")
    raise _Invalid("invalid_type", f"{name} must be a number, got {type(v).__name__}")


def _text(name: str, v: object, allowed: frozenset[str] | None) -> str:
    if type(v) is not str:
        raise _Invalid("invalid_type", f"{name} must be a string, got {type(v).__name__}")
    if allowed is not None:
        if v not in allowed:
            raise _Invalid(
                "invalid_value", f"{name} must be one of {sorted(allowed)}, got {v!r:.40}"
            )
    elif not 0 < len(v) <= MAX_SEAL_ID_LEN:
        raise _Invalid("invalid_value", f"{name} must be 1 to {MAX_SEAL_ID_LEN} characters")
    elif not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            # JSON can escape a lone surrogate ("\\ud800"); no UTF-8 store can hold one.
            raise _Invalid("invalid_value", f"{name} holds a lone UTF-16 surrogate") from None
    return v


def _ts_ms(ts: object, now_ms: int) -> int:
    if ts is None:
        raise _Invalid("missing_ts", "ts is required")
    if type(ts) is int:
        ms = ts
    elif type(ts) is str:
        ms = _parse_rfc3339(ts)
    elif type(ts) is float and not -_TWO_63 < ts < _TWO_63:
        raise _Invalid("invalid_ts", "ts is an integer far outside any date (past 64 bits)")
    else:
        raise _Invalid(
            "invalid_ts",
            f"ts must be an RFC 3339 string or epoch ms integer, got {type(ts).__name__}",
        )
    if ms > now_ms + MAX_FUTURE_MS:
        if ms - now_ms > _TEN_YEARS_MS:
            # Also keeps arithmetic on an integer hundreds of digits long out of the detail.
            raise _Invalid("future_ts", "ts is more than ten years ahead of the ingester's clock")
        raise _Invalid(
            "future_ts", f"ts is {(ms - now_ms) / 60000:.1f} min ahead of the ingester's clock"
        )
    if ms < MIN_TS_MS:
        raise _Invalid("invalid_ts", "ts is before 2000-01-01; is the tracker's clock set?")
    return ms


def _parse_rfc3339(text: str) -> int:
    # fromisoformat accepts more than RFC 3339 (week dates, no separator); the
    # shape check keeps the contract what the documentation says it is.
    if len(text) > 40 or not _RFC3339_RE.fullmatch(text):
        raise _Invalid("invalid_ts", f"ts is not RFC 3339: {text!r:.50}")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid("invalid_ts", f"ts is not a valid date-time: {text!r:.50}") from None
    # Integer arithmetic avoids float rounding moving a reading by a millisecond.
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_RFC3339_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)
_EPOCH: Final = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
