"""The shapes of the stats answers: one Struct per kind (summary, timeseries, breakdown, realtime, funnel,
retention, active, user journey) and the parts they are made of.

The stats service builds these and the handler encodes them once; the stats cache keeps them encoded and
decodes a hit back into the same type; the OpenAPI document describes each endpoint's answer from them.
Field order is the order of the JSON keys. A value that may be unknown is `None` and is sent as `null`;
a key that only some answers carry defaults to `UNSET` and is left out of the JSON where it is unset.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from storage.records import PropValue

# A rate or mean; None where the store could not know it (a MongoDB breakdown read from pre-aggregates).
Rate = float | None
GroupKey = str | int | None
Cached = Annotated[bool, msgspec.Meta(description="Whether the answer was read from the stats cache.")]


class BreakdownRow(msgspec.Struct, kw_only=True):
    """One group of events: its value (the breakdown's value), counts, bounce rate (%), mean visit
    duration (s) and views per visit. Visits and the session metrics are null where the store could not
    know them. The summary and the timeseries read their metrics from one of these too."""

    value: GroupKey
    visitors: int
    visits: int | None
    pageviews: int
    events: int
    bounce_rate: Rate
    visit_duration: Rate
    views_per_visit: Rate


class ImportedNote(msgspec.Struct, kw_only=True):
    """What was merged from the site's imported history: the days and the import when `included`, or
    why nothing was (`reason`)."""

    included: bool
    days: int | UnsetType = UNSET
    import_id: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class Framed(msgspec.Struct, kw_only=True):
    """The site and the range an answer covers, in the query's timezone (ISO 8601 with offset)."""

    site_id: str
    from_: str = msgspec.field(name="from")
    to: str
    tz: str


class PreviousRange(msgspec.Struct, kw_only=True):
    """The period of the same length before the range."""

    from_: str = msgspec.field(name="from")
    to: str


class MetricChange(msgspec.Struct, kw_only=True):
    """One metric over the range, over the previous period, and the change between them (%, null when
    the previous value was 0 or unknown)."""

    value: int | float | None
    previous: int | float | None
    change: float | None


class SummaryMetrics(msgspec.Struct, kw_only=True):
    """Each metric of the summary with its previous value and change."""

    visitors: MetricChange
    visits: MetricChange
    pageviews: MetricChange
    events: MetricChange
    bounce_rate: MetricChange
    visit_duration: MetricChange
    views_per_visit: MetricChange


class SummaryAnswer(Framed, kw_only=True):
    """Totals of the range with the previous period of the same length alongside."""

    previous: PreviousRange
    results: SummaryMetrics
    imported: ImportedNote | UnsetType = UNSET
    cached: Cached


class SeriesPoint(msgspec.Struct, kw_only=True):
    """One bucket of a timeseries: its local start, and the metrics the query asked for (`metrics`)."""

    date: str
    visitors: int | UnsetType = UNSET
    visits: int | UnsetType | None = UNSET
    pageviews: int | UnsetType = UNSET
    events: int | UnsetType = UNSET
    bounce_rate: Rate | UnsetType = UNSET
    visit_duration: Rate | UnsetType = UNSET
    views_per_visit: Rate | UnsetType = UNSET


class TimeseriesAnswer(Framed, kw_only=True):
    """The metrics per interval bucket, empty buckets filled with zeros."""

    interval: str
    results: list[SeriesPoint]
    imported: ImportedNote | UnsetType = UNSET
    cached: Cached


class BreakdownAnswer(Framed, kw_only=True):
    """The top values of a dimension (`by`), sorted by `sort`, most first."""

    by: str
    sort: str
    results: list[BreakdownRow]
    imported: ImportedNote | UnsetType = UNSET
    cached: Cached


class MinutePageviews(msgspec.Struct, kw_only=True):
    """Pageviews in one minute (UTC)."""

    minute: str
    pageviews: int


class TopPage(msgspec.Struct, kw_only=True):
    """A page seen in the last 5 minutes."""

    page: GroupKey
    pageviews: int
    visitors: int


class RealtimeAnswer(msgspec.Struct, kw_only=True):
    """Visitors in the last 5 minutes, pageviews per minute over the last 30, top pages now (`at`: the
    server time, epoch ms). Never cached."""

    site_id: str
    at: int
    visitors: int
    pageviews_per_minute: list[MinutePageviews]
    top_pages: list[TopPage]
    cached: Cached


class FunnelStep(msgspec.Struct, kw_only=True):
    """People reaching one step, conversion from step 1 and from the previous step (%), and how many
    dropped off since the previous step."""

    step: int
    label: str
    visitors: int
    conversion_rate: float
    step_conversion: float
    dropoff: int


class FunnelAnswer(Framed, kw_only=True):
    """People through ordered steps, each within `window` seconds of step 1."""

    window: int
    steps: list[FunnelStep]
    cached: Cached


class Cohort(msgspec.Struct, kw_only=True):
    """People whose first week (Monday) is `week`, and how many of them came back each week after
    (`retained[k]` in week k, `rates[k]` as % of `size`)."""

    week: str
    size: int
    retained: list[int]
    rates: list[float]


class RetentionAnswer(Framed, kw_only=True):
    """Weekly cohorts of the range, in week order."""

    cohorts: list[Cohort]
    cached: Cached


class ActiveDay(msgspec.Struct, kw_only=True):
    """People active that day (dau), in the 7 (wau) and 30 days (mau) ending that day, and stickiness =
    dau / mau (%)."""

    date: str
    dau: int
    wau: int
    mau: int
    stickiness: float


class ActiveAnswer(Framed, kw_only=True):
    """DAU, WAU, MAU and stickiness for each day of the range; `current` is the last day."""

    results: list[ActiveDay]
    current: ActiveDay | None
    cached: Cached


class JourneyEvent(msgspec.Struct, kw_only=True):
    """The public fields of one event in a journey."""

    id: str
    ts: int
    name: str
    path: str
    title: str
    source: str
    session_id: str
    props: dict[str, PropValue]


class JourneySession(msgspec.Struct, kw_only=True):
    """One session of a journey: first and last event time (epoch ms), its events and the paths of its
    pageviews (the first 50)."""

    session_id: str
    start: int
    end: int
    events: int
    pages: list[str]


class JourneyAnswer(Framed, kw_only=True):
    """One identified user's journey: first and last seen (epoch ms), totals, recent events and
    sessions, newest first."""

    user_id: str
    first_seen: int
    last_seen: int
    total_events: int
    pageviews: int
    visits: int
    recent_events: list[JourneyEvent]
    sessions: list[JourneySession]
    cached: Cached


StatsAnswer = (
    SummaryAnswer
    | TimeseriesAnswer
    | BreakdownAnswer
    | RealtimeAnswer
    | FunnelAnswer
    | RetentionAnswer
    | ActiveAnswer
    | JourneyAnswer
)
