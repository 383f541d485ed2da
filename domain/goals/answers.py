"""The shapes of the goals, engagement and titles answers: the reports build these and the handler
encodes them once; the OpenAPI document describes the endpoints from them. Field order is the order of
the JSON keys; a key only some answers carry defaults to `UNSET` and is left out where it is unset.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class SiteInZone(msgspec.Struct, kw_only=True):
    """The site an answer is about and the timezone its range was read in."""

    site_id: str
    tz: str


class Revenue(msgspec.Struct):
    """Revenue in one currency: the exact decimal sum (as text) and how many events carried it."""

    sum: str
    count: int


class GroupRow(msgspec.Struct, kw_only=True):
    """One group's conversions (`by`)."""

    value: str | None
    visitors: int
    conversions: int
    conversion_rate: float
    revenue: dict[str, Revenue]
    revenue_total: str | None


class GoalRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One goal's conversions; `groups` with `by`."""

    goal: str
    kind: str
    match: str
    visitors: int
    conversions: int
    conversion_rate: float
    revenue: dict[str, Revenue]
    revenue_total: str | None
    groups: list[GroupRow] | UnsetType = UNSET


class GoalsAnswer(SiteInZone, kw_only=True):
    """Every goal of the site over the range."""

    visitors: int
    currency: str | None
    by: str | None
    goals: list[GoalRow]


class Engagement(msgspec.Struct, kw_only=True):
    """Mean engaged seconds and deepest scroll (%) of the views that sent engagement."""

    time_on_page_s: float
    scroll_depth: float
    views: int


class PageEngagement(msgspec.Struct, kw_only=True):
    """One page's engagement."""

    page: str
    time_on_page_s: float
    scroll_depth: float
    views: int


class EngagementAnswer(SiteInZone, kw_only=True):
    """Engagement overall and per page."""

    overall: Engagement
    pages: list[PageEngagement]


class TitlesAnswer(SiteInZone, kw_only=True):
    """Each asked page's title (pages without a titled pageview in the range are left out)."""

    titles: dict[str, str]
