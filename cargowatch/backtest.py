"""`cargowatch backtest`: check its arguments, then wire a recording through the detectors.

Reading the recording and writing alert events and scores is
`ingest.recordings`; the event-time replay and its summary is
`detectors.replay`; the picture is `cargowatch.backtest_plot`. This module
only decides, from the arguments, which of them run and with what.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Final

from cargowatch.backtest_plot import plot_backtest
from cargowatch.settings import DETECT, SettingError
from cargowatch.wiring import load_shipments
from detectors.profiles import PROFILES
from detectors.reading import FLOAT_CHANNELS, Reading
from detectors.replay import ReplayResult, replay, replay_engine, temp_band
from ingest.recordings import RecordingError, read_csv, read_jsonl, write_alerts, write_scores

#: The ingester's `--lateness-s`: a backtest takes the same default and bounds.
_LATENESS: Final = next(s for s in DETECT if s.name == "lateness_s")


def run_command(args: argparse.Namespace) -> int:
    """The `cargowatch backtest` command; returns the exit code."""
    if args.channel not in FLOAT_CHANNELS:
        raise SettingError(
            f"--channel must be one of {', '.join(FLOAT_CHANNELS)}, got {args.channel!r}"
        )
    if args.profile is not None and args.profile not in PROFILES:
        raise SettingError(
            f"--profile must be one of {', '.join(sorted(PROFILES))}, got {args.profile!r}"
        )
    if not args.input.is_file():
        raise SettingError(f"INPUT {args.input} is not a readable file")
    for flag, path in (("--alerts", args.alerts), ("--scores", args.scores), ("--plot", args.plot)):
        # Checked before the replay, which can take minutes, rather than failing after it.
        if path is not None and not path.parent.is_dir():
            raise SettingError(f"{flag} {path}: there is no folder {path.parent}")
    raw = args.lateness_s if args.lateness_s is not None else str(_LATENESS.default)
    try:
        lateness_s = _LATENESS.parse(raw)
    except ValueError as exc:
        raise SettingError(f"--lateness-s {exc}, got {raw}") from None
    shipments = load_shipments(args.shipments, "--shipments")
    is_csv = args.input.suffix.lower() == ".csv"
    # A benchmark CSV is one bare channel with no cargo behind it: no profile unless asked.
    profile = PROFILES.get(args.profile or ("" if is_csv else "customs_transit"))
    result = ReplayResult()
    readings: Iterator[Reading] = (
        read_csv(args.input, args.channel, args.device)
        if is_csv
        else read_jsonl(args.input, result.rejected)
    )
    try:
        replay(
            readings,
            replay_engine(shipments, profile, int(lateness_s * 1000)),
            result,
            channel=args.channel,
            scores=args.scores is not None,
            series=args.plot is not None,
        )
    except RecordingError as exc:
        raise SettingError(str(exc)) from None
    if result.readings == 0:
        # An empty or wholly rejected recording proves nothing about the detectors: a script
        # that replays it must not carry on as if it had.
        rejected = sum(result.rejected.values())
        print(
            f"cargowatch backtest: no reading replayed from {args.input}"
            + (
                f" ({rejected:,} rejects: {dict(sorted(result.rejected.items()))})"
                if rejected
                else " (it holds none)"
            ),
            file=sys.stderr,
        )
        return 1
    try:
        with args.alerts.open("w") as out:
            write_alerts(result.events, out)
        if args.scores is not None:
            write_scores(result.scores, args.scores)
        if args.plot is not None:
            band = temp_band(shipments, profile) if args.channel == "temp_c" else None
            plot_backtest(args.plot, result.series, band, result.events, args.channel)
    except OSError as exc:
        # The folder was checked; this is a file that cannot be written (permissions, disk).
        raise SettingError(f"cannot write {exc.filename}: {exc.strerror}") from None
    for line in result.summary(str(args.alerts)):
        print(line, file=sys.stderr)
    return 0
