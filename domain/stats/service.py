"""The query service: every stats answer, computed through the EventStore port (so the embedded store and
MongoDB answer the same way), cached per site version where the answer may be reused."""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from msgspec import UNSET, UnsetType

from domain.accounts.site_docs import StoredSite
from domain.errors import NotFound, Unavailable
from domain.goals.answers import EngagementAnswer, GoalsAnswer, TitlesAnswer
from domain.goals.engagement import engagement_report
from domain.goals.report import goal_report
from domain.stats import imported as imports
from domain.stats.answers import (
    ActiveAnswer,
    BreakdownAnswer,
    FunnelAnswer,
    ImportedNote,
    JourneyAnswer,
    MetricChange,
    MinutePageviews,
    PreviousRange,
    RealtimeAnswer,
    RetentionAnswer,
    SeriesPoint,
    StatsAnswer,
    SummaryAnswer,
    SummaryMetrics,
    TimeseriesAnswer,
    TopPage,
)
from domain.stats.buckets import bucket_label, bucket_starts, metrics_of
from domain.stats.cache import StatsCache
from domain.stats.funnels import FunnelCounter, Step, funnel_steps
from domain.stats.journeys import JourneyBuilder
from domain.stats.query import DAY_MS, StatsQuery, breakdown_grouping, local_midnight_ms
from domain.stats.retention import active_series, active_table, cohort_table, weekly_cohorts
from domain.stats.titles import page_titles
from storage.errors import QueryTooSlowError, StoreUnavailableError
from storage.ports import Aggregate, EventFilter, EventStore, Grouping, PeopleCounts
from storage.records import Event

log = logging.getLogger("eddy.stats")
REALTIME_VISITORS_MS = 5 * 60_000
REALTIME_MINUTES = 30
Answer = TypeVar("Answer", bound=StatsAnswer)
# Told of every cached question: its kind, where the answer came from (cache, store, too_slow), seconds.
QuestionObserver = Callable[[str, str, float], None]


def _compared(value: float | None, previous: float | None) -> MetricChange:
    """A metric with its value over the previous period and the percent change (None when either is
    unknown or the previous one was 0)."""
    change = round((value - previous) * 100 / previous, 1) if previous and value is not None else None
    return MetricChange(value=value, previous=previous, change=change)


def _iso(ms: int, tz: str) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(tz)).isoformat(timespec="seconds")


