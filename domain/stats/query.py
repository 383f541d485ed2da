"""The stats query model: parse and validate the parameters every stats endpoint shares.

- `from`, `to`: dates (`YYYY-MM-DD`, whole local days in the timezone; `to` inclusive) or ISO 8601
  timestamps (`to` exclusive; naive ones are read in the timezone). Default: the last 30 days to today.
- `tz`: an IANA timezone (default: the site's). `interval`: minute, hour, day, week or month (default:
  hour for ranges up to two days, else day).
- `filters` (repeatable, `;`-separated): `country==DE`, `page!=/pricing`, `page=~blog`, `country==DE|FR`,
  `page==/blog/*` (a path prefix), `prop:<name>==...`, `trait:<name>!=...`: see domain/stats/filters.py.
- `by` (breakdowns): one of BREAKDOWNS or `prop:<name>`; `sort`: visitors, visits, pageviews or events
  (descending); `limit`: 1..1000. `metrics` (timeseries): a comma-separated subset of METRICS.
- `with_imported`: `true` merges the site's imported Plausible history in (domain/stats/imported.py).
- `steps`, `window` (funnels): see domain/stats/funnels.py.

`StatsParams` is the one description of these parameters: requests are read into it with
`msgspec.convert` (`read_params`), and the OpenAPI document describes the stats endpoints from it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from domain.errors import Invalid
from domain.ingest.sources import UTM_FIELDS
from domain.stats import filters as filter_terms
from domain.stats.filters import FILTER_FIELDS, FILTERS_HELP, FilterTerm, parse_filters
from domain.stats.funnels import MAX_WINDOW_S
from storage.event_filter_sql import check_key_name
from storage.ports import AGGREGATE_SORTS, TIME_UNITS, EventFilter, Grouping

__all__ = [
    "FILTER_FIELDS",
    "StatsParams",
    "StatsQuery",
    "parse_filters",
    "parse_query",
    "query_of",
    "read_params",
]

DAY_MS = 86_400_000
MAX_RANGE_DAYS = 800
MAX_BUCKETS = 5000
DEFAULT_DAYS = 30
# Ranges live between 2000 and 2100: far enough for any data, and date arithmetic never overflows.
EARLIEST_MS = 946_684_800_000
LATEST_MS = 4_102_444_800_000
METRICS = ("visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration", "views_per_visit")
# Breakdowns that group by the event field of the same name.
_FIELD_BREAKDOWNS = ("source", "referrer", *UTM_FIELDS, "country", "browser", "os", "device", "hostname")
# Breakdown names and how the store groups for each (`page` counts pageviews only).
BREAKDOWNS: dict[str, Grouping] = {
    "page": Grouping(kind="field", field="path"),
    "entry_page": Grouping(kind="entry_page"),
    "exit_page": Grouping(kind="exit_page"),
    **{name: Grouping(kind="field", field=name) for name in _FIELD_BREAKDOWNS},
    "event": Grouping(kind="field", field="name"),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_PARAM_LENGTH = 2048
MAX_LIMIT = 1000
DEFAULT_WINDOW_S = 86_400
Text = Annotated[str, msgspec.Meta(max_length=MAX_PARAM_LENGTH)]


class StatsParams(msgspec.Struct, forbid_unknown_fields=True):
    """Query parameters of the stats endpoints (see each operation for which apply)."""

    from_: Text | None = msgspec.field(name="from", default=None)
    to: Text | None = None
    tz: Text | None = None
    interval: Text | None = None
    filters: Annotated[list[Text], msgspec.Meta(description=FILTERS_HELP)] = []
    by: Text | None = None
    sort: Text | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] | None = None
    metrics: Text | None = None
    steps: Text | None = None
    window: Annotated[int, msgspec.Meta(ge=1, le=MAX_WINDOW_S)] | None = None
    with_imported: Annotated[
        bool | None,
        msgspec.Meta(
            description="true merges the site's imported Plausible history into summary, day/week/month "
            "series and breakdowns (days without live events only); the answer's `imported` says what "
            "was merged."
        ),
    ] = None


# The query-string names of StatsParams' fields, and what a bad value of each should have been.
PARAM_NAMES = tuple(field.encode_name for field in msgspec.structs.fields(StatsParams))
_EXPECTED = {
    "limit": f"a whole number from 1 to {MAX_LIMIT}",
    "window": f"a number of seconds from 1 to {MAX_WINDOW_S}",
    "with_imported": "true or false",
}
_PATH = re.compile(r"at `\$\.([a-z_]+)")


def read_params(raw: Mapping[str, str | Sequence[str]]) -> StatsParams:
    """The stats parameters among `raw` (query-string values; others are ignored, empty ones are as
    if absent); raises Invalid (422) naming the bad parameter in a sentence."""
    known = {name: value for name in PARAM_NAMES if (value := raw.get(name)) not in (None, "")}
    try:
        return msgspec.convert(known, StatsParams, strict=False)
    except msgspec.ValidationError as error:
        match = _PATH.search(str(error))
        name = match.group(1) if match else "parameters"
        expected = _EXPECTED.get(name, f"at most {MAX_PARAM_LENGTH} characters")
        raise Invalid(f"The {name} parameter must be {expected}.", fields={name: expected}) from None


@dataclass(frozen=True)
class StatsQuery:
    """A validated query: [start, end) in UTC ms, the timezone, and what to compute."""

    start: int
    end: int
    tz: str
    interval: str = "day"
    by: str = ""
    filters: tuple[FilterTerm, ...] = ()
    limit: int = 10
    sort: str = "visitors"
    metrics: tuple[str, ...] = METRICS
    with_imported: bool = False

    def event_filter(self, site_id: str, *, start: int | None = None, end: int | None = None) -> EventFilter:
        """The store filter for this query's range (or another one) and filters."""
        return filter_terms.event_filter(
            site_id, self.start if start is None else start, self.end if end is None else end, self.filters
        )

    def previous(self) -> StatsQuery:
        """The same query over the period of the same length just before this one."""
        length = self.end - self.start
        return replace(self, start=self.start - length, end=self.start)

    def cache_key(self, kind: str) -> str:
        """A canonical text of everything that changes the answer (filters sorted)."""
        parts = [
            kind,
            str(self.start),
            str(self.end),
            self.tz,
            self.interval,
            self.by,
            str(self.limit),
            self.sort,
            ",".join(self.metrics),
            "imported" if self.with_imported else "",
            *sorted(term.text() for term in self.filters),
        ]
        return "\x1f".join(parts)


