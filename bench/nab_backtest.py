"""Score the statistical detector on the benchmark exactly as an operator would: through the CLI.

For every data file under `../shared/nab-data/data`, runs
`cargowatch backtest FILE --scores RESULTS/<category>/<file>.csv`, then the
benchmark's own `score.py` over the results folder, and prints the three
profiles' scores. `bench/nab.py` scores in-process (and checks robustness to
the parameters); this script proves the command line produces the same thing
end to end. The backtest scores with the `anomaly` detector's own
`CombinedScorer`, so this prints what `bench/nab.py` prints in-process.

    .venv/bin/python bench/nab_backtest.py [--out var/nab-backtest]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nab import NAB_DIR, PROFILES, nab_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab-dir", type=Path, default=NAB_DIR)
    parser.add_argument("--out", type=Path, help="keep the results folder here")
    args = parser.parse_args()
    files = sorted((args.nab_dir / "data").glob("*/*.csv"))
    if not files:
        raise SystemExit(f"no data under {args.nab_dir / 'data'}")
    with tempfile.TemporaryDirectory(prefix="nab-backtest-") as tmp:
        out = args.out or Path(tmp)
        started = time.perf_counter()
        for f in files:
            target = out / f.parent.name / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cargowatch",
                    "backtest",
                    str(f),
                    "--scores",
                    str(target),
                    "--alerts",
                    str(Path(tmp) / "alerts.jsonl"),
                ],
                check=True,
                capture_output=True,
            )
        took = time.perf_counter() - started
        scores = nab_scores(out, args.nab_dir)
    print(f"{len(files)} files through `cargowatch backtest --scores` in {took:.1f} s")
    for profile in PROFILES:
        s = scores[profile]
        print(
            f"{profile:<20} score={s['normalized']:6.2f}"
            f"  windows hit {s['windows_hit']}/{s['windows']}"
        )


if __name__ == "__main__":
    main()
