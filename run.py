"""Start Eddy: `python run.py` serves on http://127.0.0.1:8888 with the embedded default.

See `python run.py --help` for flags; each has an environment variable (EDDY_PORT, EDDY_DATA_DIR,
MONGODB_URI, REDIS_URL, EDDY_PROCESSES, ...).
"""

from __future__ import annotations

import sys

from server.config import load_config
from server.runner import main

if __name__ == "__main__":
    sys.exit(main(load_config()))
