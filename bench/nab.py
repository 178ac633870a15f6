"""Score the anomaly score on the Numenta Anomaly Benchmark data, the way NAB scores detectors.

Runs one scorer per data file (the product's `CombinedScorer`, or with `--reference`
`AnomalyScorer` alone with records that always fade, the score before it) over every
reading in time order (timestamps
`YYYY-MM-DD HH:MM:SS` read as UTC epoch ms), writes NAB's results layout
`<out>/<category>/<file>.csv` (`timestamp,anomaly_score`, one row per data row),
runs the benchmark's own `score.py` on it with this interpreter and prints the
standard, reward_low_FP_rate and reward_low_FN_rate scores, plus the mean cost of
one `update` call and the largest pickled scorer state seen at the end of a file.

    .venv/bin/python bench/nab.py                         # defaults, results in a temp dir
    .venv/bin/python bench/nab.py --out var/nab-results   # keep the results
    .venv/bin/python bench/nab.py --set refractory=250    # score another setting
    .venv/bin/python bench/nab.py --reference             # the score before CombinedScorer
    .venv/bin/python bench/nab.py --neighbours            # defaults and each parameter x0.8, x1.25

`--neighbours` is the robustness check: a detector tuned to this data would collapse
when a parameter moves a little; this one should not. Timings are noisy on a shared
machine: compare within one run.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import math
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.anomaly_combined import CombinedScorer
from detectors.anomaly_score import AnomalyScorer

# The benchmark data ships beside the repository, in ../shared/nab-data.
NAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "nab-data"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
#: Parameters varied by --neighbours, with the integer ones kept integral.
TUNABLE = {
    "steps": float,
    "rest": int,
    "record_hold": float,
    "memory": int,
    "record_half_life": int,
    "refractory": int,
    "warmup": int,
    "strictness": float,
}


def epoch_ms(stamp: str) -> int:
    """'2014-04-01 00:05:00' (UTC) -> epoch milliseconds."""
    dt = datetime.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000


Files = dict[str, tuple[list[str], list[int], list[float]]]
Params = dict[str, Any]


def load(data_dir: Path) -> Files:
    """Every data file as (timestamp strings, epoch ms, values), keyed 'category/file.csv'."""
    files = {}
    for path in sorted(data_dir.glob("*/*.csv")):
        with path.open(newline="") as f:
            rows = list(csv.reader(f))[1:]
        stamps = [r[0] for r in rows]
        files[f"{path.parent.name}/{path.name}"] = (
            stamps,
            [epoch_ms(s) for s in stamps],
            [float(r[1]) for r in rows],
        )
    return files


#: The reference: the record cues alone, with records that always fade.
REFERENCE: Params = {"record_hold": math.inf}


def make_scorer(params: Params) -> CombinedScorer | AnomalyScorer:
    """The product's score, or the reference when `params` sets `reference`."""
    params = dict(params)
    if params.pop("reference", False):
        return AnomalyScorer(**{**REFERENCE, **params})
    return CombinedScorer(**params)


def run(files: Files, out: Path, params: Params) -> tuple[float, int]:
    """Score every file into `out`; returns (mean seconds per update, max pickled bytes)."""
    elapsed, updates, state_bytes = 0.0, 0, 0
    for rel, (stamps, ts, values) in files.items():
        scorer = make_scorer(params)
        update = scorer.update
        started = time.perf_counter()
        scores = [update(t, v) for t, v in zip(ts, values, strict=True)]
        elapsed += time.perf_counter() - started
        updates += len(scores)
        state_bytes = max(state_bytes, len(pickle.dumps(scorer)))
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "anomaly_score"])
            w.writerows(zip(stamps, (f"{s:.10g}" for s in scores), strict=True))
    return elapsed / updates, state_bytes


def nab_scores(out: Path, nab_dir: Path) -> dict[str, Any]:
    """Run the benchmark's score.py on a results dir; {profile: its JSON summary}."""
    proc = subprocess.run(
        [
            sys.executable,
            str(nab_dir / "score.py"),
            str(out),
            "--windows",
            str(nab_dir / "labels" / "combined_windows.json"),
            "--data-dir",
            str(nab_dir / "data"),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def evaluate(files: Files, nab_dir: Path, params: Params, out: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nab-results-") as tmp:
        target = out or Path(tmp)
        per_update, state_bytes = run(files, target, params)
        scores = nab_scores(target, nab_dir)
    return {"params": params, "us": per_update * 1e6, "bytes": state_bytes, "scores": scores}


def line(result: dict[str, Any]) -> str:
    s = result["scores"]
    std = s["standard"]
    label = ", ".join(f"{k}={v}" for k, v in result["params"].items()) or "defaults"
    return (
        f"{label:28s} standard={std['normalized']:6.2f} "
        f"low_FP={s['reward_low_FP_rate']['normalized']:6.2f} "
        f"low_FN={s['reward_low_FN_rate']['normalized']:6.2f}  "
        f"windows hit {std['windows_hit']}/{std['windows']}, FP rows {std['fp']}  "
        f"{result['us']:.2f} us/update, state {result['bytes']} B"
    )


def parse_set(items: list[str]) -> Params:
    params: Params = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in TUNABLE:
            raise SystemExit(f"--set {item!r}: parameter must be one of {', '.join(TUNABLE)}")
        params[name] = TUNABLE[name](value)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=NAB_DIR, help="data/, labels/, score.py")
    parser.add_argument("--out", type=Path, help="write the results here (default: a temp dir)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--neighbours", action="store_true", help="also score each parameter x0.8 and x1.25"
    )
    parser.add_argument(
        "--reference", action="store_true", help="score AnomalyScorer alone, records fading"
    )
    args = parser.parse_args(argv)
    base = parse_set(args.set)
    if args.reference:
        if {"steps", "rest"} & base.keys():
            raise SystemExit("--reference has no new-territory cue: steps and rest do not apply")
        base["reference"] = True
    files = load(args.nab_dir / "data")
    n = sum(len(f[1]) for f in files.values())
    print(f"{len(files)} files, {n} readings")
    result = evaluate(files, args.nab_dir, base, args.out)
    for profile in PROFILES:
        r = result["scores"][profile]
        print(f"{profile:20s} score={r['normalized']:6.2f}  threshold={r['threshold']:.6g}")
    print(f"{result['us']:.2f} us per update, largest pickled state {result['bytes']} bytes")
    if args.neighbours:
        print(line(result))
        defaults = inspect.signature(CombinedScorer).parameters
        for name, kind in TUNABLE.items():
            default = base.get(name, defaults[name].default)
            if args.reference and name in ("steps", "rest", "record_hold"):
                continue  # the reference has no new-territory cue and never holds records
            if math.isinf(default):
                continue
            for factor in (0.8, 1.25):
                value = kind(default * factor)
                params = {**base, name: value}
                print(line(evaluate(files, args.nab_dir, params, None)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
