"""schemathesis against the live OpenAPI document: no 5xx, and every answer conforms to the documented
schema, status codes and content types (scripts/schemathesis.sh, with a bounded number of examples)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL_CRASH = re.compile(r"SystemError: AST constructor recursion depth mismatch")
# schemathesis' own report of a finding: its FAILURES section, "N failure(s)" in its closing summary, or
# a phase's "N failed". The bare word "failure" also occurs in the crash's traceback (core/failures.py).
FINDING = re.compile(r"=+ FAILURES =+|\b\d+ failures?\b|\b\d+ failed\b")


@pytest.mark.reliability
@pytest.mark.slow
@pytest.mark.timeout(480)
def test_schemathesis_finds_no_failures(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "MAX_EXAMPLES": "3",
        "PHASES": "coverage,fuzzing",
        "MAX_TIME": "60",
        "SEED": "20261123",
        "REPORT_DIR": str(tmp_path / "report"),
    }
    crashes = 0
    for _attempt in range(3):
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "schemathesis.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,  # ~70 s on an idle 2-core machine; the budget is for a loaded one
            check=False,
        )
        output = result.stdout + result.stderr
        # CPython 3.11 sometimes fails inside schemathesis' own schema compilation ("SystemError: AST
        # constructor recursion depth mismatch"); that is the tool crashing, not a finding about Eddy,
        # so such a run (and only such a run, with no finding in it) is tried again, twice at most.
        if result.returncode == 0 or not TOOL_CRASH.search(output) or FINDING.search(output):
            break
        crashes += 1
    assert "Tested:" in output, output[-4000:]
    assert result.returncode == 0, f"after {crashes} tool crash(es) retried:\n" + output[-6000:]
