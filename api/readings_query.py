"""A device's stored readings over a time range, channel by channel, downsampled when long.

What `/shipments/{id}/readings` serves. The device id and the times reach InfluxDB only as
bound parameters, so no text a client sends can change the query; channel names cannot be
bound (InfluxQL identifiers), so they are checked against the wire format's channels before
any query is built. A range holding more than `max_points` values of a channel is grouped
into at most `max_points` time buckets on the server: numeric channels keep each bucket's
mean, min and max (a five-minute spike must survive an hour's average, since it is what an
operator is looking for), text channels (seal, door) the bucket's last state. Requests that
cannot be answered as asked raise `ReadingsQueryError` (the API's 422); InfluxDB failures
raise the client's `InfluxError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from detectors.profiles import Shipment
from detectors.reading import FLOAT_CHANNELS, TEXT_CHANNELS
from ingest.influx_client import InfluxClient
from ingest.line_protocol import TELEMETRY

#: Every channel a reading can carry, as the wire format names them, in storage order.
CHANNELS: Final = (*FLOAT_CHANNELS, *TEXT_CHANNELS)
#: Longest range one request may span; a year and a bit covers any shipment.
MAX_RANGE_MS: Final = 400 * 86_400_000
#: Most buckets a caller may ask for; beyond it a response is too large to be useful.
MAX_POINTS_LIMIT: Final = 100_000
#: Latest time InfluxDB can store (int64 nanoseconds, 2262-04-11), in milliseconds.
MAX_TIME_MS: Final = (2**63 - 1) // 1_000_000
#: Bucket widths an operator can read at a glance; the smallest that fits is used.
_NICE_INTERVALS_MS: Final = (
    *(1, 2, 5, 10, 20, 50, 100, 200, 500),
    *(s * 1_000 for s in (1, 2, 5, 10, 15, 30)),
    *(m * 60_000 for m in (1, 2, 5, 10, 15, 30)),
    *(h * 3_600_000 for h in (1, 2, 3, 6, 12, 24)),
)
_DAY_MS: Final = 86_400_000
_WHERE: Final = "device_id = $device AND time >= $start AND time < $end"


class ReadingsQueryError(ValueError):
    """The request cannot be answered as asked; the message says which part is wrong."""


class UnknownChannel(ReadingsQueryError):
    """A channel name that is not one of `CHANNELS`."""

    def __init__(self, channel: str) -> None:
        # A client's text, echoed back: bounded so a huge name cannot make a huge message.
        self.channel = channel[:64]
        super().__init__(f"unknown channel {self.channel!r}; one of {', '.join(CHANNELS)}")


class InvalidRange(ReadingsQueryError):
    """The time range is empty, reversed, too long or outside what InfluxDB can hold."""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of a channel at `at_ms` (epoch ms).

    Raw: the stored value, `min` and `max` None. Downsampled: `at_ms` is the bucket's
    start and `value` its mean (numeric) or last state (text); numeric buckets also carry
    their `min` and `max`.
    """

    at_ms: int
    value: float | str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """The points of one channel, oldest first; times without a value are left out."""

    channel: str
    points: tuple[SeriesPoint, ...]


@dataclass(frozen=True, slots=True)
class ReadingSeries:
    """A device's channels over [start_ms, end_ms), raw or in `interval_ms` buckets."""

    device_id: str
    start_ms: int
    end_ms: int
    channels: tuple[ChannelSeries, ...]
    downsampled: bool
    #: Bucket width when downsampled, else None; buckets start at `start_ms`.
    interval_ms: int | None


def readings(
    client: InfluxClient,
    device_id: str,
    start_ms: int,
    end_ms: int,
    channels: Sequence[str] | None,
    max_points: int = 2000,
) -> ReadingSeries:
    """The device's `channels` (None: all of `CHANNELS`) with start_ms <= ts < end_ms.

    Raises `UnknownChannel` before anything is sent, `InvalidRange` or `ReadingsQueryError`
    for a range or `max_points` out of bounds, and the client's `InfluxError` when InfluxDB
    cannot answer. Any `device_id` text is safe: it is only ever a bound parameter, and an
    id no tracker has yields empty series.
    """
    names = _checked_channels(channels)
    _check_range(start_ms, end_ms)
    if not 1 <= max_points <= MAX_POINTS_LIMIT:
        raise ReadingsQueryError(f"max_points must be 1 to {MAX_POINTS_LIMIT}, got {max_points}")
    params = {"device": device_id, "start": start_ms * 1_000_000, "end": end_ms * 1_000_000}
    if _most_values(client, names, params) <= max_points:
        series = _raw(client, names, params)
        return ReadingSeries(device_id, start_ms, end_ms, series, False, None)
    interval = bucket_interval_ms(end_ms - start_ms, max_points)
    series = _buckets(client, names, params, interval, start_ms % interval)
    return ReadingSeries(device_id, start_ms, end_ms, series, True, interval)


