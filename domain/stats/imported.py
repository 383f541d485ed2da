"""Imported Plausible history merged into the stats answers (`with_imported=true`), as Plausible shows it.

Plausible's export keeps daily aggregates, not events, so only what those hold can be merged:
- A day of the range counts imported numbers only when the site has no live event that day (in the
  query's timezone): a day is never counted twice, live data wins.
- Summary, day/week/month time series and the breakdowns a table answers (pages, entry and exit pages,
  sources, referrers, UTM tags, countries, devices, browsers, operating systems, events). Visitors over
  several imported days are the sum of the days' visitors, as Plausible adds them.
- Not merged (each answer says why in `imported.reason`): a query with filters (the daily tables cannot
  be cut by another dimension), hour and minute series (the tables are daily), property breakdowns and
  hostnames (not exported per day).

Values are spelled as Eddy spells them (Plausible's `Desktop` is `desktop`, `Mac` is `Mac OS X`), so an
imported row and a live row of the same value add up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from domain.stats.query import StatsQuery
from storage.ports import Aggregate, DocumentStore, EventFilter, EventStore, Grouping

# Breakdown → (table, index of the value in the row's key, how an imported row counts visits)
BREAKDOWN_TABLES: dict[str, tuple[str, int, str]] = {
    "page": ("imported_pages", -1, "visits"),
    "entry_page": ("imported_entry_pages", 0, "entrances"),
    "exit_page": ("imported_exit_pages", 0, "exits"),
    "source": ("imported_sources", 0, "visits"),
    "referrer": ("imported_sources", 1, "visits"),
    "utm_source": ("imported_sources", 2, "visits"),
    "utm_medium": ("imported_sources", 3, "visits"),
    "utm_campaign": ("imported_sources", 4, "visits"),
    "utm_content": ("imported_sources", 5, "visits"),
    "utm_term": ("imported_sources", 6, "visits"),
    "country": ("imported_locations", 0, "visits"),
    "device": ("imported_devices", 0, "visits"),
    "browser": ("imported_browsers", 0, "visits"),
    "os": ("imported_operating_systems", 0, "visits"),
    "event": ("imported_custom_events", 0, "visits"),
}
SPELLING: dict[str, dict[str, str]] = {
    "device": {"Desktop": "desktop", "Mobile": "mobile", "Tablet": "tablet"},
    "os": {"Mac": "Mac OS X", "GNU/Linux": "Linux"},
    "browser": {"Microsoft Edge": "Edge", "Samsung Browser": "Samsung Internet"},
}
NOT_WITH_FILTERS = "Imported data is left out: it holds daily totals that cannot be filtered."
NOT_HOURLY = "Imported data is left out of hourly and per-minute series: it holds daily totals."
NOT_THIS_BREAKDOWN = "Imported data holds no daily breakdown by this dimension."

Tables = dict[str, list[Any]]  # table → that day's [key, metrics] rows


@dataclass
class ImportedDays:
    """The imported days of one range that have no live event, each with its tables."""

    import_id: str
    days: dict[str, Tables] = field(default_factory=dict)

    def total(self, days: Iterable[str] | None = None) -> Aggregate:
        """The imported_visitors totals of `days` (all of them when None) as an Aggregate."""
        totals = dict.fromkeys(("visitors", "visits", "pageviews", "bounces", "visit_duration", "events"), 0)
        for day in self.days if days is None else days:
            for _, metrics in self.days.get(day, {}).get("imported_visitors", []):
                for name in ("visitors", "visits", "pageviews", "bounces", "visit_duration"):
                    totals[name] += int(metrics.get(name, 0))
            for _, metrics in self.days.get(day, {}).get("imported_custom_events", []):
                totals["events"] += int(metrics.get("events", 0))
        return _aggregate(None, totals, totals["pageviews"] + totals["events"])

    def rows(self, by: str) -> dict[str, Aggregate]:
        """The imported rows of the breakdown `by`, summed over the days, per value as Eddy spells it."""
        table, position, visits_from = BREAKDOWN_TABLES[by]
        spelling = SPELLING.get(by, {})
        sums: dict[str, dict[str, int]] = {}
        for tables in self.days.values():
            rows = tables.get(table, [])
            if by == "event":  # pageviews are the "pageview" event, as in Eddy's own events
                rows = [(["pageview"], metrics) for _, metrics in tables.get("imported_visitors", [])] + rows
            for key, metrics in rows:
                value = key[position] if -len(key) <= position < len(key) else ""
                value = spelling.get(value, value)  # "" (direct, unknown) stays a value, as it is live
                into = sums.setdefault(value, {})
                for name, count in metrics.items():
                    into[name] = into.get(name, 0) + int(count)
                into["_visits"] = into.get("_visits", 0) + int(metrics.get(visits_from, 0))
        answer = {}
        for value, metrics in sums.items():
            # A page view is one event; a custom event row counts its own events.
            custom = by == "event" and value != "pageview"
            events = metrics.get("events", 0) if custom else metrics.get("pageviews", 0)
            answer[value] = _aggregate(value, {**metrics, "visits": metrics["_visits"]}, events)
        return answer


def _aggregate(key: str | int | None, metrics: dict[str, int], events: int) -> Aggregate:
    return Aggregate(
        key=key,
        visitors=metrics.get("visitors", 0),
        visits=metrics.get("visits", 0),
        pageviews=metrics.get("pageviews", 0),
        events=events,
        bounces=metrics.get("bounces", 0),
        duration_ms=metrics.get("visit_duration", 0) * 1000,
        first_ts=0,
        last_ts=0,
    )


def add(live: Aggregate | None, imported: Aggregate, key: str | int | None = None) -> Aggregate:
    """Live and imported metrics of one group added up (session metrics stay unknown, -1, when the live
    side does not know them)."""
    if live is None:
        return msgspec.structs.replace(imported, key=key if key is not None else imported.key)
    unknown = live.visits < 0
    return Aggregate(
        key=live.key,
        visitors=live.visitors + imported.visitors,
        visits=-1 if unknown else live.visits + imported.visits,
        pageviews=live.pageviews + imported.pageviews,
        events=live.events + imported.events,
        bounces=-1 if unknown else live.bounces + imported.bounces,
        duration_ms=-1 if unknown else live.duration_ms + imported.duration_ms,
        first_ts=live.first_ts,
        last_ts=live.last_ts,
    )


def local_day(ms: int, tz: ZoneInfo) -> str:
    """The ISO date of an instant in `tz`."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=tz).date().isoformat()


