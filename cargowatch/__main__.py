"""Allows `python -m cargowatch`."""

import sys

from cargowatch.cli import main

sys.exit(main())
