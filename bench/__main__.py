"""Run Eddy's benchmarks in one run and print their tables.

Each benchmark is a module in this package listed in BENCHMARKS, exposing:

    def add_arguments(parser: argparse.ArgumentParser) -> None   # optional: its own flags
    def run(args: argparse.Namespace) -> dict                    # does the work, returns its results

`run` returns {"title": str, "rows": [dict, ...], "notes": [str, ...]} (any extra keys are kept in the
JSON file). Rows are printed as a table; everything is also written to bench/results/<name>.json together
with a description of the machine, so BENCHMARKS.md can quote one run.

Usage: python -m bench [--only ingest,event_loop,live,query,auth,metrics,mail] [benchmark flags...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

BENCHMARKS = ("ingest", "event_loop", "live", "query", "auth", "metrics", "mail", "imports")
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        info["memory"] = mem.split(":", 1)[1].strip()
    except OSError:
        pass
    return info


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """A plain aligned table."""
    print(f"\n## {title}")
    if not rows:
        print("(no rows)")
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(c[i]) for c in cells)) for i, col in enumerate(columns)]
    print(" | ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the chosen benchmarks, print and save their results."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmark names")
    modules = {}
    for name in BENCHMARKS:
        try:
            modules[name] = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"bench.{name}":
                raise
            continue
        if hasattr(modules[name], "add_arguments"):
            group = parser.add_argument_group(name)
            modules[name].add_arguments(group)
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    RESULTS.mkdir(exist_ok=True)
    description = machine()
    print("machine:", json.dumps(description))
    status = 0
    for name in chosen:
        module = modules.get(name)
        if module is None:
            print(f"\n## {name}: not available", file=sys.stderr)
            status = 1
            continue
        started = time.monotonic()
        result = module.run(args)
        result.setdefault("title", name)
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["machine"] = description
        print_table(result["title"], result.get("rows", []))
        for note in result.get("notes", []):
            print(f"- {note}")
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
