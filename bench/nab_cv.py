"""Leave-one-category-out cross-validation of the anomaly score's settings on the NAB data.

For each category (a subfolder of `data/`), picks the best of a small grid of
settings, and the alert threshold, on the other categories with the NAB
standard profile, then scores the held-out category at that setting and that
threshold with the benchmark's own `score.py` (imported from the data folder,
the rule `bench/nab.py` runs). Prints each category's held-out score, the
cross-validated score (every category's held-out raw score summed, normalised
over all windows) and the in-sample score of the defaults (threshold swept on
everything, as `bench/nab.py` reports it), for three methods in the same run:

- `CombinedScorer`, the score the product uses (record-relative cues, with records
  held while a cue keeps returning to them, joined with new-territory novelty); grid:
  the margin beyond the covered range (0.5, 1 or 2 of the stream's usual steps, the
  mean absolute change between its readings), the rest after a new-territory reading
  (50, 100 or 200 readings) and the share of its record a cue must reach to hold it
  (0.7, 0.8, 0.9);
- the reference it improves on: `AnomalyScorer` alone with records that always fade
  (the score before this method); grid: the memory over which the stream's baselines
  are averaged (about two days, a week or a month of 5-minute readings) and the
  strictness, the minimum surprise a cue needs to count at all (1.0, 1.5, 2.0);
- a windowed Gaussian, NAB's own baseline, with no settings chosen.

Grids are deliberately small, and every stream gets the same settings. Everything is
deterministic: a rerun prints the same figures.

    .venv/bin/python bench/nab_cv.py [--nab-dir ../shared/nab-data]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import sys
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nab import NAB_DIR, load

from detectors.anomaly_combined import CombinedScorer
from detectors.anomaly_score import AnomalyScorer

GRID: dict[str, tuple[Any, ...]] = {
    "steps": (0.5, 1.0, 2.0),
    "rest": (50, 100, 200),
    "record_hold": (0.7, 0.8, 0.9),
}
REFERENCE_GRID: dict[str, tuple[Any, ...]] = {
    "memory": (500, 2000, 8000),
    "strictness": (1.0, 1.5, 2.0),
    "record_hold": (math.inf,),  # records always fade, as before they were held
}
Scorer = type[CombinedScorer] | type[AnomalyScorer]
Files = dict[str, tuple[list[str], list[int], list[float]]]
Scores = dict[str, tuple[list[str], list[float]]]


def nab_module(nab_dir: Path) -> ModuleType:
    """The data folder's own scorer, imported as a module."""
    spec = importlib.util.spec_from_file_location("nab_score", nab_dir / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def scorer_scores(files: Files, params: dict[str, Any], scorer: Scorer = CombinedScorer) -> Scores:
    out = {}
    for rel, (stamps, ts, values) in files.items():
        update = scorer(**params).update
        out[rel] = (stamps, [update(t, v) for t, v in zip(ts, values, strict=True)])
    return out


def windowed_gaussian(files: Files, window: int = 6400) -> Scores:
    """NAB's windowed-Gaussian reference: each value's distance from the window's mean in sds."""
    out = {}
    for rel, (stamps, _, values) in files.items():
        buf: deque[float] = deque()
        s = s2 = 0.0
        scores = []
        for v in values:
            n = len(buf)
            if n < 2:
                scores.append(0.0)
            else:
                mean = s / n
                sd = math.sqrt(max(s2 / n - mean * mean, 0.0))
                # |z| / (1 + |z|) ranks like the Gaussian tail but does not round to 1.0.
                z = abs(v - mean) / sd if sd > 0 else 0.0
                scores.append(z / (1.0 + z))
            buf.append(v)
            s += v
            s2 += v * v
            if len(buf) > window:
                old = buf.popleft()
                s -= old
                s2 -= old * old
        out[rel] = (stamps, scores)
    return out


def category(rel: str) -> str:
    return rel.split("/", 1)[0]


def held_out(
    nab: ModuleType, runs: dict[str, Scores], windows: dict[str, list[list[str]]], cat: str
) -> tuple[str, Any, Any]:
    """Best setting and threshold on every category but `cat`; the result on `cat` at them."""
    best_key, best = "", None
    for key, scores in runs.items():
        train = {r: s for r, s in scores.items() if category(r) != cat}
        res = nab.score_corpus(train, windows, "standard")
        if best is None or res.normalized > best.normalized:
            best_key, best = key, res
    assert best is not None
    test = {r: s for r, s in runs[best_key].items() if category(r) == cat}
    return best_key, best, nab.score_corpus(test, windows, "standard", threshold=best.threshold)


def cross_validate(nab: ModuleType, runs: dict[str, Scores], windows: dict[str, Any]) -> None:
    cats = sorted({category(r) for r in next(iter(runs.values()))})
    raw = null = perfect = 0.0
    for cat in cats:
        key, train, test = held_out(nab, runs, windows, cat)
        raw, null, perfect = raw + test.raw, null + test.null, perfect + test.perfect
        norm = "   n/a" if test.perfect == test.null else f"{test.normalized:6.2f}"
        print(
            f"  {cat:22s} held-out {norm} (raw {test.raw:+.3f}, windows hit "
            f"{test.counts['windows_hit']}/{test.counts['windows']}, FP rows {test.counts['fp']})"
            f"  chosen {key}, threshold {train.threshold:.6g} (train {train.normalized:.2f})"
        )
    print(f"  cross-validated NAB standard: {100.0 * (raw - null) / (perfect - null):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=NAB_DIR, help="data/, labels/, score.py")
    args = parser.parse_args(argv)
    nab = nab_module(args.nab_dir)
    windows = json.loads((args.nab_dir / "labels" / "combined_windows.json").read_text())
    files = load(args.nab_dir / "data")
    print(f"{len(files)} files in {len({category(r) for r in files})} categories")
    for scorer, grid in ((CombinedScorer, GRID), (AnomalyScorer, REFERENCE_GRID)):
        runs: dict[str, Scores] = {}
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values, strict=True))
            key = ", ".join(f"{k}={v:g}" for k, v in params.items())
            runs[key] = scorer_scores(files, params, scorer)
        print(f"{scorer.__name__}, settings from the grid chosen without the held-out category:")
        cross_validate(nab, runs, windows)
        fixed = {k: v[0] for k, v in grid.items() if len(v) == 1}
        defaults = nab.score_corpus(scorer_scores(files, fixed, scorer), windows, "standard")
        print(f"  in-sample NAB standard, defaults: {defaults.normalized:.2f}")
        for key, scores in runs.items():
            res = nab.score_corpus(scores, windows, "standard")
            print(f"    in-sample {key:32s} {res.normalized:6.2f}")
    print("Windowed Gaussian (6,400-reading window, no settings chosen):")
    gauss = {"window=6400": windowed_gaussian(files)}
    cross_validate(nab, gauss, windows)
    res = nab.score_corpus(gauss["window=6400"], windows, "standard")
    print(f"  in-sample NAB standard: {res.normalized:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
