"""The backtest's picture: a channel over time, the profile's band, where alerts opened and closed.

matplotlib is an optional dependency (`pip install cargowatch[plot]`); it is
imported only when a plot is asked for, so nothing else pays for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detectors.alerts import AlertEvent

_MAX_DEVICES = 6  # more lines than this is a plot nobody can read


def plot_backtest(
    path: Path,
    series: dict[str, list[tuple[int, float]]],
    band: tuple[float, float] | None,
    events: list[AlertEvent],
    channel: str,
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'cargowatch[plot]'") from None

    def when(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    fig, ax = plt.subplots(figsize=(12, 5), dpi=100)
    shown = sorted(series)[:_MAX_DEVICES]
    for device in shown:
        points = series[device]
        # matplotlib plots datetimes through its unit converters; its stubs only know floats.
        ax.plot([when(t) for t, _ in points], [v for _, v in points], lw=0.8, label=device)  # type: ignore[arg-type]
    if band is not None:
        ax.axhspan(
            band[0],
            band[1],
            color="tab:green",
            alpha=0.12,
            label=f"profile {band[0]:g} to {band[1]:g}",
        )
    colours = {"info": "tab:blue", "warning": "tab:orange", "critical": "tab:red"}
    for e in events:
        if e.device_id not in shown or e.event == "update":
            continue
        style = "-" if e.event == "open" else ":"
        at: Any = when(e.at_ms)  # datetimes go through matplotlib's unit converters
        ax.axvline(at, color=colours.get(e.severity, "grey"), ls=style, lw=0.9, alpha=0.8)
        if e.event == "open":
            ax.annotate(
                e.kind,
                (when(e.at_ms), 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
            )
    ax.set_ylabel(channel)
    ax.set_title(f"{channel}: alerts opened (solid) and resolved (dotted)")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