def zone(name: str) -> ZoneInfo:
    """The timezone, or Invalid."""
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise Invalid("unknown timezone", fields={"tz": "an IANA timezone such as Europe/Berlin"})
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown timezone", fields={"tz": "an IANA timezone such as Europe/Berlin"}) from None


def local_midnight_ms(day: dt.date, tz: ZoneInfo) -> int:
    """The UTC instant (ms) at which `day` begins in `tz`."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def _instant(value: str, field: str, tz: ZoneInfo, *, inclusive_end: bool) -> int:
    value = value.strip()
    try:
        if _DATE.match(value):
            day = dt.date.fromisoformat(value)
            if inclusive_end:
                day += dt.timedelta(days=1)
            return local_midnight_ms(day, tz)
        moment = dt.datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise Invalid(
            f"{field} is not a date or timestamp", fields={field: "YYYY-MM-DD or ISO 8601"}
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


def _default_interval(start: int, end: int) -> str:
    return "hour" if end - start <= 2 * DAY_MS else "day"


def bucket_estimate(start: int, end: int, interval: str) -> int:
    """Roughly how many buckets a timeseries would hold."""
    size = {"minute": 60_000, "hour": 3_600_000, "day": DAY_MS, "week": 7 * DAY_MS, "month": 28 * DAY_MS}
    return (end - start) // size[interval] + 1


def _breakdown(by: str) -> str:
    if by in BREAKDOWNS:
        return by
    if by.startswith("prop:"):
        try:
            check_key_name(by[5:])
        except ValueError:
            raise Invalid("bad property name", fields={"by": "prop:<name> with [A-Za-z0-9_-]"}) from None
        return by
    raise Invalid("unknown breakdown", fields={"by": f"one of {', '.join(BREAKDOWNS)} or prop:<name>"})


def breakdown_grouping(by: str) -> Grouping:
    """The store grouping for a validated breakdown name."""
    if by.startswith("prop:"):
        return Grouping(kind="prop", field=by[5:])
    return BREAKDOWNS[by]


def parse_query(
    params: Mapping[str, str],
    filters: Sequence[str] = (),
    *,
    default_tz: str = "UTC",
    now_ms: int,
    need_by: bool = False,
) -> StatsQuery:
    """A StatsQuery from query-string parameters and filters; raises Invalid (422) naming the bad field."""
    raw: dict[str, str | Sequence[str]] = {**params, "filters": list(filters)}
    return query_of(read_params(raw), default_tz=default_tz, now_ms=now_ms, need_by=need_by)


def query_of(
    params: StatsParams, *, default_tz: str = "UTC", now_ms: int, need_by: bool = False
) -> StatsQuery:
    """A StatsQuery from read parameters (ranges, names and combinations checked here); raises Invalid
    (422) naming the bad field, or BadRequest (400) for filters that cannot be read."""
    tz_name = params.tz or default_tz or "UTC"
    tz = zone(tz_name)
    today = dt.datetime.fromtimestamp(now_ms / 1000, tz=tz).date()
    end = (
        _instant(params.to, "to", tz, inclusive_end=True)
        if params.to
        else local_midnight_ms(today + dt.timedelta(days=1), tz)
    )
    if params.from_:
        start = _instant(params.from_, "from", tz, inclusive_end=False)
    else:
        last_day = dt.datetime.fromtimestamp((end - 1) / 1000, tz=tz).date()
        start = local_midnight_ms(last_day - dt.timedelta(days=DEFAULT_DAYS - 1), tz)
    if start >= end:
        raise Invalid("from must be before to", fields={"from": "before to"})
    if start < EARLIEST_MS or end > LATEST_MS:
        raise Invalid("the range is out of bounds", fields={"from": "between 2000-01-01 and 2100-01-01"})
    if end - start > MAX_RANGE_DAYS * DAY_MS:
        raise Invalid("the range is too long", fields={"to": f"at most {MAX_RANGE_DAYS} days after from"})
    interval = params.interval or _default_interval(start, end)
    if interval not in TIME_UNITS:
        raise Invalid("unknown interval", fields={"interval": f"one of {', '.join(TIME_UNITS)}"})
    if bucket_estimate(start, end, interval) > MAX_BUCKETS:
        raise Invalid("too many buckets", fields={"interval": f"at most {MAX_BUCKETS} buckets; widen it"})
    by = params.by or ""
    if by or need_by:
        by = _breakdown(by)
    sort = params.sort or "visitors"
    if sort not in AGGREGATE_SORTS:
        raise Invalid("unknown sort", fields={"sort": f"one of {', '.join(AGGREGATE_SORTS)}"})
    metrics: tuple[str, ...] = METRICS
    if params.metrics:
        metrics = tuple(dict.fromkeys(m.strip() for m in params.metrics.split(",") if m.strip()))
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or not metrics:
            raise Invalid("unknown metric", fields={"metrics": f"a subset of {', '.join(METRICS)}"})
    return StatsQuery(
        start=start,
        end=end,
        tz=tz_name,
        interval=interval,
        by=by,
        filters=parse_filters(params.filters),
        limit=10 if params.limit is None else params.limit,
        sort=sort,
        metrics=metrics,
        with_imported=bool(params.with_imported),
    )
