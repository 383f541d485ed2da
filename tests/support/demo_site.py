"""A data directory holding one user and one site with N demo events (domain/stats/synthetic.py over the
last DAYS days, written with the store's bulk load path), for browser tests that time the dashboard on
realistic volumes. Run as a process before Eddy starts on the same directory:

    python -m tests.support.demo_site DATA_DIR EVENTS    -> prints {"email", "password", "site_id", "events"}
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from domain.accounts.sites import SiteCreate
from domain.stats.synthetic import TrafficModel
from runtime.secrets import load_or_create_secrets
from server.services import build_context
from settings.config import load_config
from storage.ports import EventFilter, Grouping

DAYS = 60
EVENTS_PER_SESSION = 2.08  # the traffic model's mean (bench/query.py)
PASSWORD = "correct horse battery staple"
TZ = "Europe/Berlin"


async def fill(data_dir: Path, events: int) -> dict[str, object]:
    """Create the user, the site and its events; returns what a test needs to sign in."""
    config = load_config(["--data-dir", str(data_dir)], {**os.environ, "EDDY_REGISTRATION": "open"})
    ctx = build_context(config, load_or_create_secrets(config.data_dir, os.environ))
    await ctx.start()
    try:
        email = f"demo-{int(time.time() * 1000)}@example.com"
        user = await ctx.accounts.users.create(email, "Demo", await ctx.accounts.hasher.hash(PASSWORD))
        body = SiteCreate(
            name="Demo Shop", domain="shop.example", allowed_origins=["https://shop.example"], timezone=TZ
        )
        site = await ctx.accounts.sites.create(user["id"], body)
        model = TrafficModel(site.id, seed=7, tz=TZ, hostname="shop.example")
        first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS - 1)
        per_day = events / EVENTS_PER_SESSION / DAYS
        now_ms = time.time() * 1000
        stored = await ctx.stores.events.bulk_load(
            [event for event in batch if event.ts <= now_ms]
            for batch in model.events(first, DAYS, per_day, people=max(1000, events // 20))
        )
        # The rollups of the sealed days, as a running instance's compactor process would have built
        # them: UTC kinds, and (once a series in the site's timezone was asked) that zone's series.
        events = ctx.stores.events
        if hasattr(events, "compact_now"):
            await events.aggregate(
                EventFilter(site_id=site.id, start=0, end=int(now_ms) + 1), Grouping(kind="time", tz=TZ)
            )
            await events.compact_now()
        return {"email": email, "password": PASSWORD, "site_id": site.id, "events": stored}
    finally:
        await ctx.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(fill(Path(sys.argv[1]), int(sys.argv[2])))))
