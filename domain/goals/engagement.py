"""Time on page and scroll depth, from `engagement` events (Eddy's tracker and Plausible's both send
them: props `engaged_ms`, the engaged time since the page's previous one, and `scroll_depth`, the deepest
scroll so far in %), through the EventStore port (`read`).

A page view's engagement is the sum of its engaged_ms and the maximum of its scroll_depth, a view being
one (visit, path) pair. Per page and overall: `time_on_page_s` is the mean engaged time of its views,
`scroll_depth` the mean of their deepest scrolls, `views` how many views sent engagement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.goals.answers import Engagement, EngagementAnswer, PageEngagement
from storage.ports import EventFilter, EventStore

ENGAGEMENT = "engagement"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _summary(views: list[tuple[float, float]]) -> dict[str, Any]:
    """The mean engaged seconds, mean deepest scroll and count of these (engaged ms, depth) views."""
    count = len(views)
    if not count:
        return {"time_on_page_s": 0.0, "scroll_depth": 0.0, "views": 0}
    return {
        "time_on_page_s": round(sum(ms for ms, _ in views) / count / 1000, 1),
        "scroll_depth": round(sum(depth for _, depth in views) / count, 1),
        "views": count,
    }


async def engagement_report(
    events: EventStore,
    site_id: str,
    start: int,
    end: int,
    *,
    tz: str,
    limit: int = 10,
    base: EventFilter | None = None,
    pages: Sequence[str] = (),
) -> EngagementAnswer:
    """Overall and per page (the `limit` pages with the most engaged views, or the `pages` asked for, as
    the dashboard asks for the rows it shows) time on page and scroll depth. `base` narrows it to a
    view's filters (a filter on an event name is left out: engagement is an event of its own)."""
    if base is None:
        flt = EventFilter(site_id=site_id, start=start, end=end, equals={"name": ENGAGEMENT})
    else:
        fields = {name: getattr(base, name) for name in base.__struct_fields__}
        flt = EventFilter(**{**fields, "equals": {**base.equals, "name": ENGAGEMENT}})
    views: dict[tuple[str, str], list[float]] = {}
    async for batch in events.read(flt):
        for event in batch:
            engaged = _number(event.props.get("engaged_ms"))
            depth = _number(event.props.get("scroll_depth"))
            view = views.setdefault((event.session_id or event.id, event.path), [0.0, 0.0])
            if engaged is not None and engaged > 0:
                view[0] += engaged
            if depth is not None:
                view[1] = max(view[1], min(100.0, depth))
    per_page: dict[str, list[tuple[float, float]]] = {}
    for (_, path), (engaged, depth) in views.items():
        per_page.setdefault(path, []).append((engaged, depth))
    if pages:
        chosen = [(path, per_page[path]) for path in dict.fromkeys(pages) if path in per_page]
    else:
        chosen = sorted(per_page.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    return EngagementAnswer(
        site_id=site_id,
        tz=tz,
        overall=Engagement(**_summary([(engaged, depth) for engaged, depth in views.values()])),
        pages=[PageEngagement(page=path, **_summary(page_views)) for path, page_views in chosen],
    )
