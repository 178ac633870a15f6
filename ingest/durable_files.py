"""Files written whole or not at all: the one way CargoWatch replaces a file on disk.

`replace_file` writes to a temporary name in the same directory, fsyncs it, renames it
over the target and fsyncs the directory, so a reader (mosquitto on SIGHUP, the
detectors at the next start) sees the old file or the new one, never a part, even after
a crash. `fsync_directory` is the last step on its own, for callers that rename files
themselves (the spool).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably.

    When `path` exists its owner and group carry over where permitted, so a file another
    user (the broker's) owns stays readable to it.
    """
    directory = path.parent
    try:
        previous = path.stat()
    except FileNotFoundError:
        previous = None
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        if previous is not None and (previous.st_uid, previous.st_gid) != (
            os.geteuid(),
            os.getegid(),
        ):
            with contextlib.suppress(PermissionError):
                os.fchown(fd, previous.st_uid, previous.st_gid)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename (or removal) in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
