"""Figures the reliability tests measure (counts, RSS, lag), published one way for all of them.

`record(name, figures)` writes `reliability/results/<name>.json` (git-ignored; the last run wins) with the
time and machine, and keeps it for the end of the session, where `summary()` prints every figure recorded
in this run under a "reliability figures" heading (tests/conftest.py calls it from
pytest_terminal_summary), so `make reliability` shows them without `-s`. RELIABILITY.md quotes them.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "reliability" / "results"

_recorded: dict[str, dict[str, Any]] = {}


def record(name: str, figures: dict[str, Any]) -> Path:
    """Write the figures of one test to reliability/results/<name>.json and keep them for the summary."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    document = {
        "name": name,
        "figures": figures,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1m": load},
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    _recorded[name] = figures
    print(f"figures {name}: {json.dumps(figures, default=str)}")
    return path


def summary() -> list[str]:
    """One line per figure set recorded in this session (empty when none was)."""
    return [f"{name}: {json.dumps(figures, default=str)}" for name, figures in _recorded.items()]
