"""Re-vendor the console's front-end libraries from npm: ``python -m api.console.vendor``.

The versions are pinned in ``api/console/package.json`` and locked, with their integrity
hashes, in ``package-lock.json`` next to it. This runs ``npm ci`` (no install scripts) in a
scratch folder and copies into ``api/console/static/vendor/`` only the files the console
loads (the minified browser builds, uPlot's stylesheet and the Natural Earth country outlines
of ``world-atlas``), each package's LICENSE beside them, and a ``VERSIONS`` file saying what
came from where. The copies are committed, so serving the console needs neither npm nor a
network; npm is needed only to change a version. ``--update`` runs ``npm install`` instead of
``npm ci`` to rewrite the lock file after a version in package.json was changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
VENDOR: Final = HERE / "static" / "vendor"
#: package -> the files of it the console loads (paths inside the package).
FILES: Final[dict[str, tuple[str, ...]]] = {
    "uplot": ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
    "d3-array": ("dist/d3-array.min.js",),
    "d3-geo": ("dist/d3-geo.min.js",),
    "topojson-client": ("dist/topojson-client.min.js",),
    # 1:50m: country borders that still look right zoomed to one region; 1:110m is too coarse
    # for a corridor in East Africa, 1:10m five times the size for no visible gain.
    "world-atlas": ("countries-50m.json",),
}


def vendor(update: bool = False) -> list[str]:
    """Install the pinned packages in a scratch folder and copy their files; return the lines
    of ``VERSIONS``."""
    with tempfile.TemporaryDirectory(prefix="cargowatch-vendor-") as scratch:
        work = Path(scratch)
        shutil.copy(HERE / "package.json", work / "package.json")
        if (HERE / "package-lock.json").exists():
            shutil.copy(HERE / "package-lock.json", work / "package-lock.json")
        command = "install" if update else "ci"
        subprocess.run(
            ["npm", command, "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=work,
            check=True,
        )
        if update:
            shutil.copy(work / "package-lock.json", HERE / "package-lock.json")
        if VENDOR.exists():
            shutil.rmtree(VENDOR)
        lines = []
        for package, files in FILES.items():
            source = work / "node_modules" / package
            target = VENDOR / package
            target.mkdir(parents=True)
            for name in (*files, "LICENSE"):
                shutil.copy(source / name, target / Path(name).name)
            version = json.loads((source / "package.json").read_text())["version"]
            lines.append(f"{package} {version} (npm): {', '.join(Path(f).name for f in files)}")
        (VENDOR / "VERSIONS").write_text("\n".join(lines) + "\n")
        return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--update", action="store_true", help="npm install: rewrite the lock from package.json"
    )
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("vendor: npm is needed to re-vendor the console's libraries", file=sys.stderr)
        return 1
    for line in vendor(update=args.update):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
