"""DAU/WAU/MAU and weekly cohorts from activity pairs equal a plain reference over random pairs."""

from __future__ import annotations

import datetime as dt
import random

import msgspec
import pytest

from domain.stats.retention import active_series, monday, weekly_cohorts


def reference_active(pairs: list[tuple[str, str]], first: dt.date, last: dt.date) -> list[dict]:
    """Each day's windows rebuilt as sets of people: obviously right, quadratic."""
    by_day: dict[dt.date, set[str]] = {}
    for person, day in pairs:
        by_day.setdefault(dt.date.fromisoformat(day), set()).add(person)
    out = []
    day = first
    while day <= last:
        window = [by_day.get(day - dt.timedelta(days=k), set()) for k in range(30)]
        dau, wau, mau = len(window[0]), len(set().union(*window[:7])), len(set().union(*window))
        out.append(
            {
                "date": day.isoformat(),
                "dau": dau,
                "wau": wau,
                "mau": mau,
                "stickiness": round(dau * 100 / mau, 2) if mau else 0.0,
            }
        )
        day += dt.timedelta(days=1)
    return out


@pytest.mark.parametrize("seed", range(60))
def test_active_series_equals_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    base = dt.date(2026, 3, 1)
    people = rng.choice([3, 40, 400])
    pairs = [
        (f"p{rng.randrange(people)}", (base + dt.timedelta(days=rng.randrange(80))).isoformat())
        for _ in range(rng.randrange(0, 600))
    ]
    first = base + dt.timedelta(days=rng.randrange(0, 50))
    last = first + dt.timedelta(days=rng.randrange(0, 40))
    assert msgspec.to_builtins(active_series(pairs, first, last)) == reference_active(pairs, first, last)


def test_weekly_cohorts_count_each_person_once_per_week() -> None:
    rng = random.Random(5)
    base = dt.date(2026, 3, 2)
    pairs = [
        (f"p{rng.randrange(50)}", (base + dt.timedelta(days=rng.randrange(35))).isoformat())
        for _ in range(800)
    ]
    last = base + dt.timedelta(days=34)
    weeks: dict[str, set[dt.date]] = {}
    for person, day in pairs:
        weeks.setdefault(person, set()).add(monday(dt.date.fromisoformat(day)))
    cohorts = {row.week: row for row in weekly_cohorts(pairs, last)}
    for first in {min(active) for active in weeks.values()}:
        members = [active for active in weeks.values() if min(active) == first]
        row = cohorts[first.isoformat()]
        assert row.size == len(members)
        for offset, count in enumerate(row.retained):
            week = first + dt.timedelta(days=7 * offset)
            assert count == sum(week in active for active in members)
