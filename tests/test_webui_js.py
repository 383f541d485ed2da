"""The dashboard's pure JavaScript modules under node's own test runner (tests/js/*.test.mjs), in two
timezones whose daylight-saving changes the cases cross."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node not installed (scripts/system-deps.sh installs it)")
@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_js_modules_pass_their_node_tests(tz: str) -> None:
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, "no JavaScript tests found"
    done = subprocess.run(
        [NODE or "node", "--test", *files],
        env={**os.environ, "TZ": tz},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout
