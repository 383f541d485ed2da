"""Handlers speak to domain services, never to the stores: the import contract (`make lint`) cannot see an
attribute path such as `self.ctx.stores.docs`, so this test reads the handler modules' syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[1] / "handlers"
# The context owns the stores (opens and closes them); the readiness probe checks each store itself.
ALLOWED = {"context.py", "health.py"}


def store_reaches(source: str) -> list[int]:
    """Line numbers where `<anything>.ctx.stores` or `ctx.stores` is read."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "stores":
            owner = node.value
            named_ctx = (isinstance(owner, ast.Attribute) and owner.attr == "ctx") or (
                isinstance(owner, ast.Name) and owner.id == "ctx"
            )
            if named_ctx:
                lines.append(node.lineno)
    return lines


def test_the_finder_sees_every_spelling() -> None:
    source = "self.ctx.stores.docs\nctx.stores.kv\nx = self.ctx\nself.ctx.stats.read_events()\n"
    assert store_reaches(source) == [1, 2]


def test_no_handler_reaches_the_stores() -> None:
    reaches = {
        path.name: lines
        for path in sorted(HANDLERS.glob("*.py"))
        if path.name not in ALLOWED and (lines := store_reaches(path.read_text()))
    }
    assert reaches == {}, f"handlers reading ctx.stores (call a domain service instead): {reaches}"
