"""Funnels: how many people went through ordered steps, each within `window` of the first.

A person is the user id when the event has one, else the visitor id. For each start (an event matching
step 1) the later steps are matched greedily in event order (earliest match first, which reaches the
furthest step for that start); a person reaches the furthest step over all their starts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import Invalid
from domain.stats.answers import FunnelStep
from storage.records import Event

MAX_STEPS = 8
MAX_WINDOW_S = 90 * 86400


@dataclass(frozen=True)
class Step:
    """`page` steps match pageviews of a path (a trailing `*` matches a prefix); `event` steps an event
    name."""

    kind: str
    value: str

    def matches(self, event: Event) -> bool:
        """Whether this event completes the step."""
        if self.kind == "event":
            return event.name == self.value
        if event.name != "pageview":
            return False
        if self.value.endswith("*"):
            return event.path.startswith(self.value[:-1])
        return event.path == self.value

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_steps(raw: str) -> list[Step]:
    """`page:/a,event:signup,...` (2 to MAX_STEPS steps); raises Invalid."""
    steps = []
    for item in raw.split(","):
        kind, sep, value = item.strip().partition(":")
        if not sep or kind not in ("page", "event") or not value or len(value) > 512:
            raise Invalid("bad funnel step", fields={"steps": "page:/path or event:name, comma-separated"})
        steps.append(Step(kind, value))
    if not 2 <= len(steps) <= MAX_STEPS:
        raise Invalid("a funnel has 2 to 8 steps", fields={"steps": f"2 to {MAX_STEPS} steps"})
    return steps


def person_of(event: Event) -> str:
    """The identity funnels, retention and DAU/MAU count."""
    return f"u:{event.user_id}" if event.user_id else f"v:{event.visitor_id}"


def furthest_step(marks: list[tuple[int, frozenset[int]]], steps: int, window_ms: int) -> int:
    """How many steps (0..steps) one person completed. `marks` are (ts, matched step indexes) in order."""
    best = 0
    for i, (t0, first) in enumerate(marks):
        if 0 not in first:
            continue
        reached = 1
        for ts, matched in marks[i + 1 :]:
            if reached == steps or ts - t0 > window_ms:
                break
            if reached in matched:
                reached += 1
        best = max(best, reached)
        if best == steps:
            break
    return best


class FunnelCounter:
    """Feed events with `add`, then read `result()`."""

    def __init__(self, steps: list[Step], window_s: int) -> None:
        self.steps = steps
        self.window_ms = window_s * 1000
        self._marks: dict[str, list[tuple[int, str, frozenset[int]]]] = defaultdict(list)

    def add_marks(self, marks: Iterable[tuple[str, int, str, int]]) -> None:
        """Keep the store's step marks: (identity, ts, id, mask of the steps the event completes)."""
        for who, ts, event_id, mask in marks:
            matched = frozenset(i for i in range(len(self.steps)) if mask >> i & 1)
            self._marks[who].append((ts, event_id, matched))

    def add(self, events: Iterable[Event]) -> None:
        """Keep the events that match any step."""
        for event in events:
            matched = frozenset(i for i, step in enumerate(self.steps) if step.matches(event))
            if matched:
                self._marks[person_of(event)].append((event.ts, event.id, matched))

    def reach(self) -> list[int]:
        """People reaching at least step 1, 2, ... (one number per step)."""
        reached = [0] * (len(self.steps) + 1)
        for marks in self._marks.values():
            # (ts, id) order: stores may return events of the same millisecond in any order.
            ordered = [(ts, matched) for ts, _, matched in sorted(marks, key=lambda m: (m[0], m[1]))]
            reached[furthest_step(ordered, len(self.steps), self.window_ms)] += 1
        return [sum(reached[k:]) for k in range(1, len(reached))]

    def result(self) -> list[FunnelStep]:
        """Per step: people reaching it, conversion from step 1 and from the previous step (%)."""
        return funnel_steps(self.steps, self.reach())


def funnel_steps(steps: list[Step], at_least: list[int]) -> list[FunnelStep]:
    """The answer's steps from the people reaching at least each step: people, conversion from step 1
    and from the previous step (%), and the drop-off from the previous step."""
    out = []
    first = at_least[0] if at_least else 0
    for index, step in enumerate(steps):
        count = at_least[index]
        previous = at_least[index - 1] if index else count
        out.append(
            FunnelStep(
                step=index + 1,
                label=step.label,
                visitors=count,
                conversion_rate=round(count * 100 / first, 2) if first else 0.0,
                step_conversion=round(count * 100 / previous, 2) if previous else 0.0,
                dropoff=(previous - count) if index else 0,
            )
        )
    return out
