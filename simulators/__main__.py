"""``python -m simulators``: the same command as ``cargowatch simulate``."""

import sys

from simulators.cli import main

if __name__ == "__main__":
    sys.exit(main())
