"""The data directory is private to Eddy's user: the SQLite files hold public keys, webhook signing
secrets, password hashes and every event.

`make_private` runs once at start, before anything opens a file: the process umask becomes 0o077 (every
file Eddy or SQLite creates from then on, the WAL and shared-memory files included, is 0600 and every
directory 0700), and what is already in the data directory (from an older version, a restore, a copy)
is set to those modes, without following symbolic links.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("eddy")

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private(data_dir: Path) -> int:
    """Set the umask, create the data dir if needed and tighten what is in it; how many modes changed."""
    os.umask(0o077)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    changed = _tighten(data_dir, DIR_MODE)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            changed += _tighten(Path(root) / name, DIR_MODE)
        for name in files:
            changed += _tighten(Path(root) / name, FILE_MODE)
    if changed:
        log.info("made %d paths in %s private to this user (0600 files, 0700 folders)", changed, data_dir)
    return changed


def _tighten(path: Path, mode: int) -> int:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return 0
    if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == mode:
        return 0
    try:
        os.chmod(path, mode)
    except OSError as error:  # e.g. a file owned by another user: say so, keep starting
        log.warning("could not make %s private: %s", path, error)
        return 0
    return 1