class StatsService:
    """Summary, timeseries, breakdowns, realtime, funnels, retention, DAU/MAU and user journeys."""

    def __init__(
        self,
        events: EventStore,
        cache: StatsCache,
        clock: Callable[[], float] = time.time,
        imported: imports.ImportedHistory | None = None,
        observe: QuestionObserver | None = None,
    ) -> None:
        self._events = events
        self.cache = cache
        self._clock = clock
        self._imported = imported
        self._observe = observe

    def now_ms(self) -> int:
        """The service clock in epoch ms."""
        return int(self._clock() * 1000)

    def read_events(self, flt: EventFilter, *, batch_size: int = 1000) -> AsyncIterator[list[Event]]:
        """The matching events in ascending time order, in batches (exports)."""
        return self._events.read(flt, batch_size=batch_size)

    async def goals(
        self,
        site: StoredSite,
        start: int,
        end: int,
        *,
        tz: str,
        by: str = "",
        base: EventFilter | None = None,
    ) -> GoalsAnswer:
        """Each of the site's goals' conversions and revenue over [start, end) (see `goal_report`)."""
        return await goal_report(
            self._events, site.id, site.goals, start, end,
            tz=tz, currency=site.currency or None, by=by, base=base,
        )  # fmt: skip

    async def engagement(
        self, site_id: str, start: int, end: int, *, tz: str, limit: int = 10,
        base: EventFilter | None = None, pages: Sequence[str] = (),
    ) -> EngagementAnswer:  # fmt: skip
        """Time on page and scroll depth, overall and per page (see `engagement_report`)."""
        return await engagement_report(
            self._events, site_id, start, end, tz=tz, limit=limit, base=base, pages=pages
        )

    async def titles(self, base: EventFilter, pages: Sequence[str], *, tz: str) -> TitlesAnswer:
        """The titles of the `pages` that had a titled pageview among the events of `base`."""
        return await page_titles(self._events, base, pages, tz=tz)

    async def _cached(
        self,
        site_id: str,
        kind: str,
        query: StatsQuery,
        compute: Callable[[], Awaitable[Answer]],
        answer_type: type[Answer],
        extra: str = "",
    ) -> Answer:
        """The cached answer for this site version and query (`cached` true), or a fresh one (then
        cached). A failing cache only costs speed. The observer is told how long it took and where the
        answer came from."""
        started = time.perf_counter()
        key = None
        try:
            version = await self.cache.version(site_id)
            key = self.cache.entry_key(site_id, version, query.cache_key(kind) + "\x1f" + extra)
            hit = await self.cache.get(key, answer_type)
            if hit is not None:
                hit.cached = True
                self._observed(kind, "cache", started)
                return hit
        except Exception as error:  # noqa: BLE001 - the cache is an optimisation
            log.warning("stats cache unavailable: %s", error)
        try:
            answer = await self._guard(compute())
        except Unavailable as error:
            if error.code == "query_timeout":
                self._observed(kind, "too_slow", started)
            raise
        self._observed(kind, "store", started)
        if key is not None:
            try:
                await self.cache.put(key, answer)
            except Exception as error:  # noqa: BLE001
                log.warning("stats cache unavailable: %s", error)
        return answer

    def _observed(self, kind: str, answered: str, started: float) -> None:
        if self._observe is not None:
            self._observe(kind, answered, time.perf_counter() - started)

    @staticmethod
    async def _guard(work: Awaitable[Answer]) -> Answer:
        try:
            return await work
        except QueryTooSlowError as error:
            raise Unavailable(
                5.0,
                "This question took too long to answer. Try a shorter range or fewer filters.",
                code="query_timeout",
            ) from error
        except StoreUnavailableError as error:
            raise Unavailable(2.0, "the event store is unavailable") from error

    async def _total(self, flt: EventFilter) -> Aggregate | None:
        rows = await self._events.aggregate(flt)
        return rows[0] if rows else None

    @staticmethod
    def _frame(site_id: str, query: StatsQuery) -> dict[str, str]:
        """The fields every framed answer starts with (`Framed`): the site and the range."""
        return {
            "site_id": site_id,
            "from_": _iso(query.start, query.tz),
            "to": _iso(query.end, query.tz),
            "tz": query.tz,
        }

    async def summary(self, site_id: str, query: StatsQuery) -> SummaryAnswer:
        """Totals of the range with the previous period of the same length alongside."""

        import_id, reason = await self._import_for(site_id, query, "summary")

        async def compute() -> SummaryAnswer:
            previous = query.previous()
            now_total = await self._total(query.event_filter(site_id))
            before_total = await self._total(previous.event_filter(site_id))
            note = _not_merged(reason)
            if import_id is not None and self._imported is not None:
                found = await self._imported.days(
                    site_id, import_id, previous.start, query.end, query.tz, ("imported_visitors",)
                )
                first_now = imports.local_day(query.start, ZoneInfo(query.tz))
                current = [day for day in found.days if day >= first_now]
                earlier = [day for day in found.days if day < first_now]
                if current:
                    now_total = imports.add(now_total, found.total(current))
                if earlier:
                    before_total = imports.add(before_total, found.total(earlier))
                note = ImportedNote(included=True, days=len(current), import_id=import_id)
            now, before = metrics_of(now_total), metrics_of(before_total)
            changes = {
                name: _compared(getattr(now, name), getattr(before, name))
                for name in SummaryMetrics.__struct_fields__
            }
            return SummaryAnswer(
                **self._frame(site_id, query),
                previous=PreviousRange(from_=_iso(previous.start, query.tz), to=_iso(previous.end, query.tz)),
                results=SummaryMetrics(**changes),
                imported=note,
                cached=False,
            )

        return await self._cached(site_id, "summary", query, compute, SummaryAnswer, import_id or "")

    async def _import_for(self, site_id: str, query: StatsQuery, kind: str) -> tuple[str | None, str | None]:
        """(the import to merge into this question, why none is merged when the caller asked for one)."""
        if not query.with_imported or self._imported is None:
            return None, None
        import_id = await self._imported.import_id(site_id)
        if import_id is None:
            return None, "The site has no imported history."
        reason = imports.why_not(query, kind)
        return (None, reason) if reason else (import_id, None)

    async def timeseries(self, site_id: str, query: StatsQuery) -> TimeseriesAnswer:
        """The metrics per interval bucket in the query's timezone, empty buckets filled with zeros."""

        import_id, reason = await self._import_for(site_id, query, "timeseries")

        async def compute() -> TimeseriesAnswer:
            grouping = Grouping(kind="time", unit=query.interval, tz=query.tz)
            rows = await self._events.aggregate(query.event_filter(site_id), grouping)
            by_key: dict[Any, Aggregate] = {row.key: row for row in rows}
            starts = bucket_starts(query.start, query.end, query.interval, query.tz)
            note = _not_merged(reason)
            if import_id is not None and self._imported is not None:
                found = await self._imported.days(
                    site_id,
                    import_id,
                    query.start,
                    query.end,
                    query.tz,
                    ("imported_visitors", "imported_custom_events"),
                )
                tz = ZoneInfo(query.tz)
                for day in found.days:
                    midnight = local_midnight_ms(dt.date.fromisoformat(day), tz)
                    key = starts[max(0, bisect.bisect_right(starts, midnight) - 1)]
                    by_key[key] = imports.add(by_key.get(key), found.total([day]), key)
                note = ImportedNote(included=True, days=len(found.days), import_id=import_id)
            keys = sorted(set(starts) | set(by_key))
            results = []
            for key in keys:
                values = metrics_of(by_key.get(key))
                results.append(
                    SeriesPoint(
                        date=bucket_label(int(key), query.interval, query.tz),
                        **{name: getattr(values, name) for name in query.metrics},
                    )
                )
            return TimeseriesAnswer(
                **self._frame(site_id, query),
                interval=query.interval,
                results=results,
                imported=note,
                cached=False,
            )

        return await self._cached(site_id, "timeseries", query, compute, TimeseriesAnswer, import_id or "")

    async def breakdown(self, site_id: str, query: StatsQuery) -> BreakdownAnswer:
        """The top values of a dimension with their metrics (`page` counts pageviews only)."""

        import_id, reason = await self._import_for(site_id, query, "breakdown")

        async def compute() -> BreakdownAnswer:
            flt = query.event_filter(site_id)
            if query.by == "page":
                flt = msgspec.structs.replace(flt, equals={**flt.equals, "name": "pageview"})
            note = _not_merged(reason)
            found = None
            if import_id is not None and self._imported is not None:
                table = imports.BREAKDOWN_TABLES[query.by][0]
                tables = (table, "imported_visitors") if query.by == "event" else (table,)
                found = await self._imported.days(
                    site_id, import_id, query.start, query.end, query.tz, tables
                )
                note = ImportedNote(included=True, days=len(found.days), import_id=import_id)
            if found is None or not found.days:
                rows = await self._events.aggregate(
                    flt, breakdown_grouping(query.by), sort=query.sort, limit=query.limit
                )
            else:  # every live row, the imported ones added, then the top again
                merged = {
                    row.key: row
                    for row in await self._events.aggregate(
                        flt, breakdown_grouping(query.by), sort=query.sort, limit=0
                    )
                }
                for value, row in found.rows(query.by).items():
                    merged[value] = imports.add(merged.get(value), row, value)
                rows = sorted(merged.values(), key=lambda row: (-getattr(row, query.sort), str(row.key)))
                rows = rows[: query.limit]
            return BreakdownAnswer(
                **self._frame(site_id, query),
                by=query.by,
                sort=query.sort,
                results=[metrics_of(row) for row in rows],
                imported=note,
                cached=False,
            )

        return await self._cached(site_id, "breakdown", query, compute, BreakdownAnswer, import_id or "")

    async def realtime(self, site_id: str) -> RealtimeAnswer:
        """Visitors in the last 5 minutes, pageviews per minute over the last 30, top pages now. Never
        cached: it is the polling twin of the live socket."""
        now = self.now_ms()
        minute = now - now % 60_000
        start = minute - (REALTIME_MINUTES - 1) * 60_000
        recent = EventFilter(site_id=site_id, start=now - REALTIME_VISITORS_MS, end=now + 1)
        views = EventFilter(site_id=site_id, start=start, end=minute + 60_000, equals={"name": "pageview"})

        async def compute() -> RealtimeAnswer:
            total = await self._total(recent)
            per_minute = {
                row.key: row.pageviews
                for row in await self._events.aggregate(views, Grouping(kind="time", unit="minute", tz="UTC"))
            }
            top = await self._events.aggregate(
                EventFilter(site_id=site_id, start=recent.start, end=recent.end, equals={"name": "pageview"}),
                Grouping(kind="field", field="path"),
                sort="pageviews",
                limit=10,
            )
            return RealtimeAnswer(
                site_id=site_id,
                at=now,
                visitors=total.visitors if total else 0,
                pageviews_per_minute=[
                    MinutePageviews(
                        minute=_iso(start + i * 60_000, "UTC"),
                        pageviews=per_minute.get(start + i * 60_000, 0),
                    )
                    for i in range(REALTIME_MINUTES)
                ],
                top_pages=[
                    TopPage(page=row.key, pageviews=row.pageviews, visitors=row.visitors) for row in top
                ],
                cached=False,
            )

        return await self._guard(compute())

    async def funnel(self, site_id: str, query: StatsQuery, steps: list[Step], window_s: int) -> FunnelAnswer:
        """People per ordered step within `window_s` of step 1."""
        extra = f"{window_s}\x1f" + ",".join(step.label for step in steps)

        async def compute() -> FunnelAnswer:
            flt = query.event_filter(site_id)
            step_pairs = [(step.kind, step.value) for step in steps]
            if isinstance(self._events, PeopleCounts):  # counted in the store: only the counts travel
                at_least = await self._events.funnel_reach(flt, step_pairs, window_s * 1000)
            else:
                counter = FunnelCounter(steps, window_s)
                counter.add_marks(await self._events.step_marks(flt, step_pairs))
                at_least = counter.reach()
            return FunnelAnswer(
                **self._frame(site_id, query),
                window=window_s,
                steps=funnel_steps(steps, at_least),
                cached=False,
            )

        return await self._cached(site_id, "funnel", query, compute, FunnelAnswer, extra)

    async def retention(self, site_id: str, query: StatsQuery) -> RetentionAnswer:
        """Weekly cohorts of the range."""

        async def compute() -> RetentionAnswer:
            flt = query.event_filter(site_id)
            last_day = dt.datetime.fromtimestamp((query.end - 1) / 1000, tz=ZoneInfo(query.tz)).date()
            if isinstance(self._events, PeopleCounts):
                cohorts = cohort_table(await self._events.week_cohorts(flt, query.tz), last_day)
            else:
                cohorts = weekly_cohorts(await self._events.identity_days(flt, query.tz), last_day)
            return RetentionAnswer(**self._frame(site_id, query), cohorts=cohorts, cached=False)

        return await self._cached(site_id, "retention", query, compute, RetentionAnswer)

    async def active(self, site_id: str, query: StatsQuery) -> ActiveAnswer:
        """DAU, WAU, MAU and stickiness for each day of the range (windows reach 29 days back)."""

        async def compute() -> ActiveAnswer:
            flt = query.event_filter(site_id, start=query.start - 30 * DAY_MS)
            tz = ZoneInfo(query.tz)
            first = dt.datetime.fromtimestamp(query.start / 1000, tz=tz).date()
            last = dt.datetime.fromtimestamp((query.end - 1) / 1000, tz=tz).date()
            if isinstance(self._events, PeopleCounts):
                days = await self._events.active_people(flt, query.tz, first.isoformat(), last.isoformat())
                series = active_table(days)
            else:
                series = active_series(await self._events.identity_days(flt, query.tz), first, last)
            return ActiveAnswer(
                **self._frame(site_id, query),
                results=series,
                current=series[-1] if series else None,
                cached=False,
            )

        return await self._cached(site_id, "active", query, compute, ActiveAnswer)

    async def user(self, site_id: str, user_id: str, query: StatsQuery) -> JourneyAnswer:
        """One identified user's journey: first/last seen, totals, recent events and sessions."""

        async def compute() -> JourneyAnswer:
            flt = query.event_filter(site_id)
            flt = msgspec.structs.replace(flt, equals={**flt.equals, "user_id": user_id})
            total = await self._total(flt)
            if total is None:
                raise NotFound("no events of this user in the range")
            journey = JourneyBuilder()
            async for batch in self._events.read(flt, batch_size=2000):
                journey.add(batch)
            return JourneyAnswer(
                **self._frame(site_id, query),
                user_id=user_id,
                first_seen=total.first_ts,
                last_seen=total.last_ts,
                total_events=total.events,
                pageviews=total.pageviews,
                visits=total.visits,
                recent_events=journey.recent_events(),
                sessions=journey.recent_sessions(),
                cached=False,
            )

        return await self._guard(compute())


def _not_merged(reason: str | None) -> ImportedNote | UnsetType:
    """The answer's `imported` note before anything is merged: why nothing is (when the caller asked for
    imported data), else no note."""
    return ImportedNote(included=False, reason=reason) if reason else UNSET
