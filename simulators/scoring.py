"""Detection quality of a run against the simulator's labels: recall, precision, delay, lead.

Pure functions over two inputs: the labels `cargowatch simulate --labels` writes (one
incident per line: device, scenario, start, end, the alert kinds a good detector raises and,
for temperature incidents, when the product left its range) and the alerts a run raised, each
reduced to when it opened (and resolved). An alert matches an incident when it is on the
incident's device, of a kind the incident expects, and opened between the incident's start
less `EARLY_MS` and its end plus `GRACE_MS`: detectors may rightly fire a little before the
labelled start (a trend seen early), and some conditions only become certain after the
incident (silence is known once the gap has lasted). The warning lead is the time from the
first `temp_breach_predicted` opened in that window (up to the breach plus the grace) to the
breach; beside it, the time from the incident's start to the breach says how much lead the
physics left to take. A `stability_budget` alert adds up a trip's time out of range, so one
opened at or after an incident's breach belongs to it however late it comes. An alert opened
on a device and time no incident covers is a false alert. Input the
scorer cannot use raises `ScoreError` with one line naming the file and line; reading files
and the SQL store is `simulators.scoring_input`, the report `simulators.scoring_report`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

MIN_MS: Final = 60_000
#: An alert up to this long before an incident's labelled start still counts for it.
EARLY_MS: Final = 5 * MIN_MS
#: An alert up to this long after an incident's end still counts for it.
GRACE_MS: Final = 60 * MIN_MS
WARNING_KIND: Final = "temp_breach_predicted"
#: Adds up a trip's time out of range: opened at or after a breach, it is that breach's doing.
BUDGET_KIND: Final = "stability_budget"


class ScoreError(ValueError):
    """Labels, alerts or a manifest the scorer cannot use: fix the input; nothing was scored."""


@dataclass(frozen=True, slots=True)
class Label:
    """One labelled incident: what happened to which device, when, and what should fire."""

    device_id: str
    start_ms: int
    end_ms: int
    kinds: tuple[str, ...]
    scenario: str = ""
    shipment_id: str | None = None
    #: When the product first left its range; None for incidents that are not a breach.
    breach_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """One alert of the run, by when it opened (and resolved, if it did)."""

    alert_id: str
    kind: str
    device_id: str
    opened_ms: int
    resolved_ms: int | None = None
    shipment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """The device-hours a run watched, the denominator of the false-alert rate."""

    device_hours: float
    devices: int
    start_ms: int | None
    end_ms: int | None
    #: How they were counted, for the report: "manifest" or "devices x span".
    basis: str


@dataclass(frozen=True, slots=True)
class KindScore:
    """How one alert kind did over the whole run."""

    kind: str
    #: Incidents that expect this kind, and those where it opened in the incident's window.
    expected: int
    detected: int
    recall: float | None
    #: Alerts of this kind opened, and those inside the window of an incident expecting it.
    opened: int
    matched: int
    precision: float | None
    #: Alerts of this kind opened on a device and time no incident covers.
    false_alerts: int
    #: Minutes from each detected incident's start to the kind's first open in its window.
    delays_min: tuple[float, ...]
    median_delay_min: float | None


@dataclass(frozen=True, slots=True)
class IncidentScore:
    """One incident: what opened in its window, how late, and the warning before its breach."""

    label: Label
    #: The first open, in ms, of every kind opened on the device in the incident's window.
    opened_ms: dict[str, int]
    #: Minutes from the start to the first open, for each expected kind that opened.
    delays_min: dict[str, float]
    #: Expected kinds that did not open in the window.
    missed: tuple[str, ...]
    #: Minutes from the first breach warning to the breach (negative: warned after it);
    #: None when there was no breach or no warning.
    lead_min: float | None
    #: Minutes from the incident's labelled start to its breach: what no warning can lead by
    #: (bar the 5 min it may come early); None when there was no breach.
    onset_to_breach_min: float | None = None


@dataclass(frozen=True, slots=True)
class LeadSummary:
    """Warning lead over every incident whose product left its range."""

    breaches: int
    #: Breaches with a warning in the window, and those warned strictly before the breach.
    warned: int
    warned_ahead: int
    #: The median over every breach, an unwarned one counting as the shortest lead, so a
    #: detector cannot look good by warning rarely; None when half or more went unwarned.
    median_min: float | None
    #: The median time from an incident's start to its breach: how much lead there was to
    #: take, so a lead reads against what the physics allowed; None with no breach.
    median_onset_to_breach_min: float | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """The whole result of scoring one run."""

    kinds: tuple[KindScore, ...]
    incidents: tuple[IncidentScore, ...]
    lead: LeadSummary
    alerts_opened: int
    false_alerts: int
    exposure: Exposure
    false_per_1000_device_hours: float | None
    #: Over every detection of every kind.
    median_delay_min: float | None
    #: The 95 % interval of the false-alert rate (`rate_interval`); None with no device-hours.
    false_per_1000_interval: tuple[float, float] | None = None


def score(labels: Sequence[Label], alerts: Iterable[RaisedAlert], exposure: Exposure) -> Score:
    """Score a run's alerts against its labels.

    >>> lab = Label("t1", 60 * MIN_MS, 120 * MIN_MS, ("temp_excursion",), breach_at_ms=90 * MIN_MS)
    >>> s = score([lab], [RaisedAlert("a", "temp_excursion", "t1", 100 * MIN_MS)],
    ...           Exposure(10.0, 1, None, None, "manifest"))
    >>> s.kinds[0].recall, s.kinds[0].median_delay_min, s.lead.median_min
    (1.0, 40.0, None)
    """
    opens = sorted(alerts, key=lambda a: (a.opened_ms, a.alert_id))
    by_device: dict[str, list[RaisedAlert]] = {}
    for a in opens:
        by_device.setdefault(a.device_id, []).append(a)
    kinds = _kind_order(labels, opens)
    expected = dict.fromkeys(kinds, 0)
    detected = dict.fromkeys(kinds, 0)
    delays: dict[str, list[float]] = {k: [] for k in kinds}
    matched: set[str] = set()
    covered: set[str] = set()
    incidents: list[IncidentScore] = []
    leads: list[float | None] = []
    onsets: list[float] = []
    for lab in labels:
        lo, hi = lab.start_ms - EARLY_MS, lab.end_ms + GRACE_MS
        here = [a for a in by_device.get(lab.device_id, []) if lo <= a.opened_ms <= hi]
        covered.update(a.alert_id for a in here)
        if lab.breach_at_ms is not None:
            breached = lab.breach_at_ms
            covered.update(
                a.alert_id
                for a in by_device.get(lab.device_id, [])
                if a.kind == BUDGET_KIND and a.opened_ms >= breached
            )
        first: dict[str, int] = {}
        for a in here:
            first.setdefault(a.kind, a.opened_ms)
        incident_delays: dict[str, float] = {}
        for kind in dict.fromkeys(lab.kinds):
            expected[kind] += 1
            if kind in first:
                detected[kind] += 1
                matched.update(a.alert_id for a in here if a.kind == kind)
                incident_delays[kind] = (first[kind] - lab.start_ms) / MIN_MS
                delays[kind].append(incident_delays[kind])
        lead = _lead(lab, by_device.get(lab.device_id, []))
        onset = None
        if lab.breach_at_ms is not None:
            leads.append(lead)
            onset = (lab.breach_at_ms - lab.start_ms) / MIN_MS
            onsets.append(onset)
        incidents.append(
            IncidentScore(
                label=lab,
                opened_ms=first,
                delays_min=incident_delays,
                missed=tuple(k for k in dict.fromkeys(lab.kinds) if k not in first),
                lead_min=lead,
                onset_to_breach_min=onset,
            )
        )
    per_kind = tuple(
        _kind_score(k, expected[k], detected[k], delays[k], opens, matched, covered) for k in kinds
    )
    false_alerts = sum(1 for a in opens if a.alert_id not in covered)
    hours = exposure.device_hours
    return Score(
        kinds=per_kind,
        incidents=tuple(incidents),
        lead=_lead_summary(leads, onsets),
        alerts_opened=len(opens),
        false_alerts=false_alerts,
        exposure=exposure,
        false_per_1000_device_hours=1000 * false_alerts / hours if hours > 0 else None,
        median_delay_min=_median([d for ds in delays.values() for d in ds]),
        false_per_1000_interval=rate_interval(false_alerts, hours) if hours > 0 else None,
    )


def rate_interval(count: int, device_hours: float) -> tuple[float, float]:
    """The exact 95 % interval of a rate per 1,000 device-hours, from `count` events.

    A count of false alerts is a Poisson draw: two alerts in 1,200 device-hours (1.67 per
    1,000) are as likely from a true rate of 0.5 as from 5. The interval (Garwood's, from the
    Poisson distribution itself) says which rates the count rules out: a rate is shown over
    a target of 1 per 1,000 only where the whole interval lies above it.

    >>> [round(x, 2) for x in rate_interval(2, 1200.0)]
    [0.2, 6.02]
    >>> [round(x, 2) for x in rate_interval(0, 1000.0)]
    [0.0, 3.69]
    """
    if count < 0 or not device_hours > 0:
        raise ValueError(f"need a count >= 0 and device-hours > 0, got {count}, {device_hours}")
    lower = 0.0 if count == 0 else _poisson_mean(count - 1, 0.975)
    return 1000 * lower / device_hours, 1000 * _poisson_mean(count, 0.025) / device_hours


def _poisson_mean(k: int, p: float) -> float:
    """The mean at which P(X <= k) = p for a Poisson X (P falls as the mean grows)."""
    lo, hi = 0.0, k + 20.0 * math.sqrt(k + 1.0) + 20.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _poisson_cdf(k, mid) > p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for a Poisson X of this mean, summed in logs so large counts do not overflow."""
    if mean <= 0.0:
        return 1.0
    log_mean = math.log(mean)
    return min(1.0, sum(math.exp(i * log_mean - mean - math.lgamma(i + 1)) for i in range(k + 1)))


