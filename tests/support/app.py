"""Build a test Eddy (context + Application) from a config dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handlers.context import AppContext
from runtime.secrets import load_or_create_secrets
from server.services import build_context
from settings.config import Config


def make_test_context(data_dir: Path, **overrides: Any) -> AppContext:
    """An unstarted context on an embedded store in `data_dir`, with config fields overridden.
    Registration is open unless `registration` says otherwise: most tests sign up several people. No
    compactor process runs unless `compact_interval_s` asks for one: a test rarely lives past its first
    pass, and starting one per test cost a process start and DuckDB's import each time (tests of
    compaction set it, or call `compact_now`)."""
    config = Config(data_dir=data_dir, **{"registration": "open", "compact_interval_s": None, **overrides})
    return build_context(config, load_or_create_secrets(data_dir, env={}))
