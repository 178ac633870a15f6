"""A `Score` for people (aligned text) and for programs (a JSON document).

The text is what `cargowatch score` prints: a table per alert kind, the warning lead before
breaches (beside the time each breach came after its incident began: the most lead there
was to take), the false-alert rate with the device-hours it is over, then one row per incident.
The JSON holds the same figures and every delay and lead they come from, with times as
RFC 3339 and absent figures as null, so a notebook or a CI check can read it without this
package.
"""

from __future__ import annotations

from typing import Any

from detectors.alerts import rfc3339
from simulators.scoring import MIN_MS, IncidentScore, Score


def report_lines(score: Score) -> list[str]:
    """The text report, one line per element."""
    lines = [
        f"{len(score.incidents)} incidents, {score.alerts_opened} alerts opened",
        "",
        f"{'kind':<22} {'recall':>13} {'precision':>13} {'median delay':>13} {'false':>6}",
    ]
    for k in score.kinds:
        recall = f"{_ratio(k.recall)} {k.detected:>3}/{k.expected:<3}" if k.expected else "-"
        precision = f"{_ratio(k.precision)} {k.matched:>3}/{k.opened:<3}" if k.opened else "-"
        lines.append(
            f"{k.kind:<22} {recall:>13} {precision:>13} "
            f"{_minutes(k.median_delay_min):>13} {k.false_alerts:>6}"
        )
    lead = score.lead
    if lead.breaches:
        lines += [
            "",
            f"warning lead before the breach: median {_minutes(lead.median_min)},"
            f" warned ahead in {lead.warned_ahead}/{lead.breaches}"
            f" (warned at all in {lead.warned}/{lead.breaches});"
            f" the breaches came a median {_minutes(lead.median_onset_to_breach_min)}"
            " after their incidents began",
        ]
    exp = score.exposure
    rate = score.false_per_1000_device_hours
    span = (
        ""
        if exp.start_ms is None or exp.end_ms is None
        else f", {rfc3339(exp.start_ms)} to {rfc3339(exp.end_ms)}"
    )
    lines += [
        "",
        f"false alerts: {score.false_alerts} in {exp.device_hours:,.1f} device-hours"
        f" ({exp.devices} devices, {exp.basis}{span})"
        f" = {'-' if rate is None else f'{rate:.2f}'} per 1,000 device-hours"
        + _interval(score.false_per_1000_interval),
    ]
    if score.incidents:
        lines += ["", *_incident_table(score.incidents)]
    return lines


def _incident_table(incidents: tuple[IncidentScore, ...]) -> list[str]:
    rows = [("device", "scenario", "start", "expected", "opened (min after start)", "lead")]
    for inc in incidents:
        lab = inc.label
        opened = ", ".join(
            f"{kind} {(at - lab.start_ms) / MIN_MS:+.0f}" for kind, at in inc.opened_ms.items()
        )
        expected = ", ".join(
            k if k not in inc.missed else f"{k} (missed)" for k in dict.fromkeys(lab.kinds)
        )
        lead = (
            ""
            if lab.breach_at_ms is None
            else f"{_minutes(inc.lead_min)} of {_minutes(inc.onset_to_breach_min)}"
        )
        rows.append(
            (lab.device_id, lab.scenario, rfc3339(lab.start_ms), expected or "-", opened, lead)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    return lines


def to_json(score: Score) -> dict[str, Any]:
    """The whole result as plain JSON values."""
    exp = score.exposure
    return {
        "alerts_opened": score.alerts_opened,
        "median_delay_min": score.median_delay_min,
        "kinds": [
            {
                "kind": k.kind,
                "expected": k.expected,
                "detected": k.detected,
                "recall": k.recall,
                "opened": k.opened,
                "matched": k.matched,
                "precision": k.precision,
                "false_alerts": k.false_alerts,
                "median_delay_min": k.median_delay_min,
                "delays_min": list(k.delays_min),
            }
            for k in score.kinds
        ],
        "lead": {
            "breaches": score.lead.breaches,
            "warned": score.lead.warned,
            "warned_ahead": score.lead.warned_ahead,
            "median_min": score.lead.median_min,
            "median_onset_to_breach_min": score.lead.median_onset_to_breach_min,
        },
        "false_alerts": score.false_alerts,
        "false_per_1000_device_hours": score.false_per_1000_device_hours,
        "false_per_1000_device_hours_95": None
        if score.false_per_1000_interval is None
        else list(score.false_per_1000_interval),
        "exposure": {
            "device_hours": exp.device_hours,
            "devices": exp.devices,
            "start": None if exp.start_ms is None else rfc3339(exp.start_ms),
            "end": None if exp.end_ms is None else rfc3339(exp.end_ms),
            "basis": exp.basis,
        },
        "incidents": [_incident_json(inc) for inc in score.incidents],
    }


def _incident_json(inc: IncidentScore) -> dict[str, Any]:
    lab = inc.label
    return {
        "device_id": lab.device_id,
        "shipment_id": lab.shipment_id,
        "scenario": lab.scenario,
        "start": rfc3339(lab.start_ms),
        "end": rfc3339(lab.end_ms),
        "expected": list(dict.fromkeys(lab.kinds)),
        "breach_at": None if lab.breach_at_ms is None else rfc3339(lab.breach_at_ms),
        "opened": {kind: rfc3339(at) for kind, at in inc.opened_ms.items()},
        "delays_min": inc.delays_min,
        "missed": list(inc.missed),
        "lead_min": inc.lead_min,
        "onset_to_breach_min": inc.onset_to_breach_min,
    }


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} min"


def _interval(interval: tuple[float, float] | None) -> str:
    """A rate's 95 % interval as the report prints it, or nothing without one."""
    return "" if interval is None else f" (95 % interval {interval[0]:.2f} to {interval[1]:.2f})"