def _kind_order(labels: Sequence[Label], opens: Sequence[RaisedAlert]) -> list[str]:
    """Expected kinds as the labels first name them, then kinds only ever opened."""
    order = dict.fromkeys(k for lab in labels for k in lab.kinds)
    order.update(dict.fromkeys(a.kind for a in opens))
    return list(order)


def _lead(lab: Label, device_alerts: Sequence[RaisedAlert]) -> float | None:
    if lab.breach_at_ms is None:
        return None
    lo, hi = lab.start_ms - EARLY_MS, lab.breach_at_ms + GRACE_MS
    for a in device_alerts:  # in opening order: the first warning is the one that counts
        if a.kind == WARNING_KIND and lo <= a.opened_ms <= hi:
            return (lab.breach_at_ms - a.opened_ms) / MIN_MS
    return None


def _kind_score(
    kind: str,
    expected: int,
    detected: int,
    delays: list[float],
    opens: Sequence[RaisedAlert],
    matched: set[str],
    covered: set[str],
) -> KindScore:
    mine = [a for a in opens if a.kind == kind]
    hits = sum(1 for a in mine if a.alert_id in matched)
    return KindScore(
        kind=kind,
        expected=expected,
        detected=detected,
        recall=detected / expected if expected else None,
        opened=len(mine),
        matched=hits,
        precision=hits / len(mine) if mine else None,
        false_alerts=sum(1 for a in mine if a.alert_id not in covered),
        delays_min=tuple(delays),
        median_delay_min=_median(delays),
    )


