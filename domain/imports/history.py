"""History with imported Plausible aggregates merged in, as Plausible shows imported data: per day the
live events' numbers, or, for a day without any live event, the imported ones (flagged `imported`), so a
day is never counted twice; totals, top pages and top sources add both the same way.

Live numbers come from the EventStore port (`aggregate`); imported ones from the `imported_stats`
documents of the site's latest finished Plausible import. Visitors over several imported days are the
sum of the days' visitors (the export keeps no visitor ids), as Plausible itself adds them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from storage.ports import DocumentStore, EventFilter, EventStore, Grouping

TOP = 10


def _local_day(ms: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=tz).date().isoformat()


def without_imports(start: int, end: int, tz_name: str) -> dict[str, Any]:
    """The answer's shape with no days, for a caller that only wants imported history when the site has
    none (nothing scanned)."""
    tz = ZoneInfo(tz_name)
    return {
        "from": _local_day(start, tz),
        "to": _local_day(end - 1, tz),
        "tz": tz_name,
        "import_id": None,
        "imported_days": 0,
        "totals": {"visitors": 0, "pageviews": 0, "visits": 0, "bounces": 0},
        "days": [],
        "top_pages": [],
        "top_sources": [],
    }


async def merged_history(
    events: EventStore,
    docs: DocumentStore,
    site_id: str,
    import_id: str | None,
    start: int,
    end: int,
    tz_name: str,
) -> dict[str, Any]:
    """Days, totals, top pages and top sources of [start, end) in `tz_name`."""
    tz = ZoneInfo(tz_name)
    everyone = EventFilter(site_id=site_id, start=start, end=end)
    live_days = {
        _local_day(int(row.key), tz): row
        for row in await events.aggregate(everyone, Grouping(kind="time", unit="day", tz=tz_name))
        if row.events
    }
    first, last = _local_day(start, tz), _local_day(end - 1, tz)
    imported: dict[str, dict[str, list[Any]]] = {}
    if import_id is not None:
        for doc in await docs.find("imported_stats", {"site_id": site_id, "import_id": import_id}):
            day = doc["date"]
            if first <= day <= last and day not in live_days:
                imported.setdefault(day, {})[doc["table"]] = doc["rows"]
    days = []
    day = dt.date.fromisoformat(first)
    while day.isoformat() <= last:
        key = day.isoformat()
        if key in live_days:
            row = live_days[key]
            days.append(
                {
                    "date": key,
                    "visitors": row.visitors,
                    "pageviews": row.pageviews,
                    "visits": row.visits,
                    "bounces": row.bounces,
                    "imported": False,
                }
            )
        else:
            counts = Counter[str]()
            for _, metrics in imported.get(key, {}).get("imported_visitors", []):
                counts.update(metrics)
            days.append(
                {
                    "date": key,
                    "visitors": counts["visitors"],
                    "pageviews": counts["pageviews"],
                    "visits": counts["visits"],
                    "bounces": counts["bounces"],
                    "imported": key in imported,
                }
            )
        day += dt.timedelta(days=1)
    live_total = await events.aggregate(everyone)
    imported_days = [d for d in days if d["imported"]]
    totals = {
        name: (getattr(live_total[0], name) if live_total else 0) + sum(d[name] for d in imported_days)
        for name in ("visitors", "pageviews", "visits", "bounces")
    }
    pages = await _top(events, everyone, "path", imported, "imported_pages", ("page",), "pageviews")
    sources = await _top(events, everyone, "source", imported, "imported_sources", ("source",), "visitors")
    return {
        "from": first,
        "to": last,
        "tz": tz_name,
        "import_id": import_id,
        "imported_days": len(imported_days),
        "totals": totals,
        "days": days,
        "top_pages": pages,
        "top_sources": sources,
    }


async def _top(
    events: EventStore,
    everyone: EventFilter,
    field: str,
    imported: dict[str, dict[str, list[Any]]],
    table: str,
    dimension: tuple[str, ...],
    metric: str,
) -> list[dict[str, Any]]:
    flt = everyone
    if field == "path":
        flt = EventFilter(
            site_id=everyone.site_id, start=everyone.start, end=everyone.end, equals={"name": "pageview"}
        )
    totals: Counter[str] = Counter()
    for row in await events.aggregate(flt, Grouping(kind="field", field=field), sort=metric, limit=0):
        if row.key:
            totals[str(row.key)] += getattr(row, metric)
    for tables in imported.values():
        for key, metrics in tables.get(table, []):
            # Pages are keyed (hostname, page) or (page); sources (source, ...): the last named wins.
            value = key[-1] if dimension == ("page",) else (key[0] if key else "")
            if value:
                totals[value] += int(metrics.get(metric, 0))
    return [{"value": value, metric: count} for value, count in totals.most_common(TOP)]
