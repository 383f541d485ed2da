"""`python run.py backup DEST` and `python run.py restore SRC`: the embedded data dir's online backup and
its restore (storage/embedded/backup.py), from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from storage.embedded.backup import BackupError, backup, restore

COMMANDS = ("backup", "restore")


def main(argv: Sequence[str]) -> int:
    """Run one command (`argv[0]` is backup or restore); prints what happened, exits 1 with a sentence
    on failure."""
    parser = argparse.ArgumentParser(prog="python run.py", description="Back up or restore Eddy's data dir.")
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("backup", help="copy the data dir (Eddy may be running) into a new directory")
    take.add_argument("destination", type=Path)
    put = commands.add_parser("restore", help="put a backup back as the data dir (stop Eddy first)")
    put.add_argument("source", type=Path)
    put.add_argument("--force", action="store_true", help="move a non-empty data dir aside first")
    for sub in (take, put):
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=Path(os.environ.get("EDDY_DATA_DIR", "data")),
            help="the data directory (EDDY_DATA_DIR, default ./data)",
        )
    args = parser.parse_args(list(argv))
    if os.environ.get("MONGODB_URI"):
        print("With MongoDB, back up the database with mongodump; this command copies the embedded store.")
        return 1
    try:
        if args.command == "backup":
            summary = backup(args.data_dir, args.destination)
            print(
                f"Backed up {args.data_dir} to {args.destination}: {len(summary['segments'])} segment files"
                f" ({summary['segment_rows']:,} events) plus the event log and the documents."
            )
        else:
            summary = restore(args.source, args.data_dir, force=args.force)
            print(f"Restored the backup taken at {summary['taken_at']:.0f} into {args.data_dir}.")
    except BackupError as error:
        print(str(error), file=sys.stderr)
        return 1
    return 0
