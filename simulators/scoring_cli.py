"""``cargowatch score``: the flags, then read, score, report, and write what was asked for.

`add_arguments` declares the flags on any parser and `run` executes them, so the composition
root mounts the command without knowing about scoring. Every input problem ends the run with
one line on stderr naming the file (and line) and exit code 2; a scored run exits 0 whatever
its figures, because judging them against targets is the caller's business.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulators.scoring import ScoreError, exposure, score
from simulators.scoring_input import (
    parse_time,
    read_alerts,
    read_labels,
    read_store,
    read_trips,
)
from simulators.scoring_report import report_lines, to_json

DESCRIPTION = """\
Score a run's alerts against the simulator's labels: recall, precision and median delay per
alert kind, warning lead before each breach, false alerts per 1,000 device-hours, and a
table of every incident. An alert counts for an incident when it is on the incident's
device, of a kind the incident expects, and opened from 5 min before its start to 60 min
after its end; an alert on a device and time no incident covers is a false alert (a
stability_budget opened at or after an incident's breach is that incident's, however late).
Device-hours: with --shipments, each shipment from departure to arrival, clipped to the
period; without, every device the labels and alerts name for the whole period. The period
runs from --start to --end, by default from the first to the last time in the labels and
alerts.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the scorer's flags on ``parser``."""
    a = parser.add_argument
    a(
        "--labels",
        type=Path,
        required=True,
        metavar="PATH",
        help="JSON lines of labels, as `simulate --labels` writes them: device_id, start, end,"
        " kinds (required), shipment_id, scenario, breach_at, params (README: Scoring a run)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--alerts", type=Path, metavar="PATH", help="alert events, JSON Lines (`backtest --alerts`)"
    )
    source.add_argument(
        "--db-url",
        metavar="URL",
        help="read the alerts a deployment stored instead: sqlite:///path or postgresql://...",
    )
    a("--shipments", type=Path, metavar="PATH", help="the fleet's manifest, for device-hours")
    a("--start", metavar="TIME", help="RFC 3339 start of the period device-hours cover")
    a("--end", metavar="TIME", help="RFC 3339 end of the period device-hours cover")
    a("--json", type=Path, metavar="OUT", help="write the full result as JSON")
    a("--plot", type=Path, metavar="OUT.png", help="plot recall, precision, delays and leads")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    try:
        start, end = _instant(args.start, "--start"), _instant(args.end, "--end")
        if start is not None and end is not None and end <= start:
            raise ScoreError("--end must be after --start")
        labels = read_labels(args.labels)
        alerts = read_alerts(args.alerts) if args.alerts is not None else read_store(args.db_url)
        trips = read_trips(args.shipments) if args.shipments is not None else None
        result = score(labels, alerts, exposure(labels, alerts, trips, start, end))
        if args.json is not None:
            _write(args.json, json.dumps(to_json(result), indent=1) + "\n")
        if args.plot is not None:
            from simulators.scoring_plot import plot_score

            try:
                plot_score(args.plot, result)
            except RuntimeError as exc:  # matplotlib is not installed
                raise ScoreError(str(exc)) from None
            except OSError as exc:
                raise ScoreError(f"--plot {args.plot}: {exc.strerror or exc}") from None
    except ScoreError as exc:
        print(f"cargowatch score: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(result)))
    return 0


def _instant(text: str | None, flag: str) -> int | None:
    try:
        return None if text is None else parse_time(text, flag, "time")
    except ScoreError:
        raise ScoreError(f"{flag} must be an RFC 3339 time, got {text!r}") from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ScoreError(f"{path}: {exc.strerror or exc}") from None