def _lead_summary(leads: list[float | None], onsets: list[float]) -> LeadSummary:
    ranked = [float("-inf") if x is None else x for x in leads]
    median = statistics.median(ranked) if ranked else None
    return LeadSummary(
        breaches=len(leads),
        warned=sum(1 for x in leads if x is not None),
        warned_ahead=sum(1 for x in leads if x is not None and x > 0),
        median_min=median if median is not None and median != float("-inf") else None,
        median_onset_to_breach_min=_median(onsets),
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def exposure(
    labels: Sequence[Label],
    alerts: Sequence[RaisedAlert],
    trips: Sequence[tuple[str, int | None, int | None]] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Exposure:
    """The device-hours a run watched, between `start_ms` and `end_ms`.

    The period defaults to the first to the last time the labels and alerts mention. With
    `trips` (device, departure, arrival: a manifest's shipments) each device counts from its
    departure to its arrival clipped to the period, a missing time standing for the period's
    bound; without, every device the labels or alerts name counts for the whole period.

    >>> trips = [("t1", 0, 10 * 3_600_000), ("t2", 5 * 3_600_000, None)]
    >>> exposure([], [], trips, 0, 8 * 3_600_000).device_hours
    11.0
    """
    times = [t for lab in labels for t in (lab.start_ms, lab.end_ms)]
    times += [t for a in alerts for t in (a.opened_ms, a.resolved_ms) if t is not None]
    lo = start_ms if start_ms is not None else min(times, default=None)
    hi = end_ms if end_ms is not None else max(times, default=None)
    if lo is None or hi is None or hi <= lo:
        devices = len(trips) if trips is not None else _devices(labels, alerts)
        basis = "manifest" if trips is not None else "devices x span"
        return Exposure(0.0, devices, lo, hi, basis)
    if trips is not None:
        total_ms = sum(
            max(0, min(hi, hi if arr is None else arr) - max(lo, lo if dep is None else dep))
            for _, dep, arr in trips
        )
        return Exposure(total_ms / 3_600_000, len(trips), lo, hi, "manifest")
    devices = _devices(labels, alerts)
    return Exposure(devices * (hi - lo) / 3_600_000, devices, lo, hi, "devices x span")


def _devices(labels: Sequence[Label], alerts: Sequence[RaisedAlert]) -> int:
    return len({lab.device_id for lab in labels} | {a.device_id for a in alerts})