def shipment_readings(
    client: InfluxClient,
    shipment: Shipment,
    channels: Sequence[str] | None,
    now_ms: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    max_points: int = 2000,
) -> ReadingSeries:
    """`readings` of the shipment's device, by default from departure to arrival (inclusive).

    An unknown or future arrival defaults to `now_ms` (inclusive), since a shipment still in
    transit has readings up to now; an unknown departure to a day before that, and a default
    start never lies more than `MAX_RANGE_MS` before the end.
    """
    arrival = shipment.arrival_ms
    last = arrival if arrival is not None and arrival <= now_ms else now_ms
    if end_ms is None:
        end_ms = last + 1
    if start_ms is None:
        departure = shipment.departure_ms
        start_ms = departure if departure is not None else last - _DAY_MS
        # A shipment on the road longer than one query may span shows its latest stretch.
        start_ms = max(start_ms, end_ms - MAX_RANGE_MS)
    return readings(client, shipment.device_id, start_ms, end_ms, channels, max_points)


def bucket_interval_ms(span_ms: int, max_points: int) -> int:
    """The narrowest readable bucket width that cuts `span_ms` into at most `max_points`.

    >>> bucket_interval_ms(86_400_000, 2000), bucket_interval_ms(400 * 86_400_000, 10)
    (60000, 3456000000)
    """
    least = -(-span_ms // max_points)
    for interval in _NICE_INTERVALS_MS:
        if interval >= least:
            return interval
    return -(-least // _DAY_MS) * _DAY_MS


def _checked_channels(channels: Sequence[str] | None) -> tuple[str, ...]:
    if channels is None:
        return CHANNELS
    if isinstance(channels, str):
        channels = [channels]  # one name, not a sequence of one-letter names
    names: list[str] = []
    for name in channels:
        # A tuple, not a set: membership must not depend on the name being hashable or a str.
        if name not in CHANNELS:
            raise UnknownChannel(str(name))
        if name not in names:
            names.append(name)
    if not names:
        raise ReadingsQueryError("ask for at least one channel, or for all of them with none")
    return tuple(names)


def _check_range(start_ms: int, end_ms: int) -> None:
    if not 0 <= start_ms < end_ms:
        raise InvalidRange(f"start ({start_ms}) must be at or after 0 and before end ({end_ms})")
    if end_ms > MAX_TIME_MS:
        raise InvalidRange(f"end ({end_ms}) is past the latest time InfluxDB can hold")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise InvalidRange(f"a range spans at most {MAX_RANGE_MS // _DAY_MS} days")


def _ident(name: str) -> str:
    # Only names from CHANNELS reach here; quoting keeps them identifiers whatever they are.
    return '"' + name + '"'


def _most_values(client: InfluxClient, names: Sequence[str], params: dict[str, Any]) -> int:
    counts = ", ".join(f"count({_ident(n)})" for n in names)
    series = client.query(f"SELECT {counts} FROM {TELEMETRY} WHERE {_WHERE}", params)
    most = 0
    for s in series:
        for row in s["values"]:
            most = max([most, *(int(v) for v in row[1:] if v is not None)])
    return most


def _raw(
    client: InfluxClient, names: Sequence[str], params: dict[str, Any]
) -> tuple[ChannelSeries, ...]:
    fields = ", ".join(_ident(n) for n in names)
    rows = _rows(client.query(f"SELECT {fields} FROM {TELEMETRY} WHERE {_WHERE}", params))
    points: dict[str, list[SeriesPoint]] = {n: [] for n in names}
    for row in rows:
        at = int(row["time"])
        for n in names:
            v = row.get(n)
            if v is not None:
                points[n].append(SeriesPoint(at, _value(n, v)))
    return tuple(ChannelSeries(n, tuple(points[n])) for n in names)


def _buckets(
    client: InfluxClient, names: Sequence[str], params: dict[str, Any], interval: int, offset: int
) -> tuple[ChannelSeries, ...]:
    selected: list[str] = []
    for n in names:
        if n in TEXT_CHANNELS:
            selected.append(f"last({_ident(n)}) AS {_ident(n + '_last')}")
        else:
            selected += [
                f"{fn}({_ident(n)}) AS {_ident(f'{n}_{fn}')}" for fn in ("mean", "min", "max")
            ]
    # Both numbers are computed here from validated integers, never taken from the caller.
    # The offset lines the buckets up with the range's start rather than with the epoch.
    q = (
        f"SELECT {', '.join(selected)} FROM {TELEMETRY} WHERE {_WHERE}"
        f" GROUP BY time({interval}ms, {offset}ms) fill(none)"
    )
    points: dict[str, list[SeriesPoint]] = {n: [] for n in names}
    for row in _rows(client.query(q, params)):
        at = int(row["time"])
        for n in names:
            if n in TEXT_CHANNELS:
                last = row.get(f"{n}_last")
                if last is not None:
                    points[n].append(SeriesPoint(at, str(last)))
                continue
            mean = row.get(f"{n}_mean")
            if mean is not None:
                low, high = row.get(f"{n}_min"), row.get(f"{n}_max")
                points[n].append(
                    SeriesPoint(
                        at,
                        float(mean),
                        None if low is None else float(low),
                        None if high is None else float(high),
                    )
                )
    return tuple(ChannelSeries(n, tuple(points[n])) for n in names)


def _rows(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in series:
        columns = s["columns"]
        rows.extend(dict(zip(columns, row, strict=True)) for row in s["values"])
    # One series per measurement without GROUP BY tags, but sort anyway: the order is the API's.
    rows.sort(key=lambda row: int(row["time"]))
    return rows


def _value(name: str, v: Any) -> float | str:
    # JSON carries 4.0 as 4: numeric channels are floats whatever their spelling.
    return str(v) if name in TEXT_CHANNELS else float(v)
