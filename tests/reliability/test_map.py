"""RELIABILITY.md stays true to the suite: every test its table names exists and carries the `reliability`
marker, so `make reliability` runs exactly the tests the document cites."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"[\w/]+\.py|::\w+(?:::\w+)?")


def cited_tests() -> list[tuple[str, str]]:
    """(module path under tests/, `::name` or `::Class::name`) for each test the table's Test(s) column
    names; `::name` alone belongs to the file named before it in the same cell."""
    cited = []
    for line in (ROOT / "RELIABILITY.md").read_text().splitlines():
        if not re.match(r"\| \d+ \|", line):
            continue
        current = None
        for token in REFERENCE.findall(line.split("|")[3]):
            if token.endswith(".py"):
                current = token if token.startswith("tests/") else f"tests/{token}"
            elif current is not None and not current.startswith("tests/support/"):
                cited.append((current, token))
    return cited


def _marks(obj: Any) -> set[str]:
    marks = getattr(obj, "pytestmark", [])
    return {mark.name for mark in (marks if isinstance(marks, list) else [marks])}


def test_every_cited_test_exists_and_is_marked() -> None:
    cited = cited_tests()
    assert len(cited) > 60
    unmarked = []
    for path, name in cited:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        owner: Any = module
        parts = name.strip(":").split("::")
        marks = _marks(module)
        for part in parts:
            assert hasattr(owner, part), f"{path}{name} does not exist"
            owner = getattr(owner, part)
            marks |= _marks(owner)
        if "reliability" not in marks:
            unmarked.append(f"{path}{name}")
    assert not unmarked, f"cited in RELIABILITY.md but not marked reliability: {unmarked}"
