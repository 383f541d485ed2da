"""Start Eddy: `python run.py` serves on http://127.0.0.1:8888 with the embedded default.

See `python run.py --help` for flags; each has an environment variable (EDDY_PORT, EDDY_DATA_DIR,
MONGODB_URI, REDIS_URL, EDDY_PROCESSES, ...). `python run.py admin --help` manages accounts from the
command line (create-user, reset-password, list-users); `python run.py backup DEST` and
`python run.py restore SRC` copy the embedded data dir online and put a copy back.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["admin"]:
        from server.admin_cli import admin_main

        sys.exit(admin_main(sys.argv[2:]))
    from server import backup_cli

    if sys.argv[1:2] and sys.argv[1] in backup_cli.COMMANDS:
        sys.exit(backup_cli.main(sys.argv[1:]))
    from server.runner import main
    from settings.config import load_config

    sys.exit(main(load_config()))
