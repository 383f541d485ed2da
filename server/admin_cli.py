"""`python run.py admin ...`: manage accounts without the web UI (the first admin of an instance without
mail, a forgotten password, an instance with registration closed).

    python run.py admin [--data-dir DIR | --mongo-uri URI] create-user --email E [--name N] [--admin]
    python run.py admin reset-password --email E
    python run.py admin list-users

Passwords are read from the terminal without echo, or from the first line of standard input when it is not
a terminal (`--password-stdin` scripts). It works on the same stores as the server (they may run at the
same time). A reset ends the account's sessions; a running server without Redis notices within 30 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from domain.accounts.access import BearerAuthenticator
from domain.accounts.passwords import MAX_LENGTH, MIN_LENGTH, PasswordHasher
from domain.accounts.sessions import SessionService
from domain.accounts.tokens import TokenService, new_id
from runtime.secrets import load_or_create_secrets
from server.stores import build_stores
from settings.config import Config
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py admin", description="Manage Eddy accounts from the command line")
    p.add_argument("--data-dir", default=os.environ.get("EDDY_DATA_DIR", "data"))
    p.add_argument("--mongo-uri", default=os.environ.get("MONGODB_URI") or None)
    commands = p.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create an account (its address counts as verified)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--admin", action="store_true", help="make the account an instance admin")
    reset = commands.add_parser("reset-password", help="set a new password and end every session")
    reset.add_argument("--email", required=True)
    commands.add_parser("list-users", help="every account, oldest first")
    return p


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("The two passwords differ.")
    else:
        first = stdin.readline().rstrip("\n")
    if not MIN_LENGTH <= len(first) <= MAX_LENGTH:
        raise SystemExit(f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters.")
    return first


async def _find(docs: DocumentStore, email: str) -> dict | None:
    rows = await docs.find("users", {"email": email.strip().lower()}, limit=1)
    return rows[0] if rows else None


async def _run(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    config = Config(data_dir=Path(args.data_dir), mongo_uri=args.mongo_uri)
    secrets = load_or_create_secrets(config.data_dir)
    stores = build_stores(config)
    docs = stores.docs
    await docs.open()
    try:
        if args.command == "list-users":
            for user in await docs.find("users", {}, sort="created_at"):
                flags = [
                    flag
                    for flag, on in (
                        ("admin", user.get("instance_admin")),
                        ("verified", user.get("email_verified")),
                        ("2fa", (user.get("totp") or {}).get("enabled")),
                    )
                    if on
                ]
                created = time.strftime("%Y-%m-%d", time.gmtime(user["created_at"]))
                out.write(f"{user['email']}\t{created}\t{','.join(flags)}\n")
            return 0
        hasher = PasswordHasher(secrets.password_pepper)
        if args.command == "create-user":
            password_hash = await hasher.hash(_read_password(stdin))
            now = time.time()
            user = {
                "id": new_id(),
                "email": args.email.strip().lower(),
                "name": args.name.strip(),
                "password_hash": password_hash,
                "created_at": now,
                "password_changed_at": now,
                "email_verified": True,
                "instance_admin": bool(args.admin),
            }
            try:
                await docs.insert("users", user)
            except DuplicateKeyError:
                out.write(f"An account with {user['email']} exists already.\n")
                return 1
            # The instance has its first account now: self-service sign-up no longer makes an admin.
            with contextlib.suppress(DuplicateKeyError):
                await docs.insert("instance", {"id": "first_account", "claimed_at": now})
            out.write(f"Created {user['email']}{' (instance admin)' if args.admin else ''}.\n")
            return 0
        user = await _find(docs, args.email)
        if user is None:
            out.write(f"No account has the address {args.email.strip().lower()}.\n")
            return 1
        password_hash = await hasher.hash(_read_password(stdin))
        await docs.update(
            "users", {"id": user["id"]}, {"password_hash": password_hash, "password_changed_at": time.time()}
        )
        sessions = SessionService(
            TokenService(secrets.jwt_key), docs, BearerAuthenticator(TokenService(secrets.jwt_key), docs)
        )
        await sessions.revoke_all(user["id"])
        out.write(f"Password of {user['email']} changed; its sessions are ended.\n")
        return 0
    finally:
        await docs.close()


def admin_main(argv: Sequence[str], out: TextIO = sys.stdout, stdin: TextIO = sys.stdin) -> int:
    """Run one admin command; returns the exit status."""
    return asyncio.run(_run(_parser().parse_args(list(argv)), out, stdin))
