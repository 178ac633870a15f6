"""The score's picture: recall and precision per kind, detection delays, warning leads.

Three panels side by side: bars of recall and precision for every kind; each detection's
delay per kind as points (a median hides a long tail); and a histogram of the warning lead
before each breach, with unwarned breaches counted at the far left so that they show, over
the outline of the time from each incident's start to its breach (the most lead there was).
matplotlib is an optional dependency (`pip install cargowatch[plot]`), imported only when a
plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

from simulators.scoring import Score


def plot_score(path: Path, score: Score) -> None:
    """Write the picture of `score` to `path` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'cargowatch[plot]'") from None

    fig, (quality, delay, lead) = plt.subplots(1, 3, figsize=(15, 5), dpi=100)
    kinds = list(score.kinds)
    x = list(range(len(kinds)))
    quality.bar(
        [i - 0.2 for i in x], [k.recall or 0.0 for k in kinds], 0.4, label="recall", color="C0"
    )
    quality.bar(
        [i + 0.2 for i in x],
        [k.precision or 0.0 for k in kinds],
        0.4,
        label="precision",
        color="C1",
    )
    quality.set_xticks(x, [k.kind for k in kinds], rotation=60, ha="right", fontsize=8)
    quality.set_ylim(0, 1.05)
    quality.set_title("recall and precision per kind")
    quality.legend(loc="lower left", fontsize=8)

    detected = [k for k in kinds if k.delays_min]
    for i, k in enumerate(detected):
        delay.plot([i] * len(k.delays_min), k.delays_min, "o", alpha=0.5, color="C0")
    delay.set_xticks(
        range(len(detected)), [k.kind for k in detected], rotation=60, ha="right", fontsize=8
    )
    delay.axhline(0, color="grey", lw=0.8)
    delay.set_ylabel("minutes after the incident's start")
    delay.set_title("detection delay")

    leads = [inc.lead_min for inc in score.incidents if inc.label.breach_at_ms is not None]
    warned = [v for v in leads if v is not None]
    onsets = [inc.onset_to_breach_min for inc in score.incidents]
    available = [v for v in onsets if v is not None]
    # One set of bins for both, so the leads read against the outline at the same scale.
    lo, hi = min(warned + available, default=0.0), max(warned + available, default=1.0)
    width = max(hi - lo, 1.0) / 20
    bins = [lo + i * width for i in range(21)]
    if warned:
        lead.hist(warned, bins=bins, color="C2", label=f"warned ({len(warned)})")
    if available:
        # Drawn as an outline over the leads: how far ahead a warning could have come.
        lead.hist(
            available, bins=bins, histtype="step", color="C7", label="incident start to breach"
        )
    missing = len(leads) - len(warned)
    if missing:
        left = lo - width
        lead.bar([left], [missing], width=width, color="C3", label=f"never warned ({missing})")
    lead.axvline(0, color="grey", lw=0.8)
    median = score.lead.median_min
    lead.set_title(
        "warning lead before the breach" + ("" if median is None else f" (median {median:.0f} min)")
    )
    lead.set_xlabel("minutes before the breach")
    if leads:
        lead.legend(loc="upper right", fontsize=8)
    rate, interval = score.false_per_1000_device_hours, score.false_per_1000_interval
    fig.suptitle(
        f"{len(score.incidents)} incidents, {score.alerts_opened} alerts opened, false alerts"
        f" {'-' if rate is None else f'{rate:.2f}'} per 1,000 device-hours"
        + ("" if interval is None else f" (95 % interval {interval[0]:.2f}-{interval[1]:.2f})")
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
