"""Fill an Eddy deployment with demo data: a few users (credentials printed), their sites, and 60 days of
realistic traffic (domain/stats/synthetic.py) written with the event store's bulk load path, for speed.

Usage: python scripts/demo_data.py [--days 60] [--sessions-per-day 400] [run.py flags: --data-dir,
       --mongo-uri, --redis-url ...]        (also: make demo)

Running it again adds new users (fresh emails) and sites; existing data is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.accounts.sites import SiteCreate
from domain.stats.synthetic import TrafficModel
from handlers.context import AppContext
from runtime.secrets import load_or_create_secrets
from server.services import build_context
from settings.config import load_config

# (user name, [(site name, domain, timezone, sessions a day relative to --sessions-per-day)])
DEMO = [
    ("Ada Demo", [("Ada's Shop", "shop.demo.example", "Europe/Berlin", 1.0),
                  ("Ada's Blog", "blog.demo.example", "Europe/Berlin", 0.3)]),
    ("Grace Demo", [("Grace Docs", "docs.demo.example", "America/New_York", 0.6)]),
    ("Linus Demo", [("Linus Labs", "labs.demo.example", "Asia/Kolkata", 0.4)]),
]  # fmt: skip


async def add_user(ctx: AppContext, name: str, run_id: str) -> tuple[dict, str]:
    """A new user with a random password (returned so it can be printed once)."""
    password = secrets.token_urlsafe(12)
    email = f"{name.split()[0].lower()}-{run_id}@demo.example"
    user = await ctx.accounts.users.create(email, name, await ctx.accounts.hasher.hash(password))
    return user, password


async def fill(ctx: AppContext, days: int, per_day: float) -> None:
    """Create the demo users, sites and events, printing what was made."""
    run_id = secrets.token_hex(3)
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    owners = []
    for index, (name, sites) in enumerate(DEMO):
        user, password = await add_user(ctx, name, run_id)
        owners.append(user)
        print(f"user  {user['email']}  password {password}")
        for site_index, (site_name, domain, tz, weight) in enumerate(sites):
            body = SiteCreate(
                name=site_name, domain=domain, allowed_origins=[f"https://{domain}"], timezone=tz
            )
            site = await ctx.accounts.sites.create(user["id"], body)
            model = TrafficModel(site.id, seed=index * 10 + site_index + 1, tz=tz, hostname=domain)
            started = time.monotonic()
            batches = model.events(first, days, per_day * weight, people=int(per_day * weight * 20) + 50)
            # the bulk load path: straight into columnar segments (no per-batch acks); nothing in the future
            stored = await ctx.stores.events.bulk_load(
                [event for event in batch if event.ts <= time.time() * 1000] for batch in batches
            )
            took = time.monotonic() - started
            print(f"  site {site.id}  {site_name} ({tz}): {stored} events in {took:.1f} s")
    # The second user can also read the first user's shop, as a viewer.
    shop = (await ctx.stores.docs.find("sites", {"owner_id": owners[0]["id"]}, sort="created_at"))[0]
    await ctx.stores.docs.insert(
        "members",
        {"id": secrets.token_urlsafe(16), "site_id": shop["id"], "user_id": owners[1]["id"], "role": "viewer",
         "created_at": time.time()},
    )  # fmt: skip
    print(f"{owners[1]['email']} is a viewer of {shop['name']}")


def main(argv: list[str] | None = None) -> int:
    """Parse flags, open the configured stores, fill them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--sessions-per-day", type=float, default=400.0)
    args, rest = parser.parse_known_args(argv)
    config = load_config(rest, os.environ)
    ctx = build_context(config, load_or_create_secrets(config.data_dir, os.environ))

    async def go() -> None:
        await ctx.start()
        try:
            await fill(ctx, args.days, args.sessions_per_day)
        finally:
            await ctx.stop()

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
