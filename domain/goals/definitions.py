"""Goal definitions, kept on the site document (`goals`, at most MAX_GOALS), and the site's currency.

A goal is `{"event": "Purchase"}` (events of that name) or `{"page": "/pricing"}` (pageviews of that path;
a trailing `*` matches every path starting with what precedes it, e.g. `/blog/*`), with an optional display
`name`. Revenue is read from the events' props `revenue_amount` (a number) and `revenue_currency` (ISO 4217):
what Plausible's `$`, Eddy's tracker `eddy(name, props, {revenue})` and collect senders put there.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from domain.errors import Invalid

MAX_GOALS = 50
GoalEvent = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="an event name")]
GoalPage = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=300,
        pattern=r"^/[^*]*\*?$",
        description="a path, or a path prefix ending in *",
    ),
]
GoalName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Currency = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="an ISO 4217 currency code, e.g. EUR")
]


class Goal(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One goal: exactly one of `event` and `page`."""

    event: GoalEvent | None = None
    page: GoalPage | None = None
    name: GoalName | None = None

    @property
    def label(self) -> str:
        """How answers name the goal."""
        return self.name or (self.event if self.event is not None else f"Visit {self.page}")


Goals = Annotated[list[Goal], msgspec.Meta(max_length=MAX_GOALS)]


def check_goals(goals: list[Goal]) -> list[dict[str, Any]]:
    """The goals as stored (Invalid when one names both or neither of event and page, or two goals share
    a label)."""
    labels: set[str] = set()
    for index, goal in enumerate(goals):
        if (goal.event is None) == (goal.page is None):
            raise Invalid(
                "a goal is either an event or a page",
                fields={f"goals[{index}]": "give exactly one of event and page"},
            )
        if goal.label in labels:
            raise Invalid("two goals have the same name", fields={f"goals[{index}]": "duplicate goal"})
        labels.add(goal.label)
    return [msgspec.to_builtins(goal) for goal in goals]