async def latest_import(docs: DocumentStore, site_id: str) -> str | None:
    """The id of the site's latest finished Plausible import: the one that answers its history."""
    done = await docs.find(
        "imports",
        {"site_id": site_id, "kind": "plausible", "status": "done"},
        sort="finished_at",
        descending=True,
        limit=1,
    )
    return done[0]["id"] if done else None


class ImportedHistory:
    """Finds a site's imported days for a range (through the document and event store ports)."""

    def __init__(self, docs: DocumentStore, events: EventStore) -> None:
        self._docs = docs
        self._events = events

    async def import_id(self, site_id: str) -> str | None:
        """The import that answers the site's history, if any."""
        return await latest_import(self._docs, site_id)

    async def days(
        self, site_id: str, import_id: str, start: int, end: int, tz_name: str, tables: tuple[str, ...]
    ) -> ImportedDays:
        """The imported days of [start, end) in `tz_name` without a live event, with `tables`."""
        tz = ZoneInfo(tz_name)
        first, last = local_day(start, tz), local_day(end - 1, tz)
        found = ImportedDays(import_id)
        for table in tables:
            where = {"site_id": site_id, "import_id": import_id, "table": table}
            for doc in await self._docs.find("imported_stats", where):
                if first <= doc["date"] <= last:
                    found.days.setdefault(doc["date"], {})[table] = doc["rows"]
        if found.days:
            everyone = EventFilter(site_id=site_id, start=start, end=end)
            by_day = Grouping(kind="time", unit="day", tz=tz_name)
            for row in await self._events.aggregate(everyone, by_day):
                if row.events:
                    found.days.pop(local_day(int(row.key), tz), None)  # type: ignore[arg-type]
        return found


def why_not(query: StatsQuery, kind: str) -> str | None:
    """Why imported data cannot be merged into this question (None: it can)."""
    if query.filters:
        return NOT_WITH_FILTERS
    if kind == "timeseries" and query.interval in ("minute", "hour"):
        return NOT_HOURLY
    if kind == "breakdown" and query.by not in BREAKDOWN_TABLES:
        return NOT_THIS_BREAKDOWN
    return None
