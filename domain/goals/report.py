"""Goal conversions over a time range, through the EventStore port only.

For each goal: converting visitors (distinct visitors with a matching event), conversions (matching events:
the event for an event goal, pageviews for a page goal), the conversion rate (converting visitors over all
visitors of the range, in %), and revenue summed per currency (exact decimal sums of `revenue_amount`,
as text). `revenue_total` is the sum in the site's currency; amounts in other currencies stay listed on
their own (no exchange rates: Eddy makes no network calls for them). With `by` (an event field, or
`prop:<name>`), the same per group, rates against the group's own visitors.

Counts come from `aggregate`; revenue needs the amounts, so it reads the goal's events (`read`), which
holds the goal's events of the range, batch by batch, never all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import Invalid
from domain.goals.answers import GoalRow, GoalsAnswer, GroupRow, Revenue
from domain.goals.definitions import Goal
from storage.ports import GROUP_FIELDS, EventFilter, EventStore, Grouping
from storage.records import Event

MAX_GROUPS = 100


def grouping_for(by: str) -> Grouping:
    """The store grouping of a `by` parameter (Invalid for what goals cannot be grouped by)."""
    if by.startswith("prop:") and 0 < len(by) - 5 <= 64:
        return Grouping(kind="prop", field=by[5:])
    if by in GROUP_FIELDS:
        return Grouping(kind="field", field=by)
    raise Invalid("goals cannot be grouped by that", fields={"by": "an event field or prop:<name>"})


def narrow(base: EventFilter, goal: Goal) -> EventFilter | None:
    """The events of `base` (the range and a view's filters) that count as conversions of `goal`, or
    None when the filters exclude them all (a filter on another event name, or on another page)."""
    fields = {name: getattr(base, name) for name in base.__struct_fields__}
    equals = dict(base.equals)
    wanted = goal.event if goal.event is not None else "pageview"
    if equals.get("name", wanted) != wanted:
        return None
    equals["name"] = wanted
    prefix = base.path_prefix
    if goal.page is not None:
        page = goal.page
        path = equals.get("path")
        if page.endswith("*"):
            goal_prefix = page[:-1]
            if path is not None and not path.startswith(goal_prefix):
                return None
            if not (prefix.startswith(goal_prefix) or goal_prefix.startswith(prefix)):
                return None
            prefix = max(prefix, goal_prefix, key=len)
        else:
            if path is not None and path != page:
                return None
            if not page.startswith(prefix):
                return None
            equals["path"] = page
    return EventFilter(**{**fields, "equals": equals, "path_prefix": prefix})


def _rate(converted: int, visitors: int) -> float:
    return round(100.0 * converted / visitors, 2) if visitors else 0.0


def _amount(event: Event) -> tuple[str, Decimal] | None:
    amount, currency = event.props.get("revenue_amount"), event.props.get("revenue_currency")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str) or not isinstance(currency, str):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    return (currency, value) if value.is_finite() else None


def _group_key(event: Event, grouping: Grouping | None) -> Any:
    if grouping is None:
        return None
    if grouping.kind == "prop":
        value = event.props.get(grouping.field)
        return None if value is None else str(value)
    return getattr(event, grouping.field, "")


def _revenue(sums: dict[str, list[Any]], currency: str | None) -> dict[str, Any]:
    """The `revenue` per currency and the `revenue_total` in the site's currency of a row."""
    revenue = {code: Revenue(sum=str(total), count=count) for code, (total, count) in sorted(sums.items())}
    total = sums.get(currency) if currency else None
    return {"revenue": revenue, "revenue_total": str(total[0]) if total else None}


async def goal_report(
    events: EventStore,
    site_id: str,
    goals: Sequence[Goal],
    start: int,
    end: int,
    *,
    tz: str,
    currency: str | None = None,
    by: str = "",
    base: EventFilter | None = None,
) -> GoalsAnswer:
    """Each goal's conversions (and per group with `by`) over [start, end), among the events of `base`
    when given (a view's filters: then visitors and rates are the filtered view's)."""
    grouping = grouping_for(by) if by else None
    everyone = base or EventFilter(site_id=site_id, start=start, end=end)
    totals = await events.aggregate(everyone)
    visitors = totals[0].visitors if totals else 0
    group_visitors: dict[Any, int] = {}
    if grouping is not None:
        for row in await events.aggregate(everyone, grouping, limit=0):
            group_visitors[row.key] = row.visitors
    answers = []
    for goal in goals:
        flt = narrow(everyone, goal)
        rows = await events.aggregate(flt) if flt is not None else []
        converted = rows[0].visitors if rows else 0
        conversions = (rows[0].pageviews if goal.page is not None else rows[0].events) if rows else 0
        sums: dict[Any, dict[str, list[Any]]] = {}
        if goal.event is not None and flt is not None:
            async for batch in events.read(flt):
                for event in batch:
                    found = _amount(event)
                    if found is not None:
                        per_group = sums.setdefault(_group_key(event, grouping), {})
                        entry = per_group.setdefault(found[0], [Decimal(0), 0])
                        entry[0] += found[1]
                        entry[1] += 1
        answer = GoalRow(
            goal=goal.label,
            kind="event" if goal.event is not None else "page",
            match=goal.event if goal.event is not None else goal.page or "",
            visitors=converted,
            conversions=conversions,
            conversion_rate=_rate(converted, visitors),
            **_revenue(_merge(sums.values()), currency),
        )
        if grouping is not None:
            grouped = await events.aggregate(flt, grouping, limit=MAX_GROUPS) if flt is not None else []
            answer.groups = [
                GroupRow(
                    value=row.key,
                    visitors=row.visitors,
                    conversions=row.pageviews if goal.page is not None else row.events,
                    conversion_rate=_rate(row.visitors, group_visitors.get(row.key, 0)),
                    **_revenue(sums.get(row.key, {}), currency),
                )
                for row in grouped
            ]
        answers.append(answer)
    return GoalsAnswer(
        site_id=site_id, tz=tz, visitors=visitors, currency=currency, by=by or None, goals=answers
    )


def _merge(per_group: Any) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for sums in per_group:
        for code, (total, count) in sums.items():
            entry = merged.setdefault(code, [Decimal(0), 0])
            entry[0] += total
            entry[1] += count
    return merged
