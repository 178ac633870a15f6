"""Generating one tracker's readings from its plan, a stretch of simulated time at a time.

`DeviceSim.advance(t_end)` makes every reading due before ``t_end`` as arrays (position,
ambient, cooling and product temperature, humidity, light, shock, battery, door and seal),
applies the plan's effects, encodes the readings and returns the messages they travel in:
live, stored and uploaded later as an array, duplicated, or malformed. State that carries
from one stretch to the next (air and product temperature, counters, stored readings) lives
on the object. Stretches end at fixed simulated times, and each device draws from a random
stream of its own, so a device's bytes depend on the seed and the run's settings only.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from simulators import sensors, thermal
from simulators.breach_truth import RunsOut
from simulators.effects import in_windows
from simulators.geo import offset_deg
from simulators.motion import MOVING
from simulators.plan import DevicePlan
from simulators.stuck_truth import ValueRuns
from simulators.wire import MAX_UPLOAD_READINGS, Message, encode, malformed, topic

FloatArray = thermal.FloatArray
#: Values a failing probe reports (a DS18B20's power-on value and its disconnected value).
_SPIKE_VALUES: Final = (85.0, -127.0)
_GPS_NOISE_M: Final = 4.0


class DeviceSim:
    """One tracker, generated stretch by stretch; see the module docstring."""

    def __init__(self, plan: DevicePlan, start_ms: int) -> None:
        self.plan = plan
        self.start_ms = start_ms
        self.rng = np.random.default_rng(list(plan.seed))
        self.topic = topic(plan.device_id)
        p = plan.profile
        fields = ["lat", "lon", "temp_c"]
        fields += ["ambient_c"] if p.ambient_sensor else []
        fields += ["humidity_pct"]
        fields += ["door"] if p.door else []
        fields += ["seal", "seal_id"] if p.seal else []
        fields += ["light_lux"] if p.light else []
        fields += ["shock_g", "battery_v"]
        self.fields = tuple(fields)
        self.fields_no_fix = tuple(f for f in fields if f not in ("lat", "lon"))
        self.next_k = 0
        self.seq = 0
        self.order = 0
        self.t_prev: float | None = None
        self.air = 0.0
        self.product = 0.0
        self.stuck: dict[int, float] = {}
        #: Runs of readings out of the product's range, carried from stretch to stretch.
        self.runs_out = RunsOut()
        #: Runs of one value among the honest and the sent readings, for stuck spells' labels.
        self.honest_runs = ValueRuns()
        self.sent_runs = ValueRuns()
        #: Stuck spells (indices into the plan's effects) in which a reading was taken.
        self.spells_read: set[int] = set()
        self.spiked: set[int] = set()
        self.stored: dict[int, list[bytes]] = {}
        #: A static-hold receiver's pinned fix per stop of the schedule, carried across stretches.
        self.held: dict[int, tuple[float, float]] = {}
        self.malformed_done = 0
        #: When a list, every stretch's reading instants (s) and true product temperatures
        #: are appended to it: what the labels' breach times are checked against.
        self.trace: list[tuple[FloatArray, FloatArray]] | None = None

    # -- time and position -------------------------------------------------------------------
    def _times(self, t_end: float) -> tuple[np.ndarray, FloatArray]:
        p = self.plan
        k1 = max(self.next_k, math.ceil((min(t_end, p.horizon_s) - p.departure_s) / p.interval_s))
        k = np.arange(self.next_k, k1)
        self.next_k = k1
        jitter = self.rng.uniform(0.0, 0.02 * p.interval_s, len(k))
        rel_ms = np.rint((p.departure_s + k * p.interval_s + jitter) * 1000.0).astype(np.int64)
        rel_ms = rel_ms[rel_ms < p.horizon_s * 1000.0]
        return rel_ms + self.start_ms, rel_ms / 1000.0

    def _position(
        self, t: FloatArray, noisy: bool
    ) -> tuple[FloatArray, FloatArray, np.ndarray, FloatArray]:
        """Longitude, latitude, schedule phase and distance along the route at each instant."""
        p = self.plan
        d, idx = p.motion.at(t)
        lon, lat, ne, nn = p.lane.line.at(d)
        moving = p.motion.stop[idx] == MOVING
        lateral = np.where(moving, p.wander.at(t), 0.0)
        east = ne * lateral + np.where(moving, 0.0, p.motion.park_e[idx])
        north = nn * lateral + np.where(moving, 0.0, p.motion.park_n[idx])
        for t0, t1, offset, ramp in p.effects.deviation:
            # A detour kilometres off the road follows it round its bends: its side is the
            # road's normal smoothed over twice the offset (see `Polyline.smooth_normal`).
            share = thermal.trapezoid(t, t0, t1, ramp)
            if share.any():
                se, sn = p.lane.line.smooth_normal(d, 2 * abs(offset))
                east = east + offset * share * se
                north = north + offset * share * sn
        if noisy:
            east = east + self.rng.normal(0.0, _GPS_NOISE_M, len(t))
            north = north + self.rng.normal(0.0, _GPS_NOISE_M, len(t))
        dlon, dlat = offset_deg(lat, east, north)
        return lon + dlon, lat + dlat, idx, d

    # -- one stretch ---------------------------------------------------------------------------
    def advance(self, t_end: float) -> list[Message]:
        """Every message whose readings are due before ``t_end`` (seconds from the start)."""
        p, eff = self.plan, self.plan.effects
        ts, t = self._times(t_end)
        out: list[Message] = []
        n = len(t)
        if n:
            out.extend(self._readings(ts, t))
        for j, (_, g1, upload) in enumerate(eff.gaps):
            if j in self.stored and g1 <= t_end:
                out.extend(self._upload(self.stored.pop(j), upload))
        while self.malformed_done < len(eff.malformed):
            at, reason = eff.malformed[self.malformed_done]
            if at >= t_end:
                break
            self.malformed_done += 1
            ms = self.start_ms + round(at * 1000)
            out.append(self._message(ms, malformed(p.device_id, ms, reason), 0))
        if eff.duplicates:
            out.extend(self._duplicates(out))
        return out

    def _message(self, arrival_ms: int, body: bytes | tuple[bytes, ...], readings: int) -> Message:
        self.order += 1
        return Message(arrival_ms, self.plan.index, self.order, self.topic, body, readings)

    def _upload(self, elements: list[bytes], upload_s: float) -> list[Message]:
        base = self.start_ms + round(upload_s * 1000)
        return [
            self._message(
                base + 50 * i,
                tuple(elements[a : a + MAX_UPLOAD_READINGS]),
                len(elements[a : a + MAX_UPLOAD_READINGS]),
            )
            for i, a in enumerate(range(0, len(elements), MAX_UPLOAD_READINGS))
        ]

    def _duplicates(self, messages: list[Message]) -> list[Message]:
        copies: list[Message] = []
        for t0, t1, share, max_delay in self.plan.effects.duplicates:
            lo, hi = self.start_ms + t0 * 1000, self.start_ms + t1 * 1000
            for m in messages:
                if lo <= m.arrival_ms < hi and m.readings and self.rng.uniform() < share:
                    delay = round(self.rng.uniform(0.5, max(max_delay, 0.5)) * 1000)
                    copies.append(self._message(m.arrival_ms + delay, m.body, m.readings))
        return copies

    def _readings(self, ts: np.ndarray, t: FloatArray) -> list[Message]:
        p, rng, eff, prof = self.plan, self.rng, self.plan.effects, self.plan.profile
        epoch_s = ts / 1000.0
        lon, lat, idx, d = self._position(t, noisy=True)
        moving = p.motion.stop[idx] == MOVING
        climate, ambient = sensors.ambient(p, t, epoch_s, lon, d, moving & p.motion.air[idx])
        door = in_windows(t, eff.door)
        target, tau = sensors.cooling(prof, p.physics, eff, t, ambient, door)
        if self.t_prev is None:
            self.air = float(target[0])
            self.product = float(target[0] + rng.normal(0.0, 0.1))
            self.t_prev = float(t[0])
        before = (self.t_prev, self.product)
        air, product = thermal.relax(
            t, target, tau, p.physics.tau_product_s, self.t_prev, self.air, self.product
        )
        self.t_prev, self.air, self.product = float(t[-1]), float(air[-1]), float(product[-1])
        if self.trace is not None:
            self.trace.append((t, product))
        self._watch_breach(t, product, before)
        read = sensors.probe(p.physics, air if p.air_probe else product, rng)
        temp = self._faults(t, read)
        taken = ~in_windows(t, eff.silence)
        # An excursion is owed where a probe in the product would have read it out of range:
        # for an air probe, whose alerts are of the product, that is the product at the
        # probe's resolution (its noise is the air probe's own).
        res = p.physics.resolution_c
        self._watch_readings_out(t, np.round(product / res) * res if p.air_probe else read, taken)
        self._watch_stuck(t, read, temp, taken)
        lon, lat = self._fix(t, lon, lat, idx)
        columns = sensors.columns(p, rng, t, epoch_s, lon, lat, idx, ambient, climate, door)
        columns["temp_c"] = temp
        return self._emit(ts, t, taken, columns, in_windows(t, eff.no_fix))

    def _faults(self, t: FloatArray, temp: FloatArray) -> FloatArray:
        """A stuck or spiking probe."""
        eff, rng, n = self.plan.effects, self.rng, len(t)
        for j, (t0, t1) in enumerate(eff.stuck):
            on = (t >= t0) & (t < t1)
            if on.any():
                # Stuck at the first value of the window, even when that came a stretch ago.
                value = self.stuck.setdefault(j, float(temp[np.argmax(on)]))
                temp = np.where(on, value, temp)
        for j, (t0, t1, share) in enumerate(eff.spikes):
            on = (t >= t0) & (t < t1)
            hit = on & (rng.uniform(size=n) < share)
            if on.any() and j not in self.spiked:
                # The window's first reading always carries the error code: at a 15-minute
                # interval a share alone could leave a whole fault unseen.
                self.spiked.add(j)
                hit[np.argmax(on)] = True
            temp = np.where(hit, rng.choice(_SPIKE_VALUES, n), temp)
        return temp

    def _fix(
        self, t: FloatArray, lon: FloatArray, lat: FloatArray, idx: np.ndarray
    ) -> tuple[FloatArray, FloatArray]:
        """Positions as the GPS reports them: a static-hold receiver's pinned fix, spoofed
        jumps, a frozen fix, wrapped longitude."""
        eff = self.plan.effects
        if self.plan.static_hold:
            lon, lat = self._pinned(lon, lat, idx)
        for t0, t1, jumps in eff.spoof:
            starts = np.array([j[0] for j in jumps])
            on = (t >= t0) & (t < t1)
            k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(jumps) - 1)
            dlon, dlat = offset_deg(
                lat, np.array([j[1] for j in jumps])[k], np.array([j[2] for j in jumps])[k]
            )
            lon, lat = np.where(on, lon + dlon, lon), np.where(on, lat + dlat, lat)
        for t0, t1 in eff.frozen_fix:
            on = (t >= t0) & (t < t1)
            if on.any():
                flon, flat, _, _ = self._position(np.array([t0]), noisy=False)
                lon, lat = np.where(on, flon[0], lon), np.where(on, flat[0], lat)
        return (lon + 180.0) % 360.0 - 180.0, np.clip(lat, -89.9, 89.9)

    def _pinned(
        self, lon: FloatArray, lat: FloatArray, idx: np.ndarray
    ) -> tuple[FloatArray, FloatArray]:
        """Every fix of a stop repeats the stop's first one bit for bit, as static hold does."""
        parked = self.plan.motion.stop[idx] != MOVING
        for phase in np.unique(idx[parked]).tolist():
            on = parked & (idx == phase)
            held = self.held.get(phase)
            if held is None:
                first = int(np.flatnonzero(on)[0])
                held = self.held[phase] = (float(lon[first]), float(lat[first]))
            lon, lat = np.where(on, held[0], lon), np.where(on, held[1], lat)
        return lon, lat

    def _emit(
        self,
        ts: np.ndarray,
        t: FloatArray,
        taken: np.ndarray,
        cols: dict[str, np.ndarray],
        no_fix: np.ndarray,
    ) -> list[Message]:
        p, eff = self.plan, self.plan.effects
        keep = np.flatnonzero(taken)
        count = len(keep)
        if not count:
            return []
        seq = np.arange(self.seq, self.seq + count)
        self.seq += count
        if count < len(ts):
            cols = {f: cols[f][keep] for f in self.fields}
            no_fix = no_fix[keep]
        ts_kept = ts[keep]
        if not no_fix.any():
            elements = encode(
                p.device_id, self.fields, ts_kept, seq, [cols[f] for f in self.fields]
            )
        else:
            # A reading without a fix leaves lat and lon out, as a tracker without GPS would.
            elements = [b""] * count
            for fields, rows in ((self.fields, ~no_fix), (self.fields_no_fix, no_fix)):
                at = np.flatnonzero(rows)
                made = encode(
                    p.device_id, fields, ts_kept[at], seq[at], [cols[f][at] for f in fields]
                )
                for i, element in zip(at.tolist(), made, strict=True):
                    elements[i] = element
        latency = np.minimum(80 + self.rng.exponential(400.0, count), 5000).astype(np.int64)
        arrival = (ts_kept + latency).tolist()
        gap_of = np.full(len(t), -1)
        for j, (g0, g1, _) in enumerate(eff.gaps):
            gap_of[(t >= g0) & (t < g1)] = j
        stored_at = gap_of[keep].tolist()
        device, name, first = p.index, self.topic, self.order + 1
        self.order += count
        make = tuple.__new__  # a named tuple's own constructor costs three times as much
        if max(stored_at) < 0:
            return [
                make(Message, (at, device, first + r, name, element, 1))
                for r, (element, at) in enumerate(zip(elements, arrival, strict=True))
            ]
        for element, j in zip(elements, stored_at, strict=True):
            if j >= 0:
                self.stored.setdefault(j, []).append(element)
        return [
            make(Message, (at, device, first + r, name, element, 1))
            for r, (element, at, j) in enumerate(zip(elements, arrival, stored_at, strict=True))
            if j < 0
        ]

    def _watch_readings_out(self, t: FloatArray, read: FloatArray, taken: np.ndarray) -> None:
        """Note, per incident, the longest run of readings out of range without a break.

        The readings are the probe's at the instants the tracker took one (`taken`), with noise
        and resolution but not a stuck or spiking probe's faults, which are incidents of their
        own: the runs a `temp_excursion` is defined by, and so what says whether one is owed
        (`simulators.manifest.label`).
        """
        band = self.plan.profile.temp_range_c
        if band is None:
            return  # no range, no excursion: the masks below would be built for nothing
        t, read = t[taken], read[taken]
        for first, last in self.runs_out.runs(t, (read < band[0]) | (read > band[1])):
            for incident in self.plan.incidents:
                if first < incident.search_until and last >= incident.t0:
                    run = last - max(first, incident.t0)
                    incident.longest_read_out_s = max(incident.longest_read_out_s, run)

    def _watch_stuck(
        self, t: FloatArray, read: FloatArray, sent: FloatArray, taken: np.ndarray
    ) -> None:
        """Note, per stuck spell, the run of one value it is part of among the readings sent,
        and the longest run the probe read honestly (`read`: noise and resolution, no fault)
        anywhere on the trip so far, at the instants the tracker took a reading.

        A quiet probe on a product that holds still may read one value for hours honestly: a
        spell whose run is no longer than one the probe read honestly, or no rarer than one an
        honest probe of its noise reads, is no fault the readings show, and none is owed
        (`simulators.stuck_truth.shown`, `simulators.manifest.label`).
        """
        spells = self.plan.effects.stuck
        if not spells:
            return
        t = t[taken]
        honest = max(n for _, _, n in self.honest_runs.runs(t, read[taken]) or [(0, 0, 0)])
        runs = self.sent_runs.runs(t, sent[taken])
        for j, (t0, t1) in enumerate(spells):
            if bool(((t >= t0) & (t < t1)).any()):
                self.spells_read.add(j)
            for incident in self.plan.incidents:
                if incident.scenario != "sensor_fault" or incident.t0 != t0:
                    continue
                incident.honest_run = max(incident.honest_run, honest)
                if j not in self.spells_read:
                    continue  # no reading taken in it yet: no run shows it
                # The spell's readings all show its one value, so they are one run: the one
                # that overlaps the spell in time.
                for first, last, n in runs:
                    if first < t1 and last >= t0:
                        incident.stuck_run = max(incident.stuck_run, n)

    def _watch_breach(
        self, t: FloatArray, product: FloatArray, before: tuple[float, float]
    ) -> None:
        """Date each incident's breach: when the true product temperature left its range.

        The product is known at each reading instant; between two instants it is taken as
        linear, which a product time constant of an hour or more makes exact to seconds.
        Whether the tracker reported then, or its probe read true, does not matter.
        """
        band = self.plan.profile.temp_range_c
        if band is None:
            return
        low, high = band
        out = (product < low) | (product > high)
        if not out.any():
            return
        for incident in self.plan.incidents:
            if incident.breach_ms is not None:
                continue
            hit = np.flatnonzero(out & (t >= incident.t0) & (t < incident.search_until))
            if not len(hit):
                continue
            i = int(hit[0])
            t1, p1 = float(t[i]), float(product[i])
            t0, p0 = (float(t[i - 1]), float(product[i - 1])) if i else before
            limit = high if p1 > high else low
            share = (limit - p0) / (p1 - p0) if p1 != p0 else 1.0
            at = max(t0 + min(max(share, 0.0), 1.0) * (t1 - t0), incident.t0)
            incident.breach_ms = self.start_ms + round(at * 1000.0)
